import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket, connect as connectTcp } from 'node:net'
import { after, describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'ioredis'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { createRedisClient, type RedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import { COMMAND_SCRIPTS, type LuaScript } from '../../src/store/redis/scripts.js'
import { evalPrepared } from '../../src/store/redis/script-runner.js'
import { StoreUnavailableError } from '../../src/store/types.js'
import { MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS, WINDOW_SPECS } from '../../src/store/windows.js'
import { longDeadline } from '../../src/store/windows/levels.js'
import { decodeRoomValue, decodeTrimmed } from '../../src/store/windows/serialise.js'
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
async function makeStore (t: TestContext, options: { now?: number, maxTrackedWords?: number, maxTrackedPerRoom?: number, maxTrackedRooms?: number, windowTop?: number } = {}): Promise<Made> {
  const namespace = randomPrefix()
  const clock = { now: options.now ?? Date.now() }
  const store = new RedisStore({
    redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }),
    namespace,
    clock: () => clock.now,
    maxTrackedWords: options.maxTrackedWords ?? 1000,
    maxTrackedPerRoom: options.maxTrackedPerRoom ?? 1000,
    maxTrackedRooms: options.maxTrackedRooms,
    windowTop: options.windowTop
  })
  t.after(async () => {
    await store.close()
    await deleteKeysWithPrefix(admin, namespace)
  })
  await store.open()
  return { store, namespace, clock }
}

