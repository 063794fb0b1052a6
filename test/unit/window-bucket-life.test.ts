import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BucketLife, marksOf } from '../../src/store/windows/bucket-life.js'
import { bucketAt, LEVELS } from '../../src/store/windows/levels.js'
import { windowPlan } from '../../src/store/windows/read-plan.js'
import { TrackedRooms } from '../../src/store/windows/tracked-rooms.js'
import { trimCounts } from '../../src/store/windows/trimmed-list.js'
import { slice } from '../helpers/batches.js'

/** A day start (every bucket size divides 86400), in epoch seconds. */
const DAY = Date.UTC(2025, 0, 15) / 1000
const ms = (second: number): number => second * 1000

describe('BucketLife', () => {
  it('rewrites an open second from its exact counts each flush: one trim, never compounding', () => {
    const life = new BucketLife({ windowTop: 1, roomWindowTop: 1 })
    const now = DAY + 100
    const first = life.plan([slice(now, { words: { a: 2, b: 1 } })], ms(now))
    assert.deepEqual(first.seconds.map((s) => [s.second, s.lists.words]), [[now, { entries: [{ value: 'a', count: 2 }], err: 1 }]])
    assert.equal(first.seconds[0]?.lists.nicks, undefined, 'an unchanged category is not rewritten')
    life.commit(first)
    const second = life.plan([slice(now, { words: { b: 2 } })], ms(now))
    assert.deepEqual(second.seconds[0]?.lists.words, { entries: [{ value: 'b', count: 3 }], err: 2 })
    assert.deepEqual(second.late, [])
  })

  it('changes nothing until commit, and refuses a stale plan', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10 })
    const now = DAY + 100
    life.plan([slice(now, { words: { a: 5 } })], ms(now))
    const plan = life.plan([slice(now, { words: { a: 1 } })], ms(now))
    assert.deepEqual(plan.seconds[0]?.lists.words?.entries, [{ value: 'a', count: 1 }])
    // One plan at a time: a new plan drops the uncommitted one, which can no longer be committed.
    const other = life.plan([], ms(now))
    assert.throws(() => life.commit(plan), /stale/)
    life.commit(other)
    assert.deepEqual(life.plan([slice(now, { words: { b: 1 } })], ms(now)).seconds[0]?.lists.words?.entries, [{ value: 'b', count: 1 }])
    assert.equal(life.openEntries(), 0, 'the dropped plans left nothing behind')
  })

  it('takes back a dropped plan down to the committed counts, keys and rooms it created removed', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10 })
    const now = DAY + 100
    life.commit(life.plan([slice(now, { words: { a: 2 } })], ms(now)))
    const entries = life.openEntries()
    // Dropped: the same second twice in one plan, an existing key, new keys and a new room.
    life.plan([slice(now, { words: { a: 3, b: 1 } }), slice(now, { words: { a: 1 }, rooms: { '#r': 1 }, roomDetail: { '#r': { messages: 1, words: { a: 1 } } } })], ms(now))
    assert.equal(life.openEntries(), entries, 'the open buckets are as the last commit left them')
    const next = life.plan([slice(now, { words: { a: 1, b: 1 } })], ms(now))
    assert.deepEqual(next.seconds[0]?.lists.words?.entries, [{ value: 'a', count: 3 }, { value: 'b', count: 1 }])
    assert.deepEqual([...next.seconds[0]!.rooms.keys()], [])
    life.commit(next)
    assert.equal(life.openEntries(), entries + 1, 'b is a new member again')
  })

  it('trims an open second exactly from the last selection and the changed members, flush after flush, dropped plans included', () => {
    // A small seeded generator: the same run every time.
    let seed = 7
    const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    // 12 words: a second's whole list is often no larger than its head and the changed members, and is
    // trimmed whole; 60: the trim works from the head and the changed members alone.
    for (const [undo, vocabulary] of [[true, 12], [false, 12], [true, 60], [false, 60]] as const) {
      const top = 3
      const life = new BucketLife({ windowTop: top, roomWindowTop: 2, undo })
      const now = DAY + 500
      const exact = new Map<number, Map<string, number>>()
      for (let flush = 0; flush < 300; flush++) {
        const second = now + random(3)
        const words: Record<string, number> = {}
        for (let i = random(6); i > 0; i--) {
          const word = `w${random(vocabulary)}`
          words[word] = (words[word] ?? 0) + 1 + random(4)
        }
        const plan = life.plan([slice(second, { words })], ms(now + 2))
        const drop = undo && random(4) === 0
        const expected = new Map(exact.get(second) ?? [])
        for (const [word, n] of Object.entries(words)) expected.set(word, (expected.get(word) ?? 0) + n)
        const written = plan.seconds.find((s) => s.second === second)?.lists.words
        if (Object.keys(words).length > 0) assert.deepEqual(written, trimCounts(expected, top), `${vocabulary} words, undo ${String(undo)}, flush ${flush}`)
        if (drop) continue
        life.commit(plan)
        exact.set(second, expected)
      }
    }
  })

  it('trims each open room list exactly from its last selection and the changed members, rooms dropped and plans dropped included', () => {
    // A small seeded generator (its high bits: the low bits of this one repeat quickly): the same run every time.
    let seed = 11
    const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return Math.floor(seed / 65536) % n }
    const rooms = ['#a', '#b', '#c']
    for (const undo of [true, false]) {
      const top = 2
      const life = new BucketLife({ windowTop: 5, roomWindowTop: top, undo })
      const now = DAY + 500
      // Exact counts per `${second} ${room}` and list, as committed.
      const exact = new Map<string, Record<'words' | 'nicks' | 'emotes', Map<string, number>>>()
      const empty = (): Record<'words' | 'nicks' | 'emotes', Map<string, number>> => ({ words: new Map(), nicks: new Map(), emotes: new Map() })
      for (let flush = 0; flush < 400; flush++) {
        // Sometimes a room leaves the tracked set: its open detail is forgotten, and it starts clean when it comes back.
        const dropRoom = random(15) === 0 ? rooms[random(rooms.length)]! : null
        const slices = []
        const expected = new Map([...exact].map(([key, lists]) => [key, { words: new Map(lists.words), nicks: new Map(lists.nicks), emotes: new Map(lists.emotes) }]))
        // One or two slices, the same second possibly twice in one plan.
        for (let s = 1 + random(2); s > 0; s--) {
          const second = now + random(2)
          const detail: Record<string, { messages: number, words: Record<string, number>, nicks: Record<string, number>, emotes: Record<string, number> }> = {}
          for (const room of rooms) {
            if (room === dropRoom || random(2) === 0) continue
            const d = { messages: 1, words: {} as Record<string, number>, nicks: {} as Record<string, number>, emotes: {} as Record<string, number> }
            for (const list of ['words', 'nicks', 'emotes'] as const) {
              for (let i = random(4); i > 0; i--) {
                const member = `${list[0]!}${random(30)}`
                d[list][member] = (d[list][member] ?? 0) + 1 + random(3)
              }
            }
            detail[room] = d
            let lists = expected.get(`${second} ${room}`)
            if (lists === undefined) expected.set(`${second} ${room}`, lists = empty())
            for (const list of ['words', 'nicks', 'emotes'] as const) for (const [member, n] of Object.entries(d[list])) lists[list].set(member, (lists[list].get(member) ?? 0) + n)
          }
          slices.push(slice(second, { roomDetail: detail }))
        }
        const plan = life.plan(slices, ms(now + 1), () => true, dropRoom === null ? [] : [dropRoom])
        for (const written of plan.seconds) {
          for (const [room, value] of written.rooms) {
            const lists = expected.get(`${written.second} ${room}`)!
            for (const list of ['words', 'nicks', 'emotes'] as const) assert.deepEqual(value[list], trimCounts(lists[list], top), `flush ${flush}, ${written.second} ${room} ${list}`)
          }
        }
        if (undo && random(4) === 0) continue
        life.commit(plan)
        exact.clear()
        for (const [key, lists] of expected) if (dropRoom === null || !key.endsWith(` ${dropRoom}`)) exact.set(key, lists)
      }
    }
  })

  it('without undo, counts in place and insists on each plan being committed', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10, undo: false })
    const now = DAY + 100
    const plan = life.plan([slice(now, { words: { a: 2 } })], ms(now))
    assert.throws(() => life.plan([], ms(now)), /must be committed/)
    life.commit(plan)
    assert.deepEqual(life.plan([slice(now, { words: { a: 1 } })], ms(now)).seconds[0]?.lists.words?.entries, [{ value: 'a', count: 3 }])
  })

  it('builds a coarser bucket once its last second is final, children listed, finest level first', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10, lateSeconds: 10 })
    const start = DAY + 1000 // a multiple of 5 and of 15... 1000 s = 16 min 40 s
    life.commit(life.plan([slice(start, { words: { a: 1 } })], ms(start)))
    // The 5 s bucket of `start` ends at start+4: final once the floor passes it (newest - 10 + 1 > start + 4).
    const early = life.plan([slice(start + 13, { words: { b: 1 } })], ms(start + 13))
    assert.ok(early.builds.every((b) => b.level !== 1 || b.bucket < start / 5), 'not before its last second is final')
    const due = life.plan([slice(start + 14, { words: { b: 1 } })], ms(start + 14))
    assert.deepEqual(due.builds.filter((b) => b.bucket === start / 5), [{ level: 1, bucket: start / 5, children: [start, start + 1, start + 2, start + 3, start + 4] }])
    assert.equal(due.state.floor, start + 5)
    assert.deepEqual(due.marks, marksOf(start + 5))
    life.commit(due)
    // A jump of an hour builds every unexpired bucket in between, at every level.
    const later = life.plan([], ms(start + 3600))
    const levels = new Set(later.builds.map((b) => b.level))
    assert.deepEqual([...levels], [1, 2, 3, 4])
    for (let i = 1; i < later.builds.length; i++) {
      const [a, b] = [later.builds[i - 1], later.builds[i]]
      assert.ok(a !== undefined && b !== undefined && (a.level < b.level || (a.level === b.level && a.bucket < b.bucket)))
    }
  })

  it('sends counts for a final second to level 0 and its built ancestors only', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10, lateSeconds: 10 })
    const now = DAY + 3000
    life.commit(life.plan([slice(now, { words: { a: 1 } })], ms(now)))
    const lateSecond = now - 100
    const plan = life.plan([slice(lateSecond, { words: { x: 2 }, roomDetail: { '#r': { messages: 1, words: { x: 2 } } } })], ms(now))
    assert.deepEqual(plan.seconds, [])
    const [late] = plan.late
    assert.equal(late?.second, lateSecond)
    // Level 0 of 100 s ago has expired (62 s); the 1440 s bucket is not built yet (built later from its children).
    assert.deepEqual(late?.targets, LEVELS.filter((l) => l.index >= 1 && l.index <= 3).map((l) => ({ level: l.index, bucket: bucketAt(l.index, lateSecond) })))
    assert.deepEqual(Object.fromEntries(late?.lists.words ?? []), { x: 2 })
    assert.equal(late?.rooms.get('#r')?.messages, 1)
  })

  it('writes a replay older than every window nowhere (it still counts all-time in the store)', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10 })
    const now = DAY + 3 * 86400
    const plan = life.plan([slice(DAY, { words: { old: 1 } })], ms(now))
    assert.deepEqual(plan.seconds, [])
    assert.deepEqual(plan.late.map((l) => l.targets), [[]])
  })

  it('takes the late path for seconds the previous writer wrote (after restore)', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10 })
    const now = DAY + 500
    life.restore({ floor: now - 9, newestWritten: now - 1 })
    const plan = life.plan([slice(now - 1, { words: { a: 1 } }), slice(now, { words: { b: 1 } })], ms(now))
    assert.deepEqual(plan.seconds.map((s) => s.second), [now])
    assert.deepEqual(plan.late.map((l) => [l.second, l.targets]), [[now - 1, [{ level: 0, bucket: now - 1 }]]])
    assert.deepEqual(plan.state, { floor: now - 9, newestWritten: now })
  })

  it('keeps detail only for tracked rooms and forgets dropped rooms at commit', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10 })
    const now = DAY + 500
    const input = slice(now, { roomDetail: { '#a': { messages: 1 }, '#b': { messages: 2 } } })
    const plan = life.plan([input], ms(now), (room) => room === '#a')
    assert.deepEqual([...plan.seconds[0]?.rooms.keys() ?? []], ['#a'])
    life.commit(plan)
    const drop = life.plan([], ms(now), () => true, ['#a'])
    life.commit(drop)
    const back = life.plan([slice(now, { roomDetail: { '#a': { messages: 5 } } })], ms(now))
    assert.equal(back.seconds[0]?.rooms.get('#a')?.messages, 5, 'a room that comes back starts clean')
  })

  it('closes the oldest open seconds early past maxOpenEntries', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 10, maxOpenEntries: 3 })
    const now = DAY + 500
    const plan = life.plan([slice(now - 2, { words: { a: 1, b: 1 } }), slice(now - 1, { words: { c: 1, d: 1 } }), slice(now, { words: { e: 1 } })], ms(now))
    assert.equal(plan.seconds.length, 3, 'all are written first')
    // 5 members held, at most 3: the oldest second closes, leaving 3.
    assert.equal(plan.state.floor, now - 1)
    life.commit(plan)
    assert.equal(life.openEntries(), 3)
  })
})

