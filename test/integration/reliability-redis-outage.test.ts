import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { cleanupProcesses, lostAndDoubled, mib, redisWorkerEnv, startChatStats, waitUntil } from '../helpers/processes.js'
import { startRedisServer } from '../helpers/redis-server.js'

/**
 * The store is down (docs/RELIABILITY.md#the-store-is-down): a test-owned redis-server is stopped
 * for 5 s in the middle of a run and started again on the same port. The
 * worker keeps counting up to MAX_PENDING_UPDATES, then stops reading the
 * socket until Redis is back; its memory stays bounded; the API answers 503
 * with a JSON error within STORE_TIMEOUT_MS meanwhile, and when Redis hangs
 * (SIGSTOP) it answers 503 once that timeout has passed; the counts are exact.
 */

const SEED = 777
const EVENTS = 60_000
const OUTAGE_MS = 5000
const MAX_PENDING_UPDATES = 100_000
const STORE_TIMEOUT_MS = 1000
/**
 * What the worker may add to its resident memory while it holds up to
 * MAX_PENDING_UPDATES counter updates: about 1 KiB an update is far above
 * what a Map entry and its key cost, and far below what reading the stream
 * on without a bound would take (it serves 100,000s of events a second).
 */
const OUTAGE_GROWTH_BOUND = 16 * 1024 * 1024 + MAX_PENDING_UPDATES * 1024

interface Answer { status: number, contentType: string, body: unknown, elapsedMs: number }

async function get (url: string): Promise<Answer> {
  const started = Date.now()
  // Far above STORE_TIMEOUT_MS: a request that needs this is a hang, and fails the test.
  const response = await fetch(url, { signal: AbortSignal.timeout(STORE_TIMEOUT_MS + 10_000) })
  const text = await response.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch { /* not JSON: the assertion below says so */ }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body, elapsedMs: Date.now() - started }
}

