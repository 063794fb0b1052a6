import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { type ChatStatsProcess, cleanupProcesses, type LogLine, lostAndDoubled, mib, redisWorkerEnv, startChatStats, waitUntil } from '../helpers/processes.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

/**
 * One active worker per namespace (docs/RELIABILITY.md#one-active-worker-per-namespace): worker processes share a
 * namespace; only the lease holder reads the stream. The active one is
 * killed (SIGKILL): the standby takes over within the lease time, from the
 * committed position. An active one frozen (SIGSTOP) past the lease time is
 * replaced, and when it wakes up its writes are refused, so it stands by
 * instead of counting twice. A worker that stops (SIGTERM) hands over at once.
 */

const SEED = 3131
const EVENTS = 50_000
const RATE = 5000
const LEASE_TTL_MS = 3000
/** How often a standby worker tries to take the lease (Worker: LEASE_TTL_MS / 4). */
const STANDBY_POLL_MS = LEASE_TTL_MS / 4
/** Slack for a loaded machine on top of what the lease allows; an eventual deadline, not a measurement. */
const SLACK_MS = 5000

const isActive = (line: LogLine): boolean => line.msg === 'active: ingesting from the committed position'
const isStandby = (line: LogLine): boolean => line.msg === 'another worker holds the lease for this namespace: standing by'
const isConnected = (line: LogLine): boolean => line.msg === 'connected to the chat stream'

describe('standby worker: one active worker per namespace, takeover within the lease time', () => {
  after(cleanupProcesses)

  it('kill -9 the active worker, freeze the next one, stop the last: counts exact', { timeout: 300_000 }, async (t) => {
    const namespace = randomPrefix('reliability-standby')
    const admin = createTestRedis()
    const simulator = await startSimulator({ seed: SEED, rate: RATE, count: EVENTS, port: 0, host: '127.0.0.1' })
    t.after(async () => {
      await cleanupProcesses()
      await simulator.close()
      await deleteKeysWithPrefix(admin, namespace)
      admin.disconnect()
    })
    const expected = expectedCounts(SEED, EVENTS)
    const redisUrl = process.env.REDIS_TEST_URL ?? `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`
    const positionKey = new RedisKeys(namespace).position
    const spawn = (name: string): ChatStatsProcess => startChatStats(['worker'], {
      name,
      env: redisWorkerEnv(redisUrl, namespace, simulator.url, { LEASE_TTL_MS: String(LEASE_TTL_MS) })
    })
    const served = (): number => simulator.stats().eventsWritten
    const rows: string[] = []
    let peakRss = 0

    // A takes the lease; B, on the same namespace, stands by and does not connect to the stream.
    const a = spawn('worker A')
    await a.waitForLog(isActive, 'A active')
    const b = spawn('worker B')
    await b.waitForLog(isStandby, 'B standing by')
    await waitUntil(() => served() >= 8000, 'A counting', 60_000)
    for (let i = 0; i < 5; i++) {
      assert.equal(simulator.stats().connections, 1, 'one stream open: only the lease holder reads')
      await sleep(200)
    }
    assert.equal(b.logs.some(isConnected), false, 'the standby never connected')

    // 1. SIGKILL the active worker: B takes over within the lease time, from the committed position.
    peakRss = Math.max(peakRss, a.peakRssBytes())
    const killedAt = Date.now()
    await a.kill()
    // A's last commands are long processed by now, and B cannot have written yet: its lease comes later.
    await sleep(300)
    const [sequenceAtKill, idAtKill] = ((await admin.get(positionKey)) ?? '0:').split(':')
    const bActive = await b.waitForLog(isActive, 'B active', LEASE_TTL_MS + STANDBY_POLL_MS + SLACK_MS)
    const takeoverMs = bActive.time - killedAt
    assert.equal(bActive.position, idAtKill, 'B resumes from the position A committed')
    assert.equal(bActive.sequence, Number(sequenceAtKill))
    rows.push(`| standby: active killed | SIGKILL to the active worker process; the standby takes the lease | 1 | - | - | - | takeover after ${takeoverMs} ms (lease ${LEASE_TTL_MS} ms) |`)

    // 2. SIGSTOP the active worker past its lease: C takes over; B, woken, is refused and stands by.
    const c = spawn('worker C')
    await c.waitForLog(isStandby, 'C standing by')
    await waitUntil(() => served() >= 25_000, 'B counting', 60_000)
    peakRss = Math.max(peakRss, b.peakRssBytes())
    b.signal('SIGSTOP')
    const frozenAt = Date.now()
    const cActive = await c.waitForLog(isActive, 'C active', LEASE_TTL_MS + STANDBY_POLL_MS + SLACK_MS)
    await sleep(1000)
    const bLogsBefore = b.logs.length
    b.signal('SIGCONT')
    const dropped = await b.waitForLog((line) => line.msg === 'lost the worker lease: dropping uncommitted counts and standing by' && b.logs.indexOf(line) >= bLogsBefore, 'B stands down', 30_000)
    assert.ok(dropped.time >= cActive.time)
    await waitUntil(() => simulator.stats().connections === 1, () => `one stream open (${simulator.stats().connections} open)\n${b.tail()}\n${c.tail()}`, 30_000)
    rows.push(`| standby: active frozen | SIGSTOP to the active worker process for ${Date.now() - frozenAt} ms, then SIGCONT | 1 | - | - | - | takeover after ${cActive.time - frozenAt} ms; the woken worker's writes refused, it stood by |`)

    // 3. SIGTERM the active worker: it releases the lease and B takes over at its next try.
    await waitUntil(() => served() >= 40_000, 'C counting', 60_000)
    peakRss = Math.max(peakRss, c.peakRssBytes())
    const stoppedAt = Date.now()
    c.signal('SIGTERM')
    assert.equal((await c.exited).code, 0, c.tail())
    const bBack = await b.waitForLog((line) => isActive(line) && line.time >= stoppedAt, 'B active again', STANDBY_POLL_MS + SLACK_MS)
    rows.push(`| standby: active stopped | SIGTERM to the active worker process (lease released) | 1 | - | - | - | takeover after ${bBack.time - stoppedAt} ms |`)

    await waitUntil(async () => (await admin.get(positionKey))?.endsWith(`:${EVENTS}`) === true, `position ${EVENTS} committed`, 180_000, 100)
    peakRss = Math.max(peakRss, b.peakRssBytes())
    b.signal('SIGTERM')
    assert.equal((await b.exited).code, 0, b.tail())

    const dump = await dumpRedisCounts(admin, namespace, expected.roomDetail.keys())
    const { lost, doubled } = lostAndDoubled(dump, expected)
    for (const row of rows) t.diagnostic(row)
    t.diagnostic(`| standby worker | 3 workers on one namespace: SIGKILL, SIGSTOP past the lease, SIGTERM | 3 | ${lost} | ${doubled} | ${mib(peakRss)} | ${EVENTS} events at ${RATE}/s, lease ${LEASE_TTL_MS} ms |`)
    assert.deepEqual(differences(dump, expected), [])
  })
})
