import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket, connect as connectTcp } from 'node:net'
import { after, describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'ioredis'
import { type EncodedBatch, encodeBatch, FIELD_END, FIXED_KEY_COUNT, HEADER_ARG_COUNT, STREAM_WIDE } from '../../src/store/redis/batch-encoding.js'
import { levelOf, longDeadline, TOP_LEVEL } from '../../src/store/redis/levels.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { createRedisClient, RedisStore, WINDOW_CACHE_MS } from '../../src/store/redis/redis-store.js'
import { type LuaScript, SCRIPTS } from '../../src/store/redis/scripts.js'
import { type Batch, type Counts, StoreUnavailableError } from '../../src/store/types.js'
import { bucketOf, MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS, WINDOW_SPECS } from '../../src/store/windows.js'
import { batch, chatSlice, slice } from '../helpers/batches.js'
import { createTestRedis, deleteKeysWithPrefix, keysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'
import { runStoreContract } from './store-contract.js'

const admin = createTestRedis()
after(() => admin.quit())
const keys = (namespace: string): RedisKeys => new RedisKeys(namespace)

interface Made {
  store: RedisStore
  namespace: string
  clock: { now: number }
}

/** A Redis store on its own random namespace, deleted after the test. */
async function makeStore (t: TestContext, options: { now?: number, maxTrackedWords?: number, maxTrackedPerRoom?: number } = {}): Promise<Made> {
  const namespace = randomPrefix()
  const clock = { now: options.now ?? Date.now() }
  const store = new RedisStore({
    redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }),
    namespace,
    clock: () => clock.now,
    maxTrackedWords: options.maxTrackedWords ?? 1000,
    maxTrackedPerRoom: options.maxTrackedPerRoom ?? 1000
  })
  t.after(async () => {
    await store.close()
    await deleteKeysWithPrefix(admin, namespace)
  })
  await store.open()
  return { store, namespace, clock }
}

runStoreContract('RedisStore', async ({ clock, maxTrackedWords, maxTrackedPerRoom }) => {
  const namespace = randomPrefix()
  const store = new RedisStore({
    redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }),
    namespace,
    clock,
    maxTrackedWords,
    maxTrackedPerRoom
  })
  return {
    store,
    cleanup: async () => {
      await store.close()
      await deleteKeysWithPrefix(admin, namespace)
    }
  }
})

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

