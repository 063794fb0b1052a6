import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { Backoff } from '../../src/ingest/backoff.js'
import { MIN_RECONNECT_INTERVAL_MS } from '../../src/worker/stream-reader.js'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { startFaultProxy } from '../helpers/fault-proxy.js'
import { cleanupProcesses, type LogLine, lostAndDoubled, mib, redisWorkerEnv, startChatStats, waitUntil } from '../helpers/processes.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

/**
 * Interface faults (docs/RELIABILITY.md#the-interface-drops-or-fails), injected by a TCP proxy between a worker
 * process and the simulator: the stream cut in the middle of an event (in a
 * field name, in the JSON, in an id), HTTP 500 answers, then connections
 * refused for a while. The worker reconnects with exponential back-off and
 * jitter, resumes with Last-Event-ID, and the counts are exact.
 */

const SEED = 4242
const EVENTS = 30_000
/** Paced, so the stream is still live while the faults are injected. */
const RATE = 6000
const REFUSE_MS = 3000

/** Where each cut lands: after `offsetInside` bytes of the next occurrence of `inside`. */
const CUTS = [
  { what: 'inside the field name `event`', inside: '\n\nevent: privmsg\n', offsetInside: 5 },
  { what: 'inside the field name `se-data`', inside: '\nse-data: {', offsetInside: 4 },
  { what: 'inside the JSON of se-data', inside: 'se-data: {"command"', offsetInside: 16 },
  { what: 'inside an id, after its first digit', inside: '\nid: ', offsetInside: 6 }
]

const RECONNECT_MESSAGES = new Set(['cannot connect to the chat interface; retrying', 'chat stream ended; reconnecting'])