describe('Redis outage: back-pressure, bounded memory, 503 from the API, exact counts', () => {
  after(cleanupProcesses)

  it(`Redis stopped for ${OUTAGE_MS / 1000} s mid-run and started again on the same port`, { timeout: 300_000 }, async (t) => {
    const redis = await startRedisServer()
    const admin = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: 1 })
    admin.on('error', () => {})
    const simulator = await startSimulator({ seed: SEED, rate: 0, count: EVENTS, port: 0, host: '127.0.0.1' })
    t.after(async () => {
      await cleanupProcesses()
      await simulator.close()
      admin.disconnect()
      // The server and its data directory go with the test: no keys to delete elsewhere.
      await redis.close()
    })
    const expected = expectedCounts(SEED, EVENTS)
    const namespace = 'reliability-outage:'
    const positionKey = new RedisKeys(namespace).position
    /** The committed position, "<sequence>:<last event id>"; null while Redis does not answer. */
    const position = async (): Promise<string | null> => await admin.get(positionKey).catch(() => null)
    const worker = startChatStats(['worker'], {
      env: redisWorkerEnv(redis.url, namespace, simulator.url, { MAX_PENDING_UPDATES: String(MAX_PENDING_UPDATES), FLUSH_INTERVAL_MS: '100' })
    })
    // API_CACHE_MS 0: every request goes to the store, so each answer shows the store's state and timeout.
    const api = startChatStats(['api'], {
      env: { REDIS_URL: redis.url, REDIS_NAMESPACE: namespace, NODE_HOST: '127.0.0.1', NODE_PORT: '0', LOG_LEVEL: 'info', STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS), API_CACHE_MS: '0' }
    })
    const listening = await api.waitForLog((line) => typeof line.address === 'string' && /^API on/.test(line.msg), 'API listening')
    const base = listening.address as string

    // Mid-run: some counts committed, most of the stream still to come.
    await waitUntil(async () => Number((await position())?.split(':')[0] ?? 0) >= 2 && simulator.stats().eventsWritten >= EVENTS / 5, 'a fifth of the run committed', 120_000)
    const healthy = await get(`${base}/stats`)
    assert.equal(healthy.status, 200)
    const rssBefore = worker.rssBytes()

    await redis.stop()
    const stoppedAt = Date.now()
    let outagePeak = 0
    const sampler = setInterval(() => { outagePeak = Math.max(outagePeak, worker.rssBytes()) }, 50)
    // A failed assertion below must not leave the timer keeping the test process alive.
    t.after(() => clearInterval(sampler))

    // The API: 503 with a JSON error, within its timeout, for the statistics and for readiness.
    const stats = await get(`${base}/stats`)
    const ready = await get(`${base}/health/ready`)
    for (const answer of [stats, ready]) {
      assert.equal(answer.status, 503, JSON.stringify(answer.body))
      assert.match(answer.contentType, /^application\/json/)
      assert.equal((answer.body as { statusCode?: number }).statusCode, 503)
      assert.equal(typeof (answer.body as { message?: unknown }).message, 'string')
    }

    // The worker: counts on up to the bound, then stops reading. Served events stop growing once
    // the socket buffers between simulator and worker are full.
    let servedPaused = -1
    await waitUntil(async () => {
      const before = simulator.stats().eventsWritten
      await sleep(1000)
      servedPaused = simulator.stats().eventsWritten
      return servedPaused === before
    }, () => `the worker to stop reading (${simulator.stats().eventsWritten} events served)\n${worker.tail(10)}`, 60_000, 0)
    assert.ok(servedPaused < EVENTS, 'the stream was not over yet')
    // It says so once per pause: the pause may have begun just before the stop, while a large flush
    // was in flight and the next one was already at the bound, so the line may predate the outage.
    const paused = await worker.waitForLog((line) => line.msg === 'store is behind: pausing the stream until counts are flushed', 'reading paused', 10_000)
    assert.ok((paused.pendingUpdates as number) <= MAX_PENDING_UPDATES + 20_000, `paused at ${String(paused.pendingUpdates)} updates`)

    await sleep(Math.max(0, stoppedAt + OUTAGE_MS - Date.now()))
    const outageMs = Date.now() - stoppedAt
    await redis.start()
    clearInterval(sampler)

    // A Redis that hangs instead (SIGSTOP): the API answers 503 once STORE_TIMEOUT_MS has passed, not later.
    await waitUntil(async () => Number((await position())?.split(':')[1] ?? 0) >= EVENTS * 0.6, 'most of the run committed', 180_000, 100)
    // The API's client reconnects on its own back-off after the restart: hang Redis only once it is back.
    await waitUntil(async () => (await get(`${base}/stats`)).status === 200, 'the API answering again after the restart', 30_000, 100)
    redis.pause()
    let hung: Answer
    try {
      hung = await get(`${base}/stats`)
    } finally {
      redis.resume()
    }
    assert.equal(hung.status, 503, JSON.stringify(hung.body))
    assert.match(hung.contentType, /^application\/json/)
    assert.ok(hung.elapsedMs >= STORE_TIMEOUT_MS - 50, `answered after the store timeout, not before: ${hung.elapsedMs} ms`)

    await waitUntil(async () => (await position())?.endsWith(`:${EVENTS}`) === true, `position ${EVENTS} committed`, 180_000, 100)
    assert.equal((await get(`${base}/stats`)).status, 200, 'the API answers again')
    const peakRss = worker.peakRssBytes()
    worker.signal('SIGTERM')
    api.signal('SIGTERM')
    assert.equal((await worker.exited).code, 0, worker.tail())
    assert.equal((await api.exited).code, 0, api.tail())

    const dump = await dumpRedisCounts(admin, namespace, expected.roomDetail.keys())
    const { lost, doubled } = lostAndDoubled(dump, expected)
    t.diagnostic(`| Redis outage | test-owned redis-server: SHUTDOWN SAVE, ${(outageMs / 1000).toFixed(1)} s down, restarted on the same port | 1 | ${lost} | ${doubled} | ${mib(peakRss)} (outage: ${mib(rssBefore)} before, ${mib(outagePeak)} peak; paused at ${String(paused.pendingUpdates)} updates) | API 503 in ${stats.elapsedMs} ms (/stats), ${ready.elapsedMs} ms (/health/ready) while down, ${hung.elapsedMs} ms while hung (STORE_TIMEOUT_MS ${STORE_TIMEOUT_MS}) |`)
    assert.deepEqual(differences(dump, expected), [])
    assert.ok(outagePeak - rssBefore <= OUTAGE_GROWTH_BOUND, `worker RSS grew by ${mib(outagePeak - rssBefore)} during the outage (bound ${mib(OUTAGE_GROWTH_BOUND)})`)
  })
})
