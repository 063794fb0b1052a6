import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Counts } from '../../src/store/types.js'
import { addToTrimmed, mergeTrimmed, readMerged, trimCounts, type TrimmedList } from '../../src/store/windows/trimmed-list.js'
import { decodeRoomValue, decodeTrimmed, encodeRoomValue, encodeTrimmed } from '../../src/store/windows/serialise.js'
import { addToRoomValue, mergeRoomValues, roomValueOf } from '../../src/store/windows/room-value.js'

const map = (o: Record<string, number>): Counts => new Map(Object.entries(o))
const listed = (list: TrimmedList, value: string): number => list.entries.find((e) => e.value === value)?.count ?? 0

/** listed(x) <= true(x) <= listed(x) + err for every member of `truth` and for a member never seen. */
function assertBound (list: TrimmedList, truth: Counts): void {
  for (const [value, count] of truth) {
    assert.ok(listed(list, value) <= count, `${value}: listed ${listed(list, value)} above true ${count}`)
    assert.ok(count <= listed(list, value) + list.err, `${value}: true ${count} above listed ${listed(list, value)} + err ${list.err}`)
  }
  for (const { value } of list.entries) assert.ok(truth.has(value), `${value} listed but never counted`)
}

describe('trimmed lists', () => {
  it('keeps exact counts with err 0 while nothing is dropped', () => {
    const list = trimCounts(map({ b: 2, a: 2, c: 5 }), 3)
    assert.deepEqual(list, { entries: [{ value: 'c', count: 5 }, { value: 'a', count: 2 }, { value: 'b', count: 2 }], err: 0 })
  })

  it('drops the lowest (ties: the later value in code-point order) and reports the largest dropped count', () => {
    const list = trimCounts(map({ a: 1, b: 3, c: 3, d: 2, '\u{1F600}': 3, '\uFFFD': 3 }), 3)
    assert.deepEqual(list.entries.map((e) => e.value), ['b', 'c', '\uFFFD'])
    assert.equal(list.err, 3)
  })

  it('ignores zero counts', () => {
    assert.deepEqual(trimCounts(map({ a: 0, b: 1 }), 1), { entries: [{ value: 'b', count: 1 }], err: 0 })
  })

  it('merges children: err = their errs + the largest count this trim drops', () => {
    const x = trimCounts(map({ a: 5, b: 4, c: 1 }), 2) // err 1
    const y = trimCounts(map({ b: 3, d: 3, e: 2 }), 2) // err 2
    const merged = mergeTrimmed([x, y], 2)
    assert.deepEqual(merged.entries, [{ value: 'b', count: 7 }, { value: 'a', count: 5 }])
    assert.equal(merged.err, 1 + 2 + 3)
    const exact = mergeTrimmed([trimCounts(map({ a: 1 }), 5), trimCounts(map({ a: 2, b: 1 }), 5)], 5)
    assert.deepEqual(exact, { entries: [{ value: 'a', count: 3 }, { value: 'b', count: 1 }], err: 0 })
  })

  it('adds a late delta into a stored list, trimming again', () => {
    const stored = trimCounts(map({ a: 5, b: 4 }), 2)
    const after = addToTrimmed(stored, map({ c: 6, b: 1 }), 2)
    assert.deepEqual(after, { entries: [{ value: 'c', count: 6 }, { value: 'a', count: 5 }], err: 5 })
  })

  it('reads a window: the sum, limit after exclude, maxError = the sum of errs', () => {
    const lists = [trimCounts(map({ a: 3, b: 2, c: 1 }), 2), trimCounts(map({ c: 4 }), 2)]
    assert.deepEqual(readMerged(lists, 2, (v) => v === 'c'), { entries: [{ value: 'a', count: 3 }, { value: 'b', count: 2 }], maxError: 1 })
    assert.deepEqual(readMerged([], 5), { entries: [], maxError: 0 })
  })

  it('holds listed <= true <= listed + err over any stream, merge tree and late deltas (property)', () => {
    const member = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'é', '\u{1F600}')
    const bucket = fc.array(fc.tuple(member, fc.integer({ min: 1, max: 9 })), { maxLength: 30 })
    fc.assert(fc.property(
      fc.array(bucket, { minLength: 1, maxLength: 12 }),
      fc.array(fc.tuple(fc.nat(11), bucket), { maxLength: 4 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 4 }),
      (buckets, lates, top, fanIn) => {
        const truth: Counts = new Map()
        const leaves: TrimmedList[] = buckets.map((events) => {
          const counts: Counts = new Map()
          for (const [value, n] of events) {
            counts.set(value, (counts.get(value) ?? 0) + n)
            truth.set(value, (truth.get(value) ?? 0) + n)
          }
          return trimCounts(counts, top)
        })
        for (const [index, events] of lates) {
          const i = index % leaves.length
          const delta: Counts = new Map()
          for (const [value, n] of events) {
            delta.set(value, (delta.get(value) ?? 0) + n)
            truth.set(value, (truth.get(value) ?? 0) + n)
          }
          leaves[i] = addToTrimmed(leaves[i] as TrimmedList, delta, top)
        }
        // Build parents of `fanIn + 1` children until one list is left, as the levels do.
        let level = leaves
        while (level.length > 1) {
          const next: TrimmedList[] = []
          for (let i = 0; i < level.length; i += fanIn + 1) next.push(mergeTrimmed(level.slice(i, i + fanIn + 1), top))
          level = next
        }
        const root = level[0] as TrimmedList
        assertBound(root, truth)
        const read = readMerged(leaves, 100)
        for (const [value, count] of truth) {
          const got = read.entries.find((e) => e.value === value)?.count ?? 0
          assert.ok(got <= count && count <= got + read.maxError)
        }
        const wasTrimmed = leaves.some((l) => l.err > 0)
        if (!wasTrimmed) assert.equal(read.maxError, 0)
      }
    ), { numRuns: 500 })
  })
})