describe('RedisStore (Redis specifics)', () => {
  describe('batch encoding', () => {
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

  describe('key layout', () => {
    it('puts every key under the namespace, with the documented types and expiries', async (t) => {
      const now = Date.UTC(2025, 0, 15, 12, 0, 30, 250)
      const { store, namespace, clock } = await makeStore(t, { now })
      const second = Math.floor(now / 1000)
      await store.applyBatch(batch(1, [chatSlice(second, [{ nick: 'ann', room: '#a:b', words: ['w'], emotes: ['Kappa'] }], [{ command: 'CLEARCHAT', room: '#a:b' }])], {
        failedLog: [{ raw: 'x', reason: 'y', at: now }], lastEventId: '1'
      }))
      await store.acquireLease('token', 60_000)
      for (const spec of WINDOW_SPECS) {
        await store.top('words', { window: spec.name, limit: 10 })
        await store.roomTop('#a:b', 'nicks', { window: spec.name, limit: 10 })
      }
      const patterns: Array<[RegExp, string, 'none' | 'pending' | 'second-series' | 'minute-series' | 'cache' | 'lease']> = [
        [/^lease$/, 'string', 'lease'],
        [/^position$/, 'string', 'none'],
        [/^totals$/, 'hash', 'none'],
        [/^events$/, 'hash', 'none'],
        [/^failed$/, 'list', 'none'],
        [/^rollup$/, 'hash', 'none'],
        [/^top:(words|nicks|rooms|emotes)$/, 'zset', 'none'],
        // Only 1 s buckets are written; the coarser ones of this second are still open, so not rolled up yet.
        [/^win:1m:(words|nicks|rooms|emotes):\d+$/, 'zset', 'pending'],
        [/^sec:\d+$/, 'hash', 'second-series'],
        [/^min:\d+$/, 'hash', 'minute-series'],
        [/^room:#a:b$/, 'hash', 'none'],
        [/^rtop:(words|nicks|emotes):#a:b$/, 'zset', 'none'],
        [/^rwin:1m:\d+:#a:b$/, 'zset', 'pending'],
        [/^rwtop:1m:(words|nicks|emotes):\d+:#a:b$/, 'zset', 'pending'],
        [/^rooms:(5m|15m|1h|24h):\d+$/, 'set', 'pending'],
        [/^cache:(1m|5m|15m|1h|24h):words:\d+$/, 'zset', 'cache'],
        [/^rcache:(1m|5m|15m|1h|24h):nicks:\d+:#a:b$/, 'zset', 'cache']
      ]
      const found = await keysWithPrefix(admin, namespace)
      assert.equal(found.length, 6 + 4 + 4 + 1 + 1 + 1 + 3 + 1 + 3 + 4 + 5 + 5)
      const nowSecond = Math.floor(clock.now / 1000)
      for (const key of found) {
        const rest = key.slice(namespace.length)
        const match = patterns.find(([pattern]) => pattern.test(rest))
        assert.ok(match !== undefined, `unexpected key ${rest}`)
        const [, type, expiry] = match
        assert.equal(await admin.type(key), type, rest)
        const pttl = await admin.pttl(key)
        if (expiry === 'none') {
          assert.equal(pttl, -1, `${rest} never expires`)
        } else if (expiry === 'cache') {
          assert.ok(pttl > 0 && pttl <= WINDOW_CACHE_MS, `${rest} pttl ${pttl}`)
        } else if (expiry === 'lease') {
          assert.ok(pttl > 0 && pttl <= 60_000)
        } else {
          let deadline: number
          if (expiry === 'second-series') deadline = (Number(rest.split(':')[1]) + 1) * 60 + SECOND_SERIES_RETENTION_SECONDS
          else if (expiry === 'minute-series') deadline = (Number(rest.split(':')[1]) + 1) * 86400 + MINUTE_SERIES_RETENTION_SECONDS
          else {
            // Not rolled up yet: kept as long as the 24 h window might read it.
            const parts = rest.split(':')
            const spec = WINDOW_SPECS.find((s) => s.name === parts[1])!
            const bucket = Number(parts[0] === 'rwin' || parts[0] === 'rooms' ? parts[2] : parts[3])
            assert.equal(bucket, bucketOf(spec, second))
            deadline = longDeadline(levelOf(spec).index, bucket)
          }
          const ttl = deadline - nowSecond
          assert.ok(pttl <= ttl * 1000 && pttl > (ttl - 5) * 1000, `${rest} pttl ${pttl}, expected about ${ttl} s`)
        }
      }
    })
  })

  describe('window roll-ups', () => {
    const oneSecond = WINDOW_SPECS.find((spec) => spec.bucketSeconds === 1)!
    const fiveSeconds = WINDOW_SPECS.find((spec) => spec.bucketSeconds === 5)!

    it('builds a coarser bucket from its children once it has ended, and then keeps the children only as long as their own window', async (t) => {
      const start = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000 // a 1440 s bucket starts here
      const { store, namespace, clock } = await makeStore(t, { now: (start + 1) * 1000 })
      const lines = (word: string): Parameters<typeof chatSlice>[1] => [{ nick: 'ann', room: '#a', words: [word] }]
      await store.applyBatch(batch(1, [chatSlice(start + 1, lines('x')), chatSlice(start + 3, lines('y'))]))
      assert.equal(await admin.exists(keys(namespace).windowBucket(fiveSeconds, 'words', start / 5)), 0, 'open: not rolled up')
      clock.now = (start + 6) * 1000
      await store.applyBatch(batch(2, [chatSlice(start + 6, lines('x'))]))
      const k = keys(namespace)
      const rolled = k.windowBucket(fiveSeconds, 'words', start / 5)
      assert.deepEqual(await admin.zrange(rolled, 0, -1, 'WITHSCORES'), ['x', '1', 'y', '1'])
      assert.deepEqual(await admin.zrange(k.roomTopBucket(fiveSeconds, 'nicks', start / 5, '#a'), 0, -1, 'WITHSCORES'), ['ann', '2'])
      assert.deepEqual(await admin.zrange(k.roomWindowBucket(fiveSeconds, start / 5, '#a'), 0, -1, 'WITHSCORES'), ['m', '2'])
      assert.equal(await admin.hget(k.rollup, '1'), String(start / 5))
      assert.equal(await admin.exists(k.rollupRooms(fiveSeconds, start / 5)), 0, 'the index of a rolled-up bucket is gone')
      // The 5 s bucket waits for its 15 s parent: it lives as long as the 24 h window may need it; its children as long as the 1m window.
      const pttl = await admin.pttl(rolled)
      assert.ok(Math.abs(pttl - (longDeadline(1, start / 5) - (start + 6)) * 1000) < 5000, `rolled-up pttl ${pttl}`)
      const childPttl = await admin.pttl(k.windowBucket(oneSecond, 'words', start + 1))
      assert.ok(Math.abs(childPttl - (start + 1 + 62 - (start + 6)) * 1000) < 5000, `child pttl ${childPttl}`)
      // Every window still reads the same counts.
      assert.deepEqual(await store.top('words', { window: '5m', limit: 10 }), [{ value: 'x', count: 2 }, { value: 'y', count: 1 }])
      assert.deepEqual(await store.roomTop('#a', 'words', { window: '24h', limit: 10 }), [{ value: 'x', count: 2 }, { value: 'y', count: 1 }])
      assert.deepEqual(await store.roomTotals('#a', '15m'), { messages: 3, events: {} })
    })

    it('a new writer rolls up what the previous one left, and the previous one carries on after it (marks moved: it re-reads them)', async (t) => {
      const start = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000
      const { store: first, namespace, clock } = await makeStore(t, { now: (start + 1) * 1000 })
      await first.applyBatch(batch(1, [chatSlice(start + 1, [{ nick: 'ann', room: '#a', words: ['x'] }])]))
      const second = new RedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }), namespace, clock: () => clock.now, maxTrackedWords: 1000, maxTrackedPerRoom: 1000 })
      t.after(() => second.close())
      await second.open()
      clock.now = (start + 7) * 1000
      // #a was written only by the first store; the second learns it from the index.
      await second.applyBatch(batch(2, [chatSlice(start + 7, [{ nick: 'bob', room: '#b', words: ['y'] }])]))
      assert.deepEqual(await admin.zrange(keys(namespace).roomTopBucket(fiveSeconds, 'words', start / 5, '#a'), 0, -1, 'WITHSCORES'), ['x', '1'])
      clock.now = (start + 16) * 1000
      assert.equal(await first.applyBatch(batch(3, [chatSlice(start + 16, [{ nick: 'cid', room: '#a', words: ['x'] }])])), 'applied')
      assert.deepEqual(await first.top('words', { window: 'all', limit: 10 }), [{ value: 'x', count: 2 }, { value: 'y', count: 1 }])
      assert.deepEqual(await first.roomTop('#a', 'words', { window: '15m', limit: 10 }), [{ value: 'x', count: 2 }])
      assert.deepEqual(await second.top('words', { window: '1h', limit: 10 }), [{ value: 'x', count: 2 }, { value: 'y', count: 1 }])
    })

    it('a reader rolls up what is due when no worker writes any more', async (t) => {
      const start = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000
      const { store, namespace, clock } = await makeStore(t, { now: (start + 2) * 1000 })
      await store.applyBatch(batch(1, [chatSlice(start + 2, [{ nick: 'ann', room: '#a', words: ['x'] }])]))
      clock.now = (start + 200) * 1000
      const reader = new RedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }), namespace, clock: () => clock.now, maxTrackedWords: 1000, maxTrackedPerRoom: 1000 })
      t.after(() => reader.close())
      await reader.open()
      assert.deepEqual(await reader.top('words', { window: '5m', limit: 10 }), [{ value: 'x', count: 1 }])
      const k = keys(namespace)
      assert.deepEqual(await admin.zrange(k.windowBucket(fiveSeconds, 'words', start / 5), 0, -1, 'WITHSCORES'), ['x', '1'])
      assert.equal(Number(await admin.hget(k.rollup, '1')), (start + 200) / 5 - 1, 'the marks caught up with the clock')
      assert.deepEqual(await reader.roomTotals('#a', '24h'), { messages: 1, events: {} })
      // The writer's next flush finds the marks moved, re-reads them and applies.
      assert.equal(await store.applyBatch(batch(2, [chatSlice(start + 200, [{ nick: 'bob', room: '#a', words: ['x'] }])])), 'applied')
      assert.deepEqual(await store.roomTop('#a', 'words', { window: '5m', limit: 10 }), [{ value: 'x', count: 2 }])
    })
  })

  describe('round trips and caching', () => {
    it('applies a batch with one command', async (t) => {
      const { store, clock } = await makeStore(t)
      const redis = (store as unknown as { redis: { sendCommand: (command: Command, ...rest: unknown[]) => unknown } }).redis
      const sent: string[] = []
      const original = redis.sendCommand.bind(redis)
      redis.sendCommand = (command: Command, ...rest: unknown[]) => {
        sent.push(command.name)
        return original(command, ...rest)
      }
      const second = Math.floor(clock.now / 1000)
      const lines = Array.from({ length: 500 }, (_, i) => ({ nick: `n${i % 50}`, room: `#r${i % 20}`, words: [`w${i}`, 'common'], emotes: ['Kappa'] }))
      await store.applyBatch(batch(1, [chatSlice(second - 1, lines), chatSlice(second, lines)], { lastEventId: 'x' }), undefined)
      assert.deepEqual(sent, ['evalsha'])
    })

    it('serves a window from a cache for up to a second and all time at once', async (t) => {
      const { store, namespace, clock } = await makeStore(t)
      const second = Math.floor(clock.now / 1000)
      await store.applyBatch(batch(1, [chatSlice(second, [{ nick: 'ann', words: ['w'] }])]))
      const first = await store.top('words', { window: '1h', limit: 10 })
      assert.deepEqual(first, [{ value: 'w', count: 1 }])
      await store.applyBatch(batch(2, [chatSlice(second, [{ nick: 'ann', words: ['w'] }])]))
      assert.deepEqual(await store.top('words', { window: 'all', limit: 10 }), [{ value: 'w', count: 2 }])
      const cacheKeys = await keysWithPrefix(admin, `${namespace}cache:`)
      assert.equal(cacheKeys.length, 1)
      if (await admin.exists(cacheKeys[0]!) === 1) {
        // Still cached (it lives 1 s): the same answer without a new union.
        assert.deepEqual(await store.top('words', { window: '1h', limit: 10 }), first)
      }
      await admin.unlink(cacheKeys[0]!) // as if its second had passed
      assert.deepEqual(await store.top('words', { window: '1h', limit: 10 }), [{ value: 'w', count: 2 }])
    })

    it('loads a script again when Redis no longer has it (NOSCRIPT)', async (t) => {
      const { store, namespace } = await makeStore(t)
      // A variant of a real script that this server has never seen (SCRIPT FLUSH would disturb other tests).
      const source = `${SCRIPTS.leaseAcquire.source}\n-- ${randomBytes(8).toString('hex')}\n`
      const script: LuaScript = { ...SCRIPTS.leaseAcquire, source, sha: createHash('sha1').update(source).digest('hex') }
      assert.deepEqual(await admin.script('EXISTS', script.sha), [0])
      const evalScript = (store as unknown as { evalScript: (s: LuaScript, keys: string[], args: string[]) => Promise<unknown> }).evalScript.bind(store)
      assert.equal(await evalScript(script, [`${namespace}lease`], ['me', '10000']), 1)
      assert.equal(await admin.get(`${namespace}lease`), 'me')
      assert.deepEqual(await admin.script('EXISTS', script.sha), [1])
    })

    it('handles a batch of 40,000 distinct words and trims the all-time list', async (t) => {
      const { store, namespace, clock } = await makeStore(t, { maxTrackedWords: 25_000 })
      const second = Math.floor(clock.now / 1000)
      const words = new Map<string, number>()
      for (let i = 0; i < 40_000; i++) words.set(`word${i}`, 1 + (i % 7))
      await store.applyBatch(batch(1, [slice(second, { messages: 40_000, words })]))
      assert.equal(await admin.zcard(`${namespace}top:words`), 25_000)
      assert.equal(await admin.zcard(`${namespace}win:1m:words:${second}`), 40_000)
      const expected = [...words].filter(([, n]) => n === 7).map(([value]) => value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).slice(0, 3)
      assert.deepEqual(await store.top('words', { window: 'all', limit: 3 }), expected.map((value) => ({ value, count: 7 })))
    })
  })

  describe('when Redis is unreachable', () => {
    /** A TCP proxy to the test Redis that can be cut and restored on the same port. */
    async function startProxy (t: TestContext): Promise<{ port: number, cut: () => Promise<void>, restore: () => Promise<void> }> {
      const sockets = new Set<Socket>()
      let server: Server
      const listen = async (port: number): Promise<number> => {
        server = createServer((client) => {
          const upstream = connectTcp(TEST_REDIS.port, TEST_REDIS.host)
          sockets.add(client).add(upstream)
          client.pipe(upstream).pipe(client)
          const drop = (): void => { client.destroy(); upstream.destroy() }
          client.on('error', drop).on('close', drop)
          upstream.on('error', drop).on('close', drop)
        })
        server.listen(port, '127.0.0.1')
        await once(server, 'listening')
        return (server.address() as AddressInfo).port
      }
      const port = await listen(0)
      const cut = async (): Promise<void> => {
        const closed = new Promise((resolve) => server.close(resolve))
        for (const socket of sockets) socket.destroy()
        sockets.clear()
        await closed
      }
      t.after(cut)
      return { port, cut, restore: async () => { await listen(port) } }
    }

    it('fails fast with StoreUnavailableError while down and recovers when Redis is back', async (t) => {
      const proxy = await startProxy(t)
      const namespace = randomPrefix()
      const store = new RedisStore({
        redis: createRedisClient({ host: '127.0.0.1', port: proxy.port, commandTimeoutMs: 1000, maxReconnectDelayMs: 100 }),
        namespace,
        maxTrackedWords: 100,
        maxTrackedPerRoom: 100
      })
      t.after(async () => {
        await store.close()
        await deleteKeysWithPrefix(admin, namespace)
      })
      await store.open()
      const second = Math.floor(Date.now() / 1000)
      assert.equal(await store.applyBatch(batch(1, [chatSlice(second, [{ nick: 'a', words: ['w'] }])])), 'applied')

      await proxy.cut()
      await assert.rejects(store.ping(), StoreUnavailableError)
      await assert.rejects(store.applyBatch(batch(2, [chatSlice(second, [{ nick: 'a', words: ['w'] }])])), StoreUnavailableError)
      await assert.rejects(store.top('words', { window: 'all', limit: 10 }), StoreUnavailableError)
      await assert.rejects(store.acquireLease('t', 1000), StoreUnavailableError)

      await proxy.restore()
      let recovered = false
      for (let attempt = 0; attempt < 100 && !recovered; attempt++) {
        recovered = await store.ping().then(() => true, () => false)
        if (!recovered) await sleep(50)
      }
      assert.ok(recovered, 'the client reconnected by itself')
      assert.equal(await store.applyBatch(batch(2, [chatSlice(second, [{ nick: 'a', words: ['w'] }])])), 'applied')
      assert.deepEqual(await store.top('words', { window: 'all', limit: 10 }), [{ value: 'w', count: 2 }])
    })

    it('rejects open() with StoreUnavailableError when nothing listens or nothing answers', async (t) => {
      const silentSockets = new Set<Socket>()
      const silent = createServer((socket) => { silentSockets.add(socket) }) // accepts connections, never answers
      silent.listen(0, '127.0.0.1')
      await once(silent, 'listening')
      const silentPort = (silent.address() as AddressInfo).port
      const closed = createServer()
      closed.listen(0, '127.0.0.1')
      await once(closed, 'listening')
      const closedPort = (closed.address() as AddressInfo).port
      await new Promise((resolve) => closed.close(resolve))
      t.after(() => {
        for (const socket of silentSockets) socket.destroy()
        silent.close()
      })

      for (const port of [closedPort, silentPort]) {
        const store = new RedisStore({
          redis: createRedisClient({ host: '127.0.0.1', port, commandTimeoutMs: 300 }),
          namespace: randomPrefix(),
          maxTrackedWords: 100,
          maxTrackedPerRoom: 100,
          commandTimeoutMs: 300
        })
        await assert.rejects(store.open(), StoreUnavailableError, `port ${port}`)
        await assert.rejects(store.ping(), StoreUnavailableError)
        await assert.rejects(store.position(), StoreUnavailableError)
        await store.close()
        await store.close()
      }
    })
  })
})
