import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type EncodedBatch, encodeBatch, FIXED_KEY_COUNT, HEADER_ARG_COUNT } from '../../src/store/redis/batch-encoding.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { longDeadline, TOP_LEVEL } from '../../src/store/redis/levels.js'
import { STREAM_WIDE } from '../../src/store/redis/rollup-plan.js'
import { FIELD_END } from '../../src/store/redis/sections-writer.js'
import type { Batch, Counts } from '../../src/store/types.js'
import { bucketOf, MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS, WINDOW_SPECS } from '../../src/store/windows.js'
import { batch, chatSlice, slice } from '../helpers/batches.js'

// The wire format of apply-batch.lua, checked without Redis (the script itself runs in test/contract/redis-store.test.ts).

/** The 0xFF-ended fields of the sections argument. */
function sectionFields (encoded: EncodedBatch): string[] {
  const sections = encoded.args.at(-1)
  assert.ok(Buffer.isBuffer(sections), 'the sections travel as one Buffer')
  const fields: string[] = []
  let start = 0
  for (let i = 0; i < sections.length; i++) {
    if (sections[i] !== FIELD_END) continue
    fields.push(sections.subarray(start, i).toString('utf8'))
    start = i + 1
  }
  assert.equal(start, sections.length, 'the last field is ended')
  return fields
}

/** Applies encoded groups the way apply-batch.lua does, into plain maps: key -> member -> count, and key -> param. */
function interpret (encoded: EncodedBatch): { counts: Map<string, Counts>, params: Map<string, number[]>, pairsSent: number, indexed: Map<string, string[]>, rollups: number } {
  let pairsSent = 0
  let rollups = 0
  const counts = new Map<string, Counts>()
  const params = new Map<string, number[]>()
  const indexed = new Map<string, string[]>()
  const { keys } = encoded
  const fields = sectionFields(encoded)
  let f = 0
  const next = (): string => {
    assert.ok(f < fields.length, 'a section ends early')
    return fields[f++]!
  }
  let k = FIXED_KEY_COUNT
  while (f < fields.length) {
    const op = next()
    if (op === 'z' || op === 'h') {
      const keyCount = Number(next())
      const keyParams = Array.from({ length: keyCount }, () => Number(next()))
      const pairCount = Number(next())
      assert.ok(keyCount > 0 && pairCount > 0)
      const pairs = Array.from({ length: pairCount }, () => [next(), Number(next())] as const)
      pairsSent += pairCount
      for (let j = 0; j < keyCount; j++) {
        const key = keys[k++]!
        const into = counts.get(key) ?? new Map<string, number>()
        counts.set(key, into)
        for (const [member, n] of pairs) into.set(member, (into.get(member) ?? 0) + n)
        params.set(key, [...(params.get(key) ?? []), keyParams[j]!])
      }
    } else if (op === 's') {
      const n = Number(next())
      next() // ttl
      indexed.set(keys[k++]!, Array.from({ length: n }, () => next()))
    } else if (op === 'r') {
      const [targets, children] = [Number(next()), Number(next())]
      for (let i = 0; i < 4; i++) next()
      k += 1 + targets * (1 + children)
      rollups++
    } else if (op === 'm') {
      next()
      next()
    } else {
      assert.equal(op, 'l', `section ${op}`)
      next()
    }
  }
  assert.equal(k, keys.length, 'every key belongs to a section')
  return { counts, params, pairsSent, indexed, rollups }
}