describe('interface faults: cut mid-event, HTTP 500, connections refused', () => {
  after(cleanupProcesses)

  it('the back-off doubles from 100 ms to at most 30 s, each delay drawn from [base/2, base]', () => {
    const highest = new Backoff(100, 30_000, () => 1)
    const lowest = new Backoff(100, 30_000, () => 0)
    const high = Array.from({ length: 12 }, () => highest.next())
    const low = Array.from({ length: 12 }, () => lowest.next())
    assert.deepEqual(high, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000])
    assert.deepEqual(low, [50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 15000, 15000, 15000])
    highest.reset()
    assert.equal(highest.next(), 100)
  })

  it('a worker process rides out every fault and ends with exact counts', async (t) => {
    const namespace = randomPrefix('reliability-interface')
    const admin = createTestRedis()
    const simulator = await startSimulator({ seed: SEED, rate: RATE, count: EVENTS, port: 0, host: '127.0.0.1' })
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: simulator.port })
    t.after(async () => {
      await cleanupProcesses()
      await proxy.close()
      await simulator.close()
      await deleteKeysWithPrefix(admin, namespace)
      admin.disconnect()
    })
    const expected = expectedCounts(SEED, EVENTS)
    const redisUrl = process.env.REDIS_TEST_URL ?? `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`
    const worker = startChatStats(['worker'], { env: redisWorkerEnv(redisUrl, namespace, proxy.url, { FLUSH_INTERVAL_MS: '100' }) })
    const served = (): number => simulator.stats().eventsWritten

    // 1. Cuts in the middle of an event, each after some events have gone through.
    for (const cut of CUTS) {
      const before = served()
      await waitUntil(() => served() >= before + 2000, 'events flowing before the cut', 60_000)
      proxy.cut({ afterBytes: 0, inside: cut.inside, offsetInside: cut.offsetInside })
      await waitUntil(() => !proxy.cutPending, `the cut ${cut.what}`, 60_000)
    }
    const cuts = proxy.connections.filter((c) => c.outcome === 'cut').length
    assert.equal(cuts, CUTS.length, 'every cut happened')

    // 2. HTTP 500 three times, then 3. refused connections for a while.
    await waitUntil(() => served() >= EVENTS * 0.6 || proxy.connections.at(-1)?.bytesDown !== 0, 'a live stream again', 60_000)
    proxy.answerStatus(500, 3)
    proxy.cut({ afterBytes: 0 })
    await waitUntil(() => proxy.connections.filter((c) => c.outcome === 'status').length === 3, 'three HTTP 500 answers', 60_000)
    await proxy.refuse()
    const refusedAt = Date.now()
    await sleep(REFUSE_MS)
    await proxy.accept()
    const acceptedAt = Date.now()

    // The worker catches up and commits the whole stream.
    const positionKey = new RedisKeys(namespace).position
    await waitUntil(async () => (await admin.get(positionKey))?.endsWith(`:${EVENTS}`) === true, `position ${EVENTS} committed`, 180_000, 100)
    const peakRss = worker.peakRssBytes()
    worker.signal('SIGTERM')
    assert.equal((await worker.exited).code, 0, worker.tail())

    const dump = await dumpRedisCounts(admin, namespace, expected.roomDetail.keys())
    const { lost, doubled } = lostAndDoubled(dump, expected)
    t.diagnostic(`| interface faults | TCP proxy: ${CUTS.length + 1} cuts mid-event, 3 x HTTP 500, connections refused for ${REFUSE_MS / 1000} s | ${CUTS.length + 1 + 3 + 1} | ${lost} | ${doubled} | ${mib(peakRss)} | ${EVENTS} events at ${RATE}/s |`)
    assert.deepEqual(differences(dump, expected), [])

    // Resumption: every connection after the first asked for Last-Event-ID, never going backwards.
    const proxied = proxy.connections.filter((c) => c.outcome !== 'status')
    assert.equal(proxied[0]?.lastEventId, null, 'the first connection starts from the beginning')
    let previous = 0
    for (const connection of proxied.slice(1)) {
      assert.match(connection.lastEventId ?? '', /^\d+$/, 'a reconnection sends Last-Event-ID')
      const id = Number(connection.lastEventId)
      assert.ok(id >= previous, `Last-Event-ID ${id} after ${previous}`)
      previous = id
    }

    // Back-off: the reconnections of one outage double from 100 ms, each drawn in [base/2, base].
    const reconnects = worker.logs.filter((line) => RECONNECT_MESSAGES.has(line.msg))
    const outage = outageStreak(reconnects)
    assert.equal(outage[0]?.msg, 'chat stream ended; reconnecting')
    assert.ok(outage.length >= 6, `a cut, 3 answers of HTTP 500 and at least 2 refusals in one streak: ${outage.length}`)
    outage.forEach((line, attempt) => {
      const base = Math.min(30_000, 100 * 2 ** attempt)
      const delay = line.delayMs as number
      // After the cut connection (attempt 0), which delivered, the next dial also waits out MIN_RECONNECT_INTERVAL_MS from its opening.
      const highest = attempt === 0 ? Math.max(base, MIN_RECONNECT_INTERVAL_MS) : base
      assert.ok(delay >= base / 2 && delay <= highest, `attempt ${attempt}: ${delay} ms within [${base / 2}, ${highest}]`)
    })
    assert.ok(outage.slice(1).some((line, index) => line.delayMs !== Math.min(30_000, 100 * 2 ** (index + 1))), 'the delays are jittered')
    const messages = outage.map(errorMessage)
    assert.equal(messages.filter((m) => /HTTP 500/.test(m)).length, 3, 'three attempts saw HTTP 500')
    assert.ok(messages.some((m) => /ECONNREFUSED/.test(m)), 'attempts were refused')
    // The attempts while refusing never came faster than the back-off: the proxy saw none for REFUSE_MS,
    // and the first connection after accept() came within the longest delay in force.
    const afterRefusal = proxy.connections.find((c) => c.at >= refusedAt)
    assert.ok(afterRefusal !== undefined && afterRefusal.at >= acceptedAt, 'no connection while refusing')
    // Each answered attempt came no sooner than the delay logged before it.
    const answered = proxy.connections.filter((c) => c.outcome === 'status')
    for (let i = 1; i < answered.length; i++) {
      const delay = outage[i]?.delayMs as number
      assert.ok((answered[i]?.at ?? 0) - (answered[i - 1]?.at ?? 0) >= delay - 5, `attempt ${i + 1} waited its ${delay} ms`)
    }
  })
})

function errorMessage (line: LogLine): string {
  return String((line.err as { message?: string } | undefined)?.message ?? '')
}

/**
 * The reconnection log lines of the outage, in order: the stream cut just
 * before the first HTTP 500 (the back-off starts afresh after a connection
 * that carried events), then every failed attempt up to the next connection.
 */
function outageStreak (lines: LogLine[]): LogLine[] {
  const first500 = lines.findIndex((line) => /HTTP 500/.test(errorMessage(line)))
  assert.ok(first500 >= 1, 'an attempt answered HTTP 500, after a stream that was cut')
  const streak = [lines[first500 - 1] as LogLine]
  for (let i = first500; i < lines.length && lines[i]?.msg === 'cannot connect to the chat interface; retrying'; i++) streak.push(lines[i] as LogLine)
  return streak
}