describe('room window values', () => {
  it('build, merge and take late counts, lists trimmed with their own err', () => {
    const a = roomValueOf({ messages: 3, events: map({ CLEARCHAT: 1 }), words: map({ x: 3, y: 1 }), nicks: map({ n: 3 }), emotes: new Map() }, 1)
    assert.deepEqual(a.words, { entries: [{ value: 'x', count: 3 }], err: 1 })
    const b = roomValueOf({ messages: 2, events: new Map(), words: map({ y: 2 }), nicks: map({ m: 2 }), emotes: map({ Kappa: 1 }) }, 1)
    const merged = mergeRoomValues([a, b], 1)
    assert.equal(merged.messages, 5)
    assert.deepEqual(Object.fromEntries(merged.events), { CLEARCHAT: 1 })
    assert.deepEqual(merged.words, { entries: [{ value: 'x', count: 3 }], err: 1 + 2 })
    const late = addToRoomValue(merged, { messages: 1, events: map({ CLEARMSG: 1 }), words: map({ z: 9 }), nicks: new Map(), emotes: new Map() }, 1)
    assert.equal(late.messages, 6)
    assert.deepEqual(late.words, { entries: [{ value: 'z', count: 9 }], err: 3 + 3 })
    assert.deepEqual(Object.fromEntries(late.events), { CLEARCHAT: 1, CLEARMSG: 1 })
  })
})

describe('window value text', () => {
  it('round-trips lists and room values, any text', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.string({ unit: 'grapheme' }), fc.nat())), fc.nat(), (pairs, err) => {
      const list: TrimmedList = { entries: pairs.map(([value, count]) => ({ value, count })), err }
      assert.deepEqual(decodeTrimmed(encodeTrimmed(list)), list)
    }))
    const value = roomValueOf({ messages: 4, events: map({ CLEARCHAT: 2 }), words: map({ 'ㅋㅋ': 2, '"q"': 1 }), nicks: map({ n: 4 }), emotes: map({ Kappa: 1 }) }, 10)
    assert.deepEqual(decodeRoomValue(encodeRoomValue(value)), value)
  })

  it('refuses text that is not a stored value', () => {
    assert.throws(() => decodeTrimmed('[1,"a"]'), TypeError)
    assert.throws(() => decodeTrimmed('{}'), TypeError)
    assert.throws(() => decodeRoomValue('[1,{},[0],[0]]'), TypeError)
  })
})