runStoreContract('RedisStore', async (bounds) => {
  const namespace = randomPrefix()
  const store = new RedisStore({
    redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }),
    namespace,
    ...bounds
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
      const patterns: Array<[RegExp, string, 'none' | 'pending' | 'second-series' | 'minute-series' | 'lease']> = [
        [/^lease$/, 'string', 'lease'],
        [/^position$/, 'string', 'none'],
        [/^totals$/, 'hash', 'none'],
        [/^events$/, 'hash', 'none'],
        [/^failed$/, 'list', 'none'],
        [/^windows$/, 'hash', 'none'],
        [/^tracked$/, 'zset', 'none'],
        [/^top:(words|nicks|rooms|emotes)$/, 'zset', 'none'],
        // Only 1 s values are written; their parents are not built yet, so they live as long as the 24 h window may need them.
        [/^win:0:(words|nicks|rooms|emotes):\d+$/, 'string', 'pending'],
        [/^sec:\d+$/, 'hash', 'second-series'],
        [/^min:\d+$/, 'hash', 'minute-series'],
        [/^room:#a:b$/, 'hash', 'none'],
        [/^rtop:(words|nicks|emotes):#a:b$/, 'zset', 'none'],
        [/^rwin:0:\d+$/, 'hash', 'pending']
      ]
      const found = await keysWithPrefix(admin, namespace)
      assert.equal(found.length, 7 + 4 + 4 + 1 + 1 + 1 + 3 + 1)
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
        } else if (expiry === 'lease') {
          assert.ok(pttl > 0 && pttl <= 60_000)
        } else {
          let deadline: number
          if (expiry === 'second-series') deadline = (Number(rest.split(':')[1]) + 1) * 60 + SECOND_SERIES_RETENTION_SECONDS
          else if (expiry === 'minute-series') deadline = (Number(rest.split(':')[1]) + 1) * 86400 + MINUTE_SERIES_RETENTION_SECONDS
          else {
            const bucket = Number(rest.split(':').at(-1))
            assert.equal(bucket, second)
            deadline = longDeadline(0, bucket)
          }
          const ttl = deadline - nowSecond
          assert.ok(pttl <= ttl * 1000 && pttl > (ttl - 5) * 1000, `${rest} pttl ${pttl}, expected about ${ttl} s`)
        }
      }
      // The seed's data model stays visible: the all-time lists are sorted sets.
      assert.deepEqual(await admin.zrevrange(`${namespace}top:words`, 0, -1, 'WITHSCORES'), ['w', '1'])
    })
  })

  describe('window buckets', () => {
    const lines = (word: string, room = '#a'): Parameters<typeof chatSlice>[1] => [{ nick: 'ann', room, words: [word] }]

    it('builds a coarser bucket from its children once they are final, then keeps the children only as long as their own window', async (t) => {
      const start = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000 // a 1440 s bucket starts here
      const { store, namespace, clock } = await makeStore(t, { now: (start + 1) * 1000 })
      await store.applyBatch(batch(1, [chatSlice(start + 1, lines('x')), chatSlice(start + 3, lines('y'))]))
      const k = keys(namespace)
      assert.equal(await admin.exists(k.windowValue(1, 'words', start / 5)), 0, 'open: not built')
      // Past the lateness allowance (10 s) the 5 s bucket is final: built in the same flush.
      clock.now = (start + 16) * 1000
      await store.applyBatch(batch(2, [chatSlice(start + 16, lines('x'))]))
      assert.deepEqual(decodeTrimmed((await admin.get(k.windowValue(1, 'words', start / 5)))!), { entries: [{ value: 'x', count: 1 }, { value: 'y', count: 1 }], err: 0 })
      const room = decodeRoomValue((await admin.hget(k.roomWindowValues(1, start / 5), '#a'))!)
      assert.equal(room.messages, 2)
      assert.deepEqual(room.nicks.entries, [{ value: 'ann', count: 2 }])
      // The 5 s bucket waits for its 15 s parent... which is final too now (start+15 < floor): built, so the 5 s one serves only its own window.
      const childPttl = await admin.pttl(k.windowValue(0, 'words', start + 1))
      assert.ok(Math.abs(childPttl - (start + 1 + 62 - (start + 16)) * 1000) < 5000, `child pttl ${childPttl}`)
      // Every window still reads the same counts, exactly.
      assert.deepEqual(await store.top('words', { window: '5m', limit: 10 }), { entries: [{ value: 'x', count: 2 }, { value: 'y', count: 1 }], maxError: 0 })
      assert.deepEqual(await store.roomTop('#a', 'words', { window: '24h', limit: 10 }), { entries: [{ value: 'x', count: 2 }, { value: 'y', count: 1 }], maxError: 0 })
      assert.deepEqual(await store.roomTotals('#a', '15m'), { messages: 3, events: {}, tracked: true, firstSeenAt: (start + 1) * 1000 })
    })

    it('trims closed buckets to windowTop and says by how much a windowed answer can be off', async (t) => {
      const start = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000
      const { store, clock } = await makeStore(t, { now: (start + 1) * 1000, windowTop: 2 })
      await store.applyBatch(batch(1, [slice(start + 1, { messages: 6, words: { a: 3, b: 2, c: 1 } })]))
      // The open second is trimmed from exact counts: c (1) is dropped, err 1.
      assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }), { entries: [{ value: 'a', count: 3 }, { value: 'b', count: 2 }], maxError: 1 })
      clock.now = (start + 2) * 1000
      await store.applyBatch(batch(2, [slice(start + 2, { messages: 1, words: { c: 5 } })]))
      assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }), { entries: [{ value: 'c', count: 5 }, { value: 'a', count: 3 }, { value: 'b', count: 2 }], maxError: 1 })
      // All time stays exact.
      assert.deepEqual(await store.top('words', { window: 'all', limit: 10 }), { entries: [{ value: 'c', count: 6 }, { value: 'a', count: 3 }, { value: 'b', count: 2 }], maxError: 0 })
    })

    it('merges counts that arrive after their second is final into the stored values', async (t) => {
      const start = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000
      const { store, clock } = await makeStore(t, { now: (start + 100) * 1000 })
      await store.applyBatch(batch(1, [chatSlice(start + 100, lines('x'))]))
      // 90 s late: its 1 s bucket is gone from the 1m window, but the 5m, 1h and 24h windows count it.
      await store.applyBatch(batch(2, [chatSlice(start + 10, lines('late'))]))
      assert.deepEqual((await store.top('words', { window: '1m', limit: 10 })).entries, [{ value: 'x', count: 1 }])
      for (const window of ['5m', '1h', '24h'] as const) {
        assert.deepEqual((await store.top('words', { window, limit: 10 })).entries, [{ value: 'late', count: 1 }, { value: 'x', count: 1 }], window)
      }
      assert.deepEqual(await store.roomTotals('#a', '1h'), { messages: 2, events: {}, tracked: true, firstSeenAt: (start + 10) * 1000 })
      clock.now = (start + 400) * 1000
      assert.deepEqual((await store.top('words', { window: '5m', limit: 10 })).entries, [])
      assert.deepEqual((await store.top('words', { window: '1h', limit: 10 })).entries, [{ value: 'late', count: 1 }, { value: 'x', count: 1 }])
    })

    it('a new writer carries on from the persisted state, and the previous one after it', async (t) => {
      const start = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000
      const { store: first, namespace, clock } = await makeStore(t, { now: (start + 1) * 1000 })
      await first.applyBatch(batch(1, [chatSlice(start + 1, lines('x'))]))
      const second = new RedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }), namespace, clock: () => clock.now, maxTrackedWords: 1000, maxTrackedPerRoom: 1000 })
      t.after(() => second.close())
      await second.open()
      clock.now = (start + 20) * 1000
      // Second 1 was written by the first store; the second builds its parents from what Redis holds.
      await second.applyBatch(batch(2, [chatSlice(start + 20, lines('y', '#b'))]))
      assert.deepEqual(decodeTrimmed((await admin.get(keys(namespace).windowValue(1, 'words', start / 5)))!).entries, [{ value: 'x', count: 1 }])
      clock.now = (start + 40) * 1000
      assert.equal(await first.acquireLease('first', 10_000), true)
      assert.equal(await first.applyBatch(batch(3, [chatSlice(start + 40, lines('x'))]), 'first'), 'applied')
      assert.deepEqual((await first.top('words', { window: 'all', limit: 10 })).entries, [{ value: 'x', count: 2 }, { value: 'y', count: 1 }])
      assert.deepEqual((await second.top('words', { window: '1h', limit: 10 })).entries, [{ value: 'x', count: 2 }, { value: 'y', count: 1 }])
      assert.deepEqual((await first.roomTop('#a', 'words', { window: '15m', limit: 10 })).entries, [{ value: 'x', count: 2 }])
    })
  })

  describe('tracked rooms', () => {
    it('keeps detail for the most active rooms only; a room that leaves loses all of it at once', async (t) => {
      const { store, namespace, clock } = await makeStore(t, { maxTrackedRooms: 2 })
      const second = Math.floor(clock.now / 1000)
      const say = (room: string, n: number): Parameters<typeof chatSlice>[1] => Array.from({ length: n }, () => ({ nick: 'ann', room, words: [`in${room}`] }))
      await store.applyBatch(batch(1, [chatSlice(second, [...say('#a', 3), ...say('#b', 2)])]))
      await store.applyBatch(batch(2, [chatSlice(second, say('#c', 1))]))
      // #c (1) is below both: it does not enter; its count is in the rooms list.
      assert.deepEqual(await store.roomTotals('#c', 'all'), { messages: 1, events: {}, tracked: false, firstSeenAt: null })
      assert.deepEqual(await store.roomTop('#c', 'words', { window: 'all', limit: 10 }), { entries: [], maxError: 0 })
      assert.deepEqual(await store.roomTotals('#c', '1m'), { messages: 0, events: {}, tracked: false, firstSeenAt: null })
      await store.applyBatch(batch(3, [chatSlice(second, say('#c', 4))]))
      // #c (5 all time) enters and #b (2) leaves, with every detail key it had.
      const k = keys(namespace)
      assert.deepEqual(await admin.zrange(k.tracked, 0, -1, 'WITHSCORES'), ['#a', '3', '#c', '5'])
      assert.equal(await admin.exists(k.room('#b'), k.roomTop('#b', 'words'), k.roomTop('#b', 'nicks')), 0)
      assert.equal(await admin.hexists(k.roomWindowValues(0, second), '#b'), 0)
      assert.deepEqual(await store.roomTotals('#b', 'all'), { messages: 2, events: {}, tracked: false, firstSeenAt: null })
      // #c's messages are its all-time count; its lists start when it entered.
      assert.deepEqual(await store.roomTotals('#c', 'all'), { messages: 5, events: {}, tracked: true, firstSeenAt: second * 1000 })
      assert.deepEqual((await store.roomTop('#c', 'words', { window: '1m', limit: 10 })).entries, [{ value: 'in#c', count: 4 }])
      assert.equal(await store.roomTotals('#never', 'all'), null)
    })
  })

  describe('first-seen times', () => {
    it('keeps a tracked room\'s first-seen second in field f of its hash; a room tracked before (no f) stays unknown', async (t) => {
      const { store, namespace, clock } = await makeStore(t)
      const second = Math.floor(clock.now / 1000)
      const k = keys(namespace)
      await store.applyBatch(batch(1, [chatSlice(second, [{ nick: 'ann', room: '#a', words: ['x'] }, { nick: 'ann', room: '#old', words: ['x'] }])]))
      assert.equal(await admin.hget(k.room('#a'), 'f'), String(second))
      // What a store written before first-seen times were kept holds: no f.
      await admin.hdel(k.room('#old'), 'f')
      await store.applyBatch(batch(2, [chatSlice(second - 5, [{ nick: 'ann', room: '#a', words: ['x'] }, { nick: 'ann', room: '#old', words: ['x'] }])]))
      assert.equal(await admin.hget(k.room('#a'), 'f'), String(second - 5))
      assert.equal(await admin.hexists(k.room('#old'), 'f'), 0)
      assert.deepEqual(await store.roomTotals('#old', 'all'), { messages: 2, events: {}, tracked: true, firstSeenAt: null })
      assert.equal((await store.roomTotals('#a', '1m'))?.firstSeenAt, (second - 5) * 1000)
    })
  })

  describe('round trips', () => {
    it('applies a batch of known rooms with one command', async (t) => {
      const { store, clock } = await makeStore(t)
      const second = Math.floor(clock.now / 1000)
      const lines = Array.from({ length: 500 }, (_, i) => ({ nick: `n${i % 50}`, room: `#r${i % 20}`, words: [`w${i}`, 'common'], emotes: ['Kappa'] }))
      // The first batch looks up the all-time counts of the rooms entering the tracked set.
      await store.applyBatch(batch(1, [chatSlice(second - 1, lines)]))
      const redis = (store as unknown as { redis: { sendCommand: (command: Command, ...rest: unknown[]) => unknown } }).redis
      const sent: string[] = []
      const original = redis.sendCommand.bind(redis)
      redis.sendCommand = (command: Command, ...rest: unknown[]) => {
        sent.push(command.name)
        return original(command, ...rest)
      }
      await store.applyBatch(batch(2, [chatSlice(second - 1, lines), chatSlice(second, lines)], { lastEventId: 'x' }), undefined)
      assert.deepEqual(sent, ['evalsha'])
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

    it('handles a batch of 40,000 distinct words: trims the all-time list and the window value', async (t) => {
      const { store, namespace, clock } = await makeStore(t, { maxTrackedWords: 25_000 })
      const second = Math.floor(clock.now / 1000)
      const words = new Map<string, number>()
      for (let i = 0; i < 40_000; i++) words.set(`word${i}`, 1 + (i % 7))
      await store.applyBatch(batch(1, [slice(second, { messages: 40_000, words })]))
      assert.equal(await admin.zcard(`${namespace}top:words`), 25_000)
      assert.equal(decodeTrimmed((await admin.get(keys(namespace).windowValue(0, 'words', second)))!).entries.length, 1000)
      const expected = [...words].filter(([, n]) => n === 7).map(([value]) => value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).slice(0, 3)
      assert.deepEqual(await store.top('words', { window: 'all', limit: 3 }), { entries: expected.map((value) => ({ value, count: 7 })), maxError: 0 })
      // 1000 kept, all of count 7 (5,714 words have it): a dropped one has 7, so the 1m answer is off by at most 7.
      assert.deepEqual(await store.top('words', { window: '1m', limit: 3 }), { entries: expected.map((value) => ({ value, count: 7 })), maxError: 7 })
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
      assert.deepEqual(await store.top('words', { window: 'all', limit: 10 }), { entries: [{ value: 'w', count: 2 }], maxError: 0 })
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
