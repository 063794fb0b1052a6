import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import fc from 'fast-check'
import { CATEGORIES, type Counts, type StatsStore, type TopList, WINDOW_NAMES } from '../../src/store/types.js'
import { bucketOf, WINDOW_SPECS } from '../../src/store/windows.js'
import { batch, chatSlice, slice } from '../helpers/batches.js'

/*
 * The conformance suite's storage-v2 part (issue 12; docs/COUNTING.md#event-time and docs/STORAGE.md):
 * window buckets trimmed to WINDOW_TOP with an honest maxError, tracked
 * rooms, trimmed all-time lists, event time (out of order, late, replays).
 * Run by runStoreContract for every store.
 */

/** A day start (every bucket size divides 86400), in epoch seconds. */
const DAY = Date.UTC(2025, 0, 15) / 1000

export interface BoundsHarness {
  store: StatsStore
  at: (second: number, ms?: number) => void
}

export interface Bounds {
  maxTrackedWords?: number
  maxTrackedPerRoom?: number
  maxTrackedRooms?: number
  windowTop?: number
  roomWindowTop?: number
}

export type BoundsSetup = (t: TestContext, bounds?: Bounds) => Promise<BoundsHarness>

const entries = (pairs: Array<[string, number]>): TopList['entries'] => pairs.map(([value, count]) => ({ value, count }))

