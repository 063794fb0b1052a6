import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket, connect as connectTcp } from 'node:net'
import { after, describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'ioredis'
import { encodeBatch, FIXED_KEY_COUNT } from '../../src/store/redis/batch-encoding.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { createRedisClient, RedisStore, WINDOW_CACHE_MS } from '../../src/store/redis/redis-store.js'
import { type LuaScript, SCRIPTS } from '../../src/store/redis/scripts.js'
import { type Batch, type Counts, StoreUnavailableError } from '../../src/store/types.js'
import { bucketOf, bucketTtlSeconds, MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS, WINDOW_SPECS } from '../../src/store/windows.js'
import { batch, chatSlice, slice } from '../helpers/batches.js'
import { createTestRedis, deleteKeysWithPrefix, keysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'
import { runStoreContract } from './store-contract.js'

const admin = createTestRedis()
after(() => admin.quit())

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

/** Applies encoded groups the way apply-batch.lua does, into plain maps: key -> member -> count, and key -> param. */
function interpret (encoded: { keys: string[], args: string[] }): { counts: Map<string, Counts>, params: Map<string, number[]>, pairsSent: number } {
  let pairsSent = 0
  const counts = new Map<string, Counts>()
  const params = new Map<string, number[]>()
  const { keys, args } = encoded
  let a = 10 + Number(args[9]) // header, then the failed log entries
  let k = FIXED_KEY_COUNT
  while (a < args.length) {
    const op = args[a]
    assert.ok(op === 'z' || op === 'h', `op ${op}`)
    const keyCount = Number(args[a + 1])
    const pairCount = Number(args[a + 2])
    assert.ok(keyCount > 0 && pairCount > 0)
    const first = a + 3 + keyCount
    pairsSent += pairCount
    for (let j = 0; j < keyCount; j++) {
      const key = keys[k + j]!
      const into = counts.get(key) ?? new Map<string, number>()
      counts.set(key, into)
      for (let p = first; p < first + 2 * pairCount; p += 2) into.set(args[p]!, (into.get(args[p]!) ?? 0) + Number(args[p + 1]))
      params.set(key, [...(params.get(key) ?? []), Number(args[a + 3 + j])])
    }
    k += keyCount
    a = first + 2 * pairCount
  }
  assert.equal(k, keys.length, 'every key belongs to a group')
  return { counts, params, pairsSent }
}

describe('RedisStore (Redis specifics)', () => {
  describe('batch encoding', () => {
    const keys = new RedisKeys('ns:')
    const options = { keys, nowMs: 1_736_900_000_500, maxTrackedWords: 100, maxTrackedPerRoom: 10, maxFailedLog: 1000, leaseToken: '' }

    it('sends a one-second batch\'s member list once for the all-time key and the window buckets', () => {
      const s = chatSlice(1_736_900_000, [{ nick: 'ann', room: '#a', words: ['hello', 'hello', 'kappa'] }, { nick: 'bob', room: '#b', words: ['hello'] }])
      const encoded = encodeBatch(batch(1, [s]), options)
      // Global words once, then once in each of the two rooms.
      assert.equal(encoded.args.filter((a) => a === 'hello').length, 3)
      const { params } = interpret(encoded)
      assert.deepEqual(params.get(keys.top('words')), [-100])
      assert.deepEqual(params.get(keys.roomTop('#a', 'words')), [-10])
      assert.deepEqual(params.get(keys.room('#a')), [0])
      for (const spec of WINDOW_SPECS) {
        const bucket = bucketOf(spec, s.second)
        const expected = bucket * spec.bucketSeconds + bucketTtlSeconds(spec) - Math.floor(options.nowMs / 1000)
        assert.deepEqual(params.get(keys.windowBucket(spec, 'words', bucket)), [expected], spec.name)
        assert.deepEqual(params.get(keys.roomTopBucket(spec, 'nicks', bucket, '#b')), [expected], spec.name)
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
      const { counts, params, pairsSent } = interpret(encoded)
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
        for (const category of ['words', 'nicks', 'rooms', 'emotes'] as const) {
          add(keys.top(category), s[category])
          for (const spec of WINDOW_SPECS) add(keys.windowBucket(spec, category, bucketOf(spec, s.second)), s[category])
        }
        add(keys.events, s.events)
        add(keys.secondSeries(Math.floor(s.second / 60)), new Map([[String(s.second % 60), s.messages]]))
        add(keys.minuteSeries(Math.floor(s.second / 86400)), new Map([[String(Math.floor(s.second / 60) % 1440), s.messages]]))
        for (const [room, detail] of s.roomDetail) {
          const hash = new Map([['m', detail.messages], ...[...detail.events].map(([c, n]): [string, number] => [`e:${c}`, n])])
          add(keys.room(room), hash)
          for (const spec of WINDOW_SPECS) add(keys.roomWindowBucket(spec, bucketOf(spec, s.second), room), hash)
          for (const category of ['words', 'nicks', 'emotes'] as const) {
            add(keys.roomTop(room, category), detail[category])
            for (const spec of WINDOW_SPECS) add(keys.roomTopBucket(spec, category, bucketOf(spec, s.second), room), detail[category])
          }
        }
      }
      assert.deepEqual(counts, expected)
      // Member lists are shared by keys and merged across slices: fewer sent than one per slice and key.
      assert.ok(pairsSent * 2 < naivePairs, `${pairsSent} pairs sent for ${naivePairs} slice/key/member updates`)
    })

    it('writes the header the script expects', () => {
      const encoded = encodeBatch(batch(12, [slice(100, { messages: 3 }), slice(101, { messages: 4 })], {
        failedCount: 5,
        failedLog: [{ raw: 'a', reason: 'r', at: 1 }, { raw: 'b', reason: 'r', at: 2 }],
        lastEventId: 'id:1',
        lastMessageAt: 101_500
      }), { ...options, leaseToken: 'token', maxFailedLog: 1 })
      assert.deepEqual(encoded.keys.slice(0, FIXED_KEY_COUNT), [keys.lease, keys.position, keys.totals, keys.failedLog])
      assert.deepEqual(encoded.args.slice(0, 11), ['token', '12', '1', 'id:1', '7', '5', '101500', String(options.nowMs), '1', '1', JSON.stringify({ raw: 'b', reason: 'r', at: 2 })])
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
      const patterns: Array<[RegExp, string, 'none' | 'bucket' | 'second-series' | 'minute-series' | 'cache' | 'lease']> = [
        [/^lease$/, 'string', 'lease'],
        [/^position$/, 'string', 'none'],
        [/^totals$/, 'hash', 'none'],
        [/^events$/, 'hash', 'none'],
        [/^failed$/, 'list', 'none'],
        [/^top:(words|nicks|rooms|emotes)$/, 'zset', 'none'],
        [/^win:(1m|5m|15m|1h|24h):(words|nicks|rooms|emotes):\d+$/, 'zset', 'bucket'],
        [/^sec:\d+$/, 'hash', 'second-series'],
        [/^min:\d+$/, 'hash', 'minute-series'],
        [/^room:#a:b$/, 'hash', 'none'],
        [/^rtop:(words|nicks|emotes):#a:b$/, 'zset', 'none'],
        [/^rwin:(1m|5m|15m|1h|24h):\d+:#a:b$/, 'hash', 'bucket'],
        [/^rwtop:(1m|5m|15m|1h|24h):(words|nicks|emotes):\d+:#a:b$/, 'zset', 'bucket'],
        [/^cache:(1m|5m|15m|1h|24h):words:\d+$/, 'zset', 'cache'],
        [/^rcache:(1m|5m|15m|1h|24h):nicks:\d+:#a:b$/, 'zset', 'cache']
      ]
      const found = await keysWithPrefix(admin, namespace)
      assert.equal(found.length, 1 + 1 + 1 + 1 + 1 + 4 + 20 + 1 + 1 + 1 + 3 + 5 + 15 + 5 + 5)
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
            const parts = rest.split(':')
            const spec = WINDOW_SPECS.find((s) => s.name === parts[1])!
            const bucket = Number(parts[0] === 'rwin' ? parts[2] : parts[3])
            assert.equal(bucket, bucketOf(spec, second))
            deadline = bucket * spec.bucketSeconds + bucketTtlSeconds(spec)
          }
          const ttl = deadline - nowSecond
          assert.ok(pttl <= ttl * 1000 && pttl > (ttl - 5) * 1000, `${rest} pttl ${pttl}, expected about ${ttl} s`)
        }
      }
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