describe('RedisStore batch encoding', () => {
  const keys = new RedisKeys('ns:')
  const options = { keys, nowMs: 1_736_900_000_500, maxTrackedWords: 100, maxTrackedPerRoom: 10, maxFailedLog: 1000, leaseToken: '' }

  it('sends a one-second batch\'s member list once for the all-time key and its 1 s window bucket', () => {
    const s = chatSlice(1_736_900_000, [{ nick: 'ann', room: '#a', words: ['hello', 'hello', 'kappa'] }, { nick: 'bob', room: '#b', words: ['hello'] }])
    const encoded = encodeBatch(batch(1, [s]), options)
    // Global words once, then once in each of the two rooms.
    assert.equal(sectionFields(encoded).filter((a) => a === 'hello').length, 3)
    const { params, indexed } = interpret(encoded)
    assert.deepEqual(params.get(keys.top('words')), [-100])
    assert.deepEqual(params.get(keys.roomTop('#a', 'words')), [-10])
    assert.deepEqual(params.get(keys.room('#a')), [0])
    // Only the finest window level is written; until its bucket is rolled up it lives as long as the 24 h window may need it.
    const nowSecond = Math.floor(options.nowMs / 1000)
    const longTtl = longDeadline(0, s.second) - nowSecond
    const oneSecond = WINDOW_SPECS.find((spec) => spec.bucketSeconds === 1)!
    assert.deepEqual(params.get(keys.windowBucket(oneSecond, 'words', s.second)), [longTtl])
    assert.deepEqual(params.get(keys.roomTopBucket(oneSecond, 'nicks', s.second, '#b')), [longTtl])
    assert.deepEqual(params.get(keys.roomWindowBucket(oneSecond, s.second, '#b')), [longTtl])
    for (const spec of WINDOW_SPECS.filter((w) => w !== oneSecond)) {
      assert.equal(params.has(keys.windowBucket(spec, 'words', bucketOf(spec, s.second))), false, spec.name)
      // The roll-up will find the rooms and the stream-wide lists of the bucket in its index.
      assert.deepEqual(indexed.get(keys.rollupRooms(spec, bucketOf(spec, s.second))), [STREAM_WIDE, '#a', '#b'], spec.name)
    }
    const minute = Math.floor(s.second / 60)
    assert.deepEqual(params.get(keys.secondSeries(minute)), [(minute + 1) * 60 + SECOND_SERIES_RETENTION_SECONDS - 1_736_900_000])
    const day = Math.floor(s.second / 86400)
    assert.deepEqual(params.get(keys.minuteSeries(day)), [(day + 1) * 86400 + MINUTE_SERIES_RETENTION_SECONDS - 1_736_900_000])
  })

  it('groups a multi-second batch by the slices feeding each key, each key once, with exact sums', () => {
    const base = 1_736_899_978 // slices on both sides of a minute and of a 5 s bucket
    const slices = [
      chatSlice(base, [{ nick: 'ann', room: '#a', words: ['x', 'y'] }], [{ command: 'CLEARCHAT', room: '#a' }]),
      chatSlice(base + 1, [{ nick: 'ann', room: '#b', words: ['x'] }]),
      chatSlice(base + 3, [{ nick: 'bob', room: '#a', words: ['y', 'z'] }]),
      chatSlice(base + 30, [{ nick: 'cid', room: '#a', words: ['x'] }])
    ]
    const encoded = encodeBatch(batch(7, slices), { ...options, nowMs: (base + 30) * 1000 })
    const { counts, params, pairsSent, rollups } = interpret(encoded)
    const oneSecond = WINDOW_SPECS.find((spec) => spec.bucketSeconds === 1)!
    for (const [key, list] of params) assert.equal(list.length, 1, `${key} appears in one group`)

    // The naive expectation: every slice adds its counts to each of its keys.
    const expected = new Map<string, Counts>()
    let naivePairs = 0
    const add = (key: string, from: Counts): void => {
      if (from.size === 0) return
      naivePairs += from.size
      const into = expected.get(key) ?? new Map<string, number>()
      expected.set(key, into)
      for (const [m, n] of from) if (n > 0) into.set(m, (into.get(m) ?? 0) + n)
    }
    for (const s of slices) {
      // A namespace's first batch: every coarser bucket is pending, so only the 1 s buckets are written.
      for (const category of ['words', 'nicks', 'rooms', 'emotes'] as const) {
        add(keys.top(category), s[category])
        add(keys.windowBucket(oneSecond, category, s.second), s[category])
      }
      add(keys.events, s.events)
      add(keys.secondSeries(Math.floor(s.second / 60)), new Map([[String(s.second % 60), s.messages]]))
      add(keys.minuteSeries(Math.floor(s.second / 86400)), new Map([[String(Math.floor(s.second / 60) % 1440), s.messages]]))
      for (const [room, detail] of s.roomDetail) {
        const hash = new Map([['m', detail.messages], ...[...detail.events].map(([c, n]): [string, number] => [`e:${c}`, n])])
        add(keys.room(room), hash)
        add(keys.roomWindowBucket(oneSecond, s.second, room), hash)
        for (const category of ['words', 'nicks', 'emotes'] as const) {
          add(keys.roomTop(room, category), detail[category])
          add(keys.roomTopBucket(oneSecond, category, s.second, room), detail[category])
        }
      }
    }
    assert.deepEqual(counts, expected)
    // Member lists are shared by keys and merged across slices: fewer sent than one per slice and key.
    assert.ok(pairsSent < naivePairs, `${pairsSent} pairs sent for ${naivePairs} slice/key/member updates`)
    // The 5 s buckets of the first slices have ended by base + 30: they are rolled up in the same flush.
    assert.ok(rollups > 0)
  })

  it('writes the header the script expects', () => {
    const encoded = encodeBatch(batch(12, [slice(100, { messages: 3 }), slice(101, { messages: 4 })], {
      failedCount: 5,
      failedLog: [{ raw: 'a', reason: 'r', at: 1 }, { raw: 'b', reason: 'r', at: 2 }],
      lastEventId: 'id:1',
      lastMessageAt: 101_500
    }), { ...options, leaseToken: 'token', maxFailedLog: 1 })
    assert.deepEqual(encoded.keys.slice(0, FIXED_KEY_COUNT), [keys.lease, keys.position, keys.totals, keys.failedLog, keys.rollup])
    // No roll-up marks yet ('' assumed); then one failed log entry, then the sections.
    assert.deepEqual(encoded.args.slice(0, HEADER_ARG_COUNT + 1), ['token', '12', '1', 'id:1', '7', '5', '101500', String(options.nowMs), '1', String(TOP_LEVEL), '', '1', JSON.stringify({ raw: 'b', reason: 'r', at: 2 })])
    assert.equal(encoded.args.length, HEADER_ARG_COUNT + 2)
  })

  it('rejects malformed batches before sending anything', () => {
    const bad: Array<[string, Batch]> = [
      ['sequence', batch(-1, [])],
      ['second', batch(1, [slice(-5)])],
      ['messages', batch(1, [slice(5, { messages: 1.5 })])],
      ['count', batch(1, [slice(5, { words: { w: Number.NaN } })])],
      ['room count', batch(1, [slice(5, { roomDetail: { '#r': { nicks: { n: -1 } } } })])],
      ['failedCount', batch(1, [], { failedCount: -1 })]
    ]
    for (const [label, b] of bad) assert.throws(() => encodeBatch(b, options), RangeError, label)
  })
})
