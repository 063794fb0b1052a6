import assert from 'node:assert/strict'
import { after, describe, it, type TestContext } from 'node:test'
import { expectedCounts, type ExpectedCounts, type SimulatorHandle, startSimulator } from '../../src/simulator/index.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { differences, dumpRedisCounts, type CountsDump } from '../helpers/dump.js'
import {
  type ChatStatsProcess, cleanupProcesses, dumpSnapshotCounts, killAll, type LogLine, lostAndDoubled, makeTempDir, memoryWorkerEnv, mib,
  redisWorkerEnv, startChatStats, waitUntil
} from '../helpers/processes.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

/**
 * Graceful shutdown (docs/RELIABILITY.md#sigterm--sigint): SIGTERM, then (after a restart) SIGINT
 * in the middle of a live stream. The worker stops reading, flushes what it
 * counted and exits 0 (the runtime exits 1 past 9.5 s, so 0 also means in
 * time); the store then holds exactly the counts of events 1..position, and
 * the last progress line shows that everything read was committed.
 */

const SEED = 9090
/** Paced and never-ending: the signal always arrives mid-stream. */
const RATE = 5000
/** Events served to each worker before its signal. */
const EVENTS_PER_WORKER = 10_000

interface Stop { signal: NodeJS.Signals, exitMs: number, exitCode: number | null, position: number, counted: number, peakRss: number }

/** Runs one worker until EVENTS_PER_WORKER more events were served, signals it, and reads the committed position. */
async function runAndSignal (simulator: SimulatorHandle, worker: ChatStatsProcess, signal: NodeJS.Signals, position: () => Promise<number>): Promise<Stop> {
  const target = simulator.stats().eventsWritten + EVENTS_PER_WORKER
  await waitUntil(() => simulator.stats().eventsWritten >= target || worker.exitStatus !== null, `${target} events served`, 120_000)
  assert.equal(worker.exitStatus, null, worker.tail())
  const peakRss = worker.peakRssBytes()
  const signalledAt = Date.now()
  worker.signal(signal)
  const exit = await worker.exited
  const exitMs = exit.at - signalledAt
  assert.equal(exit.code, 0, `${signal}: exit code 0 (the runtime exits 1 past its 9.5 s limit)\n${worker.tail()}`)
  // Stopped reading: the simulator has no open stream any more.
  await waitUntil(() => simulator.stats().connections === 0, 'the stream closed', 10_000)
  const last = [...worker.logs].reverse().find((line: LogLine) => line.msg === 'ingest progress')
  assert.ok(last !== undefined, 'a last progress line')
  return { signal, exitMs, exitCode: exit.code, position: await position(), counted: last.messages as number, peakRss }
}

interface StoreUnderTest {
  name: string
  spawnWorker: (interfaceUrl: string) => ChatStatsProcess
  /** The last committed event id, as a number (0 when none). */
  position: () => Promise<number>
  readCounts: (expected: ExpectedCounts) => Promise<CountsDump>
}

/** Both signals in turn on one store; checks the counts after each stop. */
async function signalTwice (t: TestContext, store: StoreUnderTest): Promise<void> {
  const simulator = await startSimulator({ seed: SEED, rate: RATE, port: 0, host: '127.0.0.1' })
  const workers: ChatStatsProcess[] = []
  t.after(async () => {
    await killAll(workers)
    await simulator.close()
  })
  let before = 0
  let beforeMessages = 0
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const worker = store.spawnWorker(simulator.url)
    workers.push(worker)
    const stop = await runAndSignal(simulator, worker, signal, store.position)
    assert.ok(stop.position > before, `${signal}: the worker committed events (${before} -> ${stop.position})`)
    const expected = expectedCounts(SEED, stop.position)
    const dump = await store.readCounts(expected)
    const { lost, doubled } = lostAndDoubled(dump, expected)
    t.diagnostic(`| ${signal} (${store.name}) | signal to the worker process mid-stream (${RATE} events/s) | 1 | ${lost} | ${doubled} | ${mib(stop.peakRss)} | exit ${stop.exitCode} after ${stop.exitMs} ms, committed through event ${stop.position} |`)
    assert.deepEqual(differences(dump, expected), [], `${signal}: the store holds exactly events 1..${stop.position}`)
    // The final flush: everything this process read and counted is committed (nothing held back in memory).
    assert.equal(stop.counted, expected.messages - beforeMessages, `${signal}: messages read by the process = messages committed by it`)
    before = stop.position
    beforeMessages = expected.messages
  }
}

// The stores are independent: tested concurrently.
describe('SIGTERM and SIGINT: stop reading, final flush, exit 0 in time, counts exact', { concurrency: true }, () => {
  after(cleanupProcesses)

  it('Redis store', { timeout: 300_000 }, async (t) => {
    const namespace = randomPrefix('reliability-shutdown')
    const admin = createTestRedis()
    t.after(async () => {
      await deleteKeysWithPrefix(admin, namespace)
      admin.disconnect()
    })
    const redisUrl = process.env.REDIS_TEST_URL ?? `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`
    const positionKey = new RedisKeys(namespace).position
    await signalTwice(t, {
      name: 'Redis',
      spawnWorker: (interfaceUrl) => startChatStats(['worker'], { env: redisWorkerEnv(redisUrl, namespace, interfaceUrl) }),
      // "<sequence>:<last event id>"
      position: async () => Number((await admin.get(positionKey))?.split(':')[1] ?? 0),
      readCounts: async (expected) => await dumpRedisCounts(admin, namespace, expected.roomDetail.keys())
    })
  })

  it('embedded store: the final snapshot', { timeout: 300_000 }, async (t) => {
    const snapshotPath = `${makeTempDir('shutdown-snapshot')}/chat-stats.snapshot.json`
    await signalTwice(t, {
      name: 'embedded',
      // The periodic snapshot is far off: what the store holds after the stop is the one written on shutdown.
      spawnWorker: (interfaceUrl) => startChatStats(['worker'], { env: memoryWorkerEnv(snapshotPath, interfaceUrl, { SNAPSHOT_INTERVAL_MS: '600000' }) }),
      position: async () => Number((await dumpSnapshotCounts(snapshotPath))?.lastEventId ?? 0),
      readCounts: async () => {
        const dump = await dumpSnapshotCounts(snapshotPath)
        assert.ok(dump !== null, 'a snapshot was written on shutdown')
        return dump
      }
    })
  })
})