describe('windowPlan', () => {
  it('reads built buckets as themselves and unbuilt ones as their children', () => {
    const now = DAY + 7200 + 37 // 02:00:37
    const floor = now - 9
    const plan = windowPlan('24h', ms(now), marksOf(floor))
    assert.ok(plan.length <= 100, `${plan.length} values`)
    // 59 built 1440 s buckets (minus the expired none), then the current one decomposed.
    assert.equal(plan.filter((b) => b.level === 4).length, 59)
    const seconds = plan.filter((b) => b.level === 0).map((b) => b.bucket)
    // Seconds from the start of the first unbuilt 5 s bucket up to now.
    const firstOpen = floor - (floor % 5)
    assert.deepEqual(seconds, Array.from({ length: now - firstOpen + 1 }, (_, i) => firstOpen + i))
    // Every second of the 24 h window is covered exactly once.
    const covered = new Map<number, number>()
    for (const { level, bucket } of plan) {
      const size = LEVELS[level]?.seconds ?? 0
      for (let s = bucket * size; s < (bucket + 1) * size; s++) covered.set(s, (covered.get(s) ?? 0) + 1)
    }
    assert.ok([...covered.values()].every((n) => n === 1))
    assert.ok(covered.has(now) && !covered.has(now + 1))
  })

  it('is all 1 s buckets for 1m, and 60 buckets when everything is built', () => {
    assert.equal(windowPlan('1m', ms(DAY + 100), marksOf(DAY + 90)).length, 60)
    const built = windowPlan('5m', ms(DAY + 100), marksOf(DAY + 105))
    assert.ok(built.length === 60 && built.every((b) => b.level === 1))
    assert.ok(windowPlan('5m', ms(DAY + 100), marksOf(DAY + 101)).some((b) => b.level === 0), 'the current 5 s bucket is not built yet')
  })
})

describe('TrackedRooms', () => {
  it('admits newcomers with their all-time count and evicts the lowest, ties lowest value first', () => {
    const tracked = new TrackedRooms(2)
    const first = tracked.plan(new Map([['#a', 5], ['#b', 3]]))
    assert.deepEqual(first.admitted, ['#a', '#b'])
    tracked.commit(first)
    const next = tracked.plan(new Map([['#c', 1]]), (room) => (room === '#c' ? 3 : undefined))
    // #b and #c both at 3: #b (lower value) leaves.
    assert.deepEqual(next.evicted, ['#b'])
    assert.deepEqual(next.admitted, ['#c'])
    assert.ok(next.isTracked('#c') && !next.isTracked('#b'))
    assert.ok(tracked.has('#b'), 'nothing changes before commit')
    tracked.commit(next)
    const rejected = tracked.plan(new Map([['#d', 1]]))
    assert.deepEqual([rejected.admitted, rejected.evicted], [[], []])
    assert.ok(!rejected.isTracked('#d'))
    assert.deepEqual(Object.fromEntries(next.scores), { '#c': 3 })
  })
})