function bump (counts: Counts, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

/** listed <= true <= listed + maxError for every member ever counted (limit above the number of members, so absent = 0). */
function assertHonest (answer: TopList, truth: Counts, label: string): void {
  const listed = new Map(answer.entries.map((e) => [e.value, e.count]))
  for (const [value, count] of listed) assert.ok(count <= (truth.get(value) ?? 0), `${label}: ${value} listed ${count} above its true ${truth.get(value) ?? 0}`)
  for (const [value, count] of truth) {
    const shown = listed.get(value) ?? 0
    assert.ok(count <= shown + answer.maxError, `${label}: ${value} true ${count} above listed ${shown} + maxError ${answer.maxError}`)
  }
}

/**
 * @param globalBounds false for a sharded store: WINDOW_TOP, MAX_TRACKED_ROOMS and MAX_TRACKED_WORDS
 * bind each shard (ceil(bound / shards)), which the exact trimming tests cannot follow.
 */
export function describeStorageBounds (setup: BoundsSetup, globalBounds = true): void {
  const perShard = globalBounds ? {} : { skip: 'the bounds bind each shard of a sharded store, not the whole' }
  describe('storage bounds and event time (storage v2)', () => {
    it('trims closed window buckets to windowTop and states the error: exact (0) until something is dropped', perShard, async (t) => {
      const { store, at } = await setup(t, { windowTop: 3 })
      const s = DAY + 1000 // the start of a 5 s bucket
      at(s + 1, 500)
      await store.applyBatch(batch(1, [
        slice(s, { messages: 1, words: { a: 5, b: 4, c: 3, d: 2 } }),
        slice(s + 1, { messages: 1, words: { d: 4, e: 1 } })
      ]))
      // Second s dropped d (2): 1 s buckets are read as they are, so the error is that one drop.
      for (const window of ['1m', '5m', '24h'] as const) {
        assert.deepEqual(await store.top('words', { window, limit: 10 }), { entries: entries([['a', 5], ['b', 4], ['d', 4], ['c', 3], ['e', 1]]), maxError: 2 }, window)
      }
      assert.deepEqual(await store.top('words', { window: 'all', limit: 10 }), { entries: entries([['d', 6], ['a', 5], ['b', 4], ['c', 3], ['e', 1]]), maxError: 0 })
      // Once the 5 s bucket is final (the lateness allowance past its end) it is built: its merge drops c (3) too.
      at(s + 30)
      await store.applyBatch(batch(2, []))
      assert.deepEqual(await store.top('words', { window: '5m', limit: 10 }), { entries: entries([['a', 5], ['b', 4], ['d', 4]]), maxError: 2 + 3 })
      assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }), { entries: entries([['a', 5], ['b', 4], ['d', 4], ['c', 3], ['e', 1]]), maxError: 2 })
      // An exact bucket alone stays exact.
      at(s + 200)
      await store.applyBatch(batch(3, [slice(s + 200, { messages: 1, words: { x: 1, y: 1 } })]))
      assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }), { entries: entries([['x', 1], ['y', 1]]), maxError: 0 })
    })

    it('bounds every windowed answer: listed <= true <= listed + maxError over random streams (property)', async (t) => {
      const members = ['a', 'b', 'c', 'd', 'e', 'f', 'é', '😀']
      const event = fc.record({
        offset: fc.integer({ min: 0, max: 40 }),
        late: fc.boolean(),
        word: fc.constantFrom(...members),
        room: fc.constantFrom('#r', '#s')
      })
      await fc.assert(fc.asyncProperty(fc.array(fc.array(event, { maxLength: 12 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 3 }), async (flushes, top) => {
        const { store, at } = await setup(t, { windowTop: top, roomWindowTop: top })
        const start = DAY + 7200
        const seen: Array<{ second: number, word: string, room: string }> = []
        let now = start
        let sequence = 0
        for (const events of flushes) {
          now += 7
          const slices = new Map<number, Array<{ nick: string, room: string, words: string[] }>>()
          for (const e of events) {
            // A late event lands up to 40 s back (into built buckets), others around now.
            const second = e.late ? now - e.offset : now - (e.offset % 3)
            const lines = slices.get(second) ?? []
            lines.push({ nick: 'n', room: e.room, words: [e.word] })
            slices.set(second, lines)
            seen.push({ second, word: e.word, room: e.room })
          }
          at(now, 500)
          await store.applyBatch(batch(++sequence, [...slices].map(([second, lines]) => chatSlice(second, lines))))
          for (const spec of WINDOW_SPECS) {
            const covered = seen.filter((e) => bucketOf(spec, e.second) > bucketOf(spec, now) - spec.buckets)
            const words: Counts = new Map()
            const roomWords: Counts = new Map()
            for (const e of covered) {
              bump(words, e.word)
              if (e.room === '#r') bump(roomWords, e.word)
            }
            const answer = await store.top('words', { window: spec.name, limit: 100 })
            assertHonest(answer, words, `${spec.name} after flush ${sequence}`)
            assertHonest(await store.roomTop('#r', 'words', { window: spec.name, limit: 100 }), roomWords, `#r ${spec.name} after flush ${sequence}`)
            if (new Set(seen.map((e) => e.word)).size <= top) {
              assert.equal(answer.maxError, 0, `${spec.name}: nothing can have been dropped`)
            }
          }
        }
      }), { numRuns: 25 })
    })

    it('keeps detail for at most maxTrackedRooms rooms: the least active leaves, the rooms list keeps counting, a room that comes back starts clean', perShard, async (t) => {
      const { store, at } = await setup(t, { maxTrackedRooms: 2 })
      const s = DAY + 3000
      const lines = (room: string, n: number, word: string): Array<{ nick: string, room: string, words: string[] }> =>
        Array.from({ length: n }, () => ({ nick: 'ann', room, words: [word] }))
      at(s)
      await store.applyBatch(batch(1, [chatSlice(s, [...lines('#a', 3, 'a1'), ...lines('#b', 2, 'b1')])]))
      // #c enters with 1 message and is the least active at once: not tracked.
      at(s + 1)
      await store.applyBatch(batch(2, [chatSlice(s + 1, lines('#c', 1, 'c1'), [{ command: 'CLEARCHAT', room: '#c' }])]))
      assert.deepEqual(await store.roomTotals('#c', 'all'), { messages: 1, events: {}, tracked: false, firstSeenAt: null })
      assert.deepEqual(await store.roomTotals('#c', '1m'), { messages: 0, events: {}, tracked: false, firstSeenAt: null })
      assert.deepEqual(await store.roomTop('#c', 'words', { window: 'all', limit: 10 }), { entries: [], maxError: 0 })
      assert.deepEqual(await store.roomTotals('#a', 'all'), { messages: 3, events: {}, tracked: true, firstSeenAt: s * 1000 })
      // #c gets 5 more: it enters with its all-time 6 and #b (2) leaves.
      at(s + 2)
      await store.applyBatch(batch(3, [chatSlice(s + 2, lines('#c', 5, 'c2'))]))
      // Its detail, windows and first-seen time start when it entered (its rate is over the time since then).
      assert.deepEqual(await store.roomTotals('#c', 'all'), { messages: 6, events: {}, tracked: true, firstSeenAt: (s + 2) * 1000 })
      assert.deepEqual(await store.roomTop('#c', 'words', { window: 'all', limit: 10 }), { entries: entries([['c2', 5]]), maxError: 0 })
      assert.deepEqual(await store.roomTotals('#c', '1m'), { messages: 5, events: {}, tracked: true, firstSeenAt: (s + 2) * 1000 })
      // #b left: its first-seen time went with its detail.
      assert.deepEqual(await store.roomTotals('#b', 'all'), { messages: 2, events: {}, tracked: false, firstSeenAt: null })
      assert.deepEqual(await store.roomTop('#b', 'words', { window: '1m', limit: 10 }), { entries: [], maxError: 0 })
      // #b comes back with 10: in with its all-time 12, #a (3) leaves; none of #b's old detail is back.
      at(s + 3)
      await store.applyBatch(batch(4, [chatSlice(s + 3, lines('#b', 10, 'b2'))]))
      // First seen again when it came back (s + 3), not at s: its windows start there too.
      assert.deepEqual(await store.roomTotals('#b', 'all'), { messages: 12, events: {}, tracked: true, firstSeenAt: (s + 3) * 1000 })
      for (const window of ['all', '1m', '24h'] as const) {
        assert.deepEqual(await store.roomTop('#b', 'words', { window, limit: 10 }), { entries: entries([['b2', 10]]), maxError: 0 }, window)
      }
      assert.deepEqual(await store.roomTotals('#b', '1m'), { messages: 10, events: {}, tracked: true, firstSeenAt: (s + 3) * 1000 })
      assert.equal((await store.roomTotals('#a', 'all'))?.tracked, false)
      // The rooms list counted everything all along.
      assert.deepEqual((await store.top('rooms', { window: 'all', limit: 10 })).entries, entries([['#b', 12], ['#c', 6], ['#a', 3]]))
      assert.deepEqual((await store.top('rooms', { window: '1m', limit: 10 })).entries, entries([['#b', 12], ['#c', 6], ['#a', 3]]))
      assert.equal(await store.roomTotals('#never', 'all'), null)
    })

    it('trims all-time lists to maxTrackedWords; a trimmed word that comes back counts from then on, windows keep it exact', perShard, async (t) => {
      const { store, at } = await setup(t, { maxTrackedWords: 2 })
      const s = DAY + 4000
      at(s)
      await store.applyBatch(batch(1, [slice(s, { messages: 1, words: { a: 3, b: 2, c: 1 } })]))
      assert.deepEqual((await store.top('words', { window: 'all', limit: 10 })).entries, entries([['a', 3], ['b', 2]]))
      at(s + 1)
      await store.applyBatch(batch(2, [slice(s + 1, { messages: 1, words: { c: 5 } })]))
      assert.deepEqual(await store.top('words', { window: 'all', limit: 10 }), { entries: entries([['c', 5], ['a', 3]]), maxError: 0 })
      assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }), { entries: entries([['c', 6], ['a', 3], ['b', 2]]), maxError: 0 })
    })

    it('keeps exactly the top of each trimmed all-time list over random flushes: ties leave by their bytes, members below a full list stay out (property)', perShard, async (t) => {
      // Prefixes, equal scores and non-ASCII members test the order a full list trims by; a flush
      // brings from 1 to 12 members per list, so both ways of adding (a few members, many) are used,
      // spread over 1 to 3 seconds (slices): a member's count in the whole flush is what ranks it.
      const members = ['a', 'ab', 'b', 'ba', 'c', 'cab', 'd', 'e', 'é', 'ж', 'z', 'zz']
      const flush = fc.array(fc.record({ word: fc.constantFrom(...members), room: fc.constantFrom('#r', '#s'), n: fc.integer({ min: 1, max: 3 }), slice: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 16 })
      /** Add, then keep the `keep` highest; equal counts: the member with the lower UTF-8 bytes leaves first. */
      const addThenTrim = (list: Counts, add: Counts, keep: number): Counts => {
        const sum = new Map(list)
        for (const [member, n] of add) sum.set(member, (sum.get(member) ?? 0) + n)
        const order = [...sum].sort((x, y) => y[1] - x[1] || Buffer.compare(Buffer.from(y[0]), Buffer.from(x[0])))
        return new Map(order.slice(0, keep))
      }
      const sorted = (list: Counts): Array<[string, number]> => [...list].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
      await fc.assert(fc.asyncProperty(fc.array(flush, { minLength: 1, maxLength: 8 }), fc.integer({ min: 2, max: 5 }), async (flushes, keep) => {
        const { store, at } = await setup(t, { maxTrackedWords: keep, maxTrackedPerRoom: keep })
        let words: Counts = new Map()
        let roomWords: Counts = new Map()
        let second = DAY + 12_000
        for (const [i, events] of flushes.entries()) {
          at(++second)
          const add: Counts = new Map()
          const roomAdd: Counts = new Map()
          const lines: Array<Array<{ nick: string, room: string, words: string[] }>> = [[], [], []]
          for (const e of events) {
            for (let k = 0; k < e.n; k++) lines[e.slice]!.push({ nick: 'n', room: e.room, words: [e.word] })
            add.set(e.word, (add.get(e.word) ?? 0) + e.n)
            if (e.room === '#r') roomAdd.set(e.word, (roomAdd.get(e.word) ?? 0) + e.n)
          }
          // The slices of seconds this one and the two before it, the latest first (a batch's slices come in any order).
          await store.applyBatch(batch(i + 1, lines.flatMap((slice, j) => slice.length === 0 ? [] : [chatSlice(second - j, slice)])))
          words = addThenTrim(words, add, keep)
          if (roomAdd.size > 0) roomWords = addThenTrim(roomWords, roomAdd, keep)
          const listed = (await store.top('words', { window: 'all', limit: 100 })).entries.map((e): [string, number] => [e.value, e.count])
          assert.deepEqual(sorted(new Map(listed)), sorted(words), `words after flush ${i + 1}`)
          const roomListed = (await store.roomTop('#r', 'words', { window: 'all', limit: 100 })).entries.map((e): [string, number] => [e.value, e.count])
          assert.deepEqual(sorted(new Map(roomListed)), sorted(roomWords), `#r words after flush ${i + 1}`)
        }
      }), {
        numRuns: 40,
        // A full list {d: 3, c: 2}, then 'cab' ties with the lowest, 'c', and ranks above it (a longer member after its prefix).
        // Then one across slices: 'e' in two slices (1 + 1) ties with 'c' (2) as a whole, and ranks above it.
        examples: [
          [[[{ word: 'd', room: '#r', n: 3, slice: 0 }, { word: 'c', room: '#r', n: 2, slice: 0 }], [{ word: 'cab', room: '#r', n: 2, slice: 0 }, { word: 'a', room: '#r', n: 1, slice: 0 }, { word: 'b', room: '#r', n: 1, slice: 0 }, { word: 'e', room: '#r', n: 1, slice: 0 }]], 2],
          [[[{ word: 'd', room: '#r', n: 3, slice: 0 }, { word: 'c', room: '#r', n: 2, slice: 1 }], [{ word: 'e', room: '#r', n: 1, slice: 0 }, { word: 'e', room: '#r', n: 1, slice: 2 }, { word: 'a', room: '#r', n: 1, slice: 1 }]], 2]
        ]
      })
    })

    it('files slices by event second in any order, and late ones into buckets already built', async (t) => {
      const { store, at } = await setup(t)
      const s = DAY + 6000 // the start of a minute
      at(s + 2, 900)
      await store.applyBatch(batch(1, [
        chatSlice(s + 2, [{ nick: 'ann', room: '#a', words: ['two'] }]),
        chatSlice(s, [{ nick: 'bob', room: '#a', words: ['zero'] }]),
        chatSlice(s + 1, [{ nick: 'cid', room: '#a', words: ['one'] }])
      ]))
      assert.deepEqual((await store.series('1s', s * 1000, (s + 2) * 1000)).map((p) => p.messages), [1, 1, 1])
      // Time goes on; the 5 s and 15 s buckets of s are built. Then a late slice for s arrives.
      at(s + 40)
      await store.applyBatch(batch(2, [chatSlice(s + 40, [{ nick: 'dee', room: '#a', words: ['now'] }])]))
      await store.applyBatch(batch(3, [chatSlice(s, [{ nick: 'eve', room: '#a', words: ['zero', 'late'] }])]))
      const expected = entries([['zero', 2], ['late', 1], ['now', 1], ['one', 1], ['two', 1]])
      for (const window of ['1m', '5m', '15m', '1h', '24h'] as const) {
        assert.deepEqual(await store.top('words', { window, limit: 10 }), { entries: expected, maxError: 0 }, window)
        assert.deepEqual(await store.roomTop('#a', 'words', { window, limit: 10 }), { entries: expected, maxError: 0 }, `#a ${window}`)
        assert.deepEqual(await store.roomTotals('#a', window), { messages: 5, events: {}, tracked: true, firstSeenAt: s * 1000 }, `#a ${window}`)
      }
      assert.deepEqual((await store.series('1s', s * 1000, s * 1000)).map((p) => p.messages), [2])
      // Later still, every window level has built what covers s; the answers stay the same.
      at(s + 1500)
      await store.applyBatch(batch(4, []))
      for (const window of ['1h', '24h'] as const) assert.deepEqual(await store.top('words', { window, limit: 10 }), { entries: expected, maxError: 0 }, `${window} later`)
      assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }), { entries: [], maxError: 0 })
    })

    it('keeps a second that is past the 1 m window when its batch arrives, in the coarser buckets this batch builds', async (t) => {
      // One batch spanning 100 s: its first second is final (and past 1 m) once the clock is at
      // its last, while its 5 s bucket is built only by this batch. Every coarser window keeps it.
      const { store, at } = await setup(t)
      const s = DAY + 9000 // the start of a 15 s bucket
      at(s, 500)
      await store.applyBatch(batch(1, [chatSlice(s, [{ nick: 'ann', room: '#a', words: ['first'] }])]))
      at(s + 105, 500)
      await store.applyBatch(batch(2, [
        chatSlice(s + 5, [{ nick: 'bob', room: '#a', words: ['early'] }]),
        chatSlice(s + 105, [{ nick: 'cid', room: '#a', words: ['last'] }])
      ]))
      const expected = entries([['early', 1], ['first', 1], ['last', 1]])
      for (const window of ['5m', '15m', '1h', '24h'] as const) {
        assert.deepEqual(await store.top('words', { window, limit: 10 }), { entries: expected, maxError: 0 }, window)
        assert.deepEqual(await store.roomTop('#a', 'words', { window, limit: 10 }), { entries: expected, maxError: 0 }, `#a ${window}`)
        assert.deepEqual(await store.roomTotals('#a', window), { messages: 3, events: {}, tracked: true, firstSeenAt: s * 1000 }, `#a ${window}`)
      }
      assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }), { entries: entries([['last', 1]]), maxError: 0 })
      // Later, once the 15 m, 1 h and 24 h buckets are built from these, they still hold all three.
      at(s + 1500)
      await store.applyBatch(batch(3, []))
      for (const window of ['1h', '24h'] as const) assert.deepEqual(await store.top('words', { window, limit: 10 }), { entries: expected, maxError: 0 }, `${window} later`)
    })

    it('counts a replay older than a window all-time only; the series keep what their retention holds', async (t) => {
      const { store, at } = await setup(t)
      const now = DAY + 10 * 86_400
      at(now)
      const old = now - 8 * 86_400 // past every window and both series
      const twoHours = now - 7200 // in the 24 h window and the per-second series only
      await store.applyBatch(batch(1, [
        chatSlice(old, [{ nick: 'ann', room: '#a', words: ['ancient'] }]),
        chatSlice(twoHours, [{ nick: 'bob', room: '#a', words: ['recent'] }])
      ]))
      assert.equal((await store.totals()).totalMessages, 2)
      assert.deepEqual((await store.top('words', { window: 'all', limit: 10 })).entries, entries([['ancient', 1], ['recent', 1]]))
      assert.deepEqual((await store.roomTop('#a', 'words', { window: 'all', limit: 10 })).entries, entries([['ancient', 1], ['recent', 1]]))
      for (const window of WINDOW_NAMES) {
        if (window === 'all') continue
        const expected = window === '24h' ? entries([['recent', 1]]) : []
        assert.deepEqual(await store.top('words', { window, limit: 10 }), { entries: expected, maxError: 0 }, window)
        assert.deepEqual(await store.roomTop('#a', 'words', { window, limit: 10 }), { entries: expected, maxError: 0 }, `#a ${window}`)
      }
      assert.deepEqual((await store.series('1s', old * 1000, old * 1000)).map((p) => p.messages), [0])
      assert.deepEqual((await store.series('1m', Math.floor(old / 60) * 60_000, Math.floor(old / 60) * 60_000)).map((p) => p.messages), [0])
      assert.deepEqual((await store.series('1s', twoHours * 1000, twoHours * 1000)).map((p) => p.messages), [1])
      for (const category of CATEGORIES) assert.equal((await store.top(category, { window: '1h', limit: 10 })).entries.length, 0, category)
    })
  })
}
