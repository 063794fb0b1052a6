import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { liveRoomWindowKeys, storedValuesNeeded, valueTtl, windowWrites } from '../../src/store/redis/window-writes.js'
import { BucketLife } from '../../src/store/windows/bucket-life.js'
import { longDeadline, naturalDeadline } from '../../src/store/windows/levels.js'
import { decodeRoomValue, decodeTrimmed, encodeRoomValue, encodeTrimmed } from '../../src/store/windows/serialise.js'
import { roomValueOf } from '../../src/store/windows/room-value.js'
import { chatSlice } from '../helpers/batches.js'

const keys = new RedisKeys('ns:')
const START = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000 // every bucket size divides it
const lines = (word: string, room = '#a'): Parameters<typeof chatSlice>[1] => [{ nick: 'ann', room, words: [word] }]

describe('Redis window writes (from the writer\'s bucket life)', () => {
  it('keeps an unbuilt bucket as long as the 24 h window may need it, a built one\'s children only for their own window', () => {
    const marks = [START - 1, START / 5 - 1, START / 15 - 1, START / 60 - 1, START / 1440 - 1]
    assert.equal(valueTtl(0, START + 3, marks, START + 4), longDeadline(0, START + 3) - (START + 4))
    const built = [START + 9, START / 5 + 1, START / 15, START / 60 - 1, START / 1440 - 1]
    assert.equal(valueTtl(0, START + 3, built, START + 20), naturalDeadline(0, START + 3) - (START + 20))
    assert.equal(valueTtl(4, START / 1440, marks, START), naturalDeadline(4, START / 1440) - START)
  })

  it('builds a parent from the stored children and this flush\'s values, leaving out rooms that leave the tracked set', () => {
    const life = new BucketLife({ windowTop: 10, roomWindowTop: 5 })
    const first = life.plan([chatSlice(START + 1, lines('x')), chatSlice(START + 2, lines('y', '#gone'))], (START + 2) * 1000)
    life.commit(first)
    const plan = life.plan([chatSlice(START + 16, lines('z'))], (START + 16) * 1000)
    const needed = storedValuesNeeded(plan, keys)
    assert.ok(needed.strings.includes(keys.windowValue(0, 'words', START + 1)))
    assert.ok(needed.hashes.includes(keys.roomWindowValues(0, START + 2)))
    // What the first flush stored, as Redis would answer.
    const written = windowWrites(first, { strings: new Map(), hashes: new Map() }, { keys, windowTop: 10, roomWindowTop: 5, nowSecond: START + 2, evicted: new Set() })
    const strings = new Map<string, string | null>(needed.strings.map((key) => [key, written.values.find(([k]) => k === key)?.[2] ?? null]))
    const hashes = new Map(needed.hashes.map((key) => [key, Object.fromEntries(written.hashValues.find(([k]) => k === key)?.[2] ?? [])]))
    const out = windowWrites(plan, { strings, hashes }, { keys, windowTop: 10, roomWindowTop: 5, nowSecond: START + 16, evicted: new Set(['#gone']) })
    const parent = out.values.find(([key]) => key === keys.windowValue(1, 'words', START / 5))
    assert.ok(parent !== undefined)
    assert.deepEqual(decodeTrimmed(parent[2]), { entries: [{ value: 'x', count: 1 }, { value: 'y', count: 1 }], err: 0 })
    const rooms = out.hashValues.find(([key]) => key === keys.roomWindowValues(1, START / 5))
    assert.ok(rooms !== undefined)
    assert.deepEqual(rooms[2].map(([room]) => room), ['#a'], 'the evicted room is not built into the parent')
    assert.equal(decodeRoomValue(rooms[2][0]![1]).messages, 1)
    // The children now live only for their own window.
    const childExpiry = out.expiries.find(([key]) => key === keys.windowValue(0, 'words', START + 1))
    assert.deepEqual(childExpiry, [keys.windowValue(0, 'words', START + 1), naturalDeadline(0, START + 1) - (START + 16)])
  })

  it('merges a late delta into the stored value of its second and of every built ancestor', () => {
    const life = new BucketLife({ windowTop: 2, roomWindowTop: 5 })
    life.restore({ floor: START + 100, newestWritten: START + 100 })
    const plan = life.plan([chatSlice(START + 10, lines('late'))], (START + 100) * 1000)
    const stored = encodeTrimmed({ entries: [{ value: 'a', count: 3 }, { value: 'b', count: 2 }], err: 1 })
    const room = encodeRoomValue(roomValueOf({ messages: 4, events: new Map(), words: new Map([['a', 3]]), nicks: new Map([['bob', 4]]), emotes: new Map() }, 5))
    const needed = storedValuesNeeded(plan, keys)
    const out = windowWrites(plan, {
      strings: new Map(needed.strings.map((key) => [key, key.includes(':words:') ? stored : null])),
      hashes: new Map(needed.hashes.map((key) => [key, { '#a': room }]))
    }, { keys, windowTop: 2, roomWindowTop: 5, nowSecond: START + 100, evicted: new Set() })
    const fiveSeconds = out.values.find(([key]) => key === keys.windowValue(1, 'words', (START + 10) / 5))
    assert.ok(fiveSeconds !== undefined, 'the built 5 s bucket takes the late count')
    // a 3, b 2, late 1 trimmed to 2: late (1) is dropped, err 1 + 1.
    assert.deepEqual(decodeTrimmed(fiveSeconds[2]), { entries: [{ value: 'a', count: 3 }, { value: 'b', count: 2 }], err: 2 })
    const roomValue = out.hashValues.find(([key]) => key === keys.roomWindowValues(1, (START + 10) / 5))
    assert.equal(decodeRoomValue(roomValue![2][0]![1]).messages, 5)
  })

  it('merges the late seconds of one flush into a shared ancestor once: one trim, not one per second', () => {
    const life = new BucketLife({ windowTop: 1, roomWindowTop: 5 })
    life.restore({ floor: START + 100, newestWritten: START + 100 })
    // Two late seconds of the same 5 s bucket: a 2, b 1, then b 2 (b 3 in all).
    const plan = life.plan([
      chatSlice(START + 10, [{ nick: 'ann', room: '#a', words: ['a', 'a', 'b'] }]),
      chatSlice(START + 11, [{ nick: 'ann', room: '#a', words: ['b', 'b'] }])
    ], (START + 100) * 1000)
    const needed = storedValuesNeeded(plan, keys)
    const out = windowWrites(plan, {
      strings: new Map(needed.strings.map((key) => [key, null])),
      hashes: new Map(needed.hashes.map((key) => [key, {}]))
    }, { keys, windowTop: 1, roomWindowTop: 5, nowSecond: START + 100, evicted: new Set() })
    const fiveSeconds = out.values.find(([key]) => key === keys.windowValue(1, 'words', (START + 10) / 5))
    assert.ok(fiveSeconds !== undefined)
    // Trimmed once from a 2, b 3: b stays. Trimmed per second it kept a 2 and lost b's 3.
    assert.deepEqual(decodeTrimmed(fiveSeconds[2]), { entries: [{ value: 'b', count: 3 }], err: 2 })
    const rooms = out.hashValues.find(([key]) => key === keys.roomWindowValues(1, (START + 10) / 5))
    assert.equal(decodeRoomValue(rooms![2][0]![1]).messages, 2)
  })

  it('lists the room hashes an evicted room can still be in, a bounded number per level', () => {
    const live = liveRoomWindowKeys(keys, START + 90, START + 99, START + 100)
    assert.ok(live.includes(keys.roomWindowValues(0, START + 99)))
    assert.ok(live.includes(keys.roomWindowValues(0, START + 40)))
    assert.ok(live.includes(keys.roomWindowValues(4, START / 1440)))
    assert.ok(live.length < 5 * 200, `${live.length} keys`)
  })
})
