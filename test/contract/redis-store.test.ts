import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket, connect as connectTcp } from 'node:net'
import { after, describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'ioredis'
import { levelOf, longDeadline } from '../../src/store/redis/levels.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { createRedisClient, type RedisClient, RedisStore, WINDOW_CACHE_MS } from '../../src/store/redis/redis-store.js'
import { COMMAND_SCRIPTS, type LuaScript } from '../../src/store/redis/scripts.js'
import { evalPrepared } from '../../src/store/redis/script-runner.js'
import { StoreUnavailableError } from '../../src/store/types.js'
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

describe('RedisStore (Redis specifics)', () => {
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
      const source = `${COMMAND_SCRIPTS.leaseAcquire.source}\n-- ${randomBytes(8).toString('hex')}\n`
      const script: LuaScript = { ...COMMAND_SCRIPTS.leaseAcquire, source, sha: createHash('sha1').update(source).digest('hex') }
      assert.deepEqual(await admin.script('EXISTS', script.sha), [0])
      assert.equal(await evalPrepared((store as unknown as { redis: RedisClient }).redis, script, [`${namespace}lease`], ['me', '10000']), 1)
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
