import { pino } from 'pino'
import { type ApiServer, startApiServer } from '../../src/api/server.js'
import { loadConfig } from '../../src/config.js'
import { httpSource } from '../../src/ingest/sources.js'
import { createStore } from '../../src/runtime.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { Batch, StatsStore } from '../../src/store/types.js'
import { useCountingThread } from '../../src/worker/counting.js'
import { Worker } from '../../src/worker/worker.js'
import { CLUSTER_SHARDS, type FromParent, onParentMessage, sendToParent } from './ipc.js'

/**
 * One production worker (src/worker/worker.ts, the same class `chat-stats
 * worker` runs) reading the load generator over HTTP into Redis or the
 * embedded store. The clock starts when the stream connects and stops when
 * the flush that commits the last expected message returns (or when the
 * bench says stop, for the paced runs).
 */

interface MemorySample {
  /** Seconds since the stream connected. */
  at: number
  committed: number
  rss: number
  heapUsed: number
}

function batchMessages (batch: Batch): number {
  let messages = 0
  for (const slice of batch.slices) messages += slice.messages
  return messages
}

let finish: (() => void) | null = null

async function runWorker (message: Extract<FromParent, { type: 'run-worker' }>): Promise<void> {
  const logger = pino({ level: 'warn' }, pino.destination(2))
  // The store `chat-stats worker` would build from this environment, with every other setting at its default.
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    REDIS_NAMESPACE: message.namespace,
    // COUNTING_THREAD and MAX_PENDING_UPDATES from the bench's environment, to compare the worker with and without its
    // counting thread, and its memory and speed with other bounds.
    ...(process.env.COUNTING_THREAD !== undefined ? { COUNTING_THREAD: process.env.COUNTING_THREAD } : {}),
    ...(process.env.MAX_PENDING_UPDATES !== undefined ? { MAX_PENDING_UPDATES: process.env.MAX_PENDING_UPDATES } : {}),
    ...(message.store === 'redis' ? { REDIS_URL: message.redisUrl } : {}),
    ...(message.store === 'cluster' ? { REDIS_CLUSTER_NODES: message.redisUrl, STORE_SHARDS: String(CLUSTER_SHARDS) } : {}),
    // The API beside the worker (serveApi) on a free loopback port, its rate limit lifted as in the api child.
    ...(message.serveApi === true ? { NODE_HOST: '127.0.0.1', NODE_PORT: '0', RATE_LIMIT_MAX: String(Number.MAX_SAFE_INTEGER) } : {})
  }, null)
  const store: StatsStore = message.store === 'memory'
    // No snapshot file: writing one is not what the ingest figure measures.
    // Every bound from the configuration, as createStore passes them (the day's formula is computed from the same settings).
    ? new MemoryStore({ snapshotPath: null, maxTrackedWords: config.MAX_TRACKED_WORDS, maxTrackedPerRoom: config.MAX_TRACKED_PER_ROOM, maxTrackedRooms: config.MAX_TRACKED_ROOMS, windowTop: config.WINDOW_TOP, roomWindowTop: config.ROOM_WINDOW_TOP, logger })
    : createStore(config, logger).store
  await store.open()
  // storeHeap: the heap in use before anything is stored, after a full collection (the child runs with --expose-gc).
  const collect = message.storeHeap === true ? globalThis.gc : undefined
  if (message.storeHeap === true && collect === undefined) throw new Error('storeHeap needs the worker child started with --expose-gc')
  collect?.()
  const heapBefore = process.memoryUsage().heapUsed
  let api: ApiServer | null = null
  if (message.serveApi === true) {
    api = await startApiServer({ config, store, logger: pino({ level: 'silent' }), port: 0 })
    sendToParent({ type: 'listening', url: api.address })
  }

  let startedAt = 0
  let cpuAtStart = process.cpuUsage()
  // What limits the run: the reader's pauses by cause and the counting thread's busy time, from the connection on.
  let pausedAtStart = { store: 0, counting: 0 }
  let countingBusyAtStart = 0
  let committed = 0
  let flushes = 0
  let flushMs = 0
  let maxFlushMs = 0
  let maxBatch = 0
  const samples: MemorySample[] = []
  const sample = (): void => {
    const { rss, heapUsed } = process.memoryUsage()
    samples.push({ at: startedAt === 0 ? 0 : (performance.now() - startedAt) / 1000, committed, rss, heapUsed })
  }
  const finished = new Promise<void>((resolve) => { finish = resolve })
  const reportProgress = (): void => {
    const { rss, heapUsed } = process.memoryUsage()
    const cpu = process.cpuUsage(cpuAtStart)
    sendToParent({ type: 'progress', committed, rss, heapUsed, cpuSeconds: (cpu.user + cpu.system) / 1e6 })
  }

  const worker = new Worker({
    store,
    source: httpSource(message.streamUrl, 'bench load generator'),
    logger,
    flushIntervalMs: message.flushIntervalMs,
    countingThread: useCountingThread(config.COUNTING_THREAD),
    maxPendingUpdates: config.MAX_PENDING_UPDATES,
    hooks: {
      onConnected: (connected) => {
        if (!connected || startedAt !== 0) return
        startedAt = performance.now()
        cpuAtStart = process.cpuUsage()
        pausedAtStart = { ...worker.readerPausedMs }
        countingBusyAtStart = worker.countingBusyMs ?? 0
        sample()
        // The first report: the baseline before anything is stored.
        if ((message.progressMs ?? 0) > 0) reportProgress()
        sendToParent({ type: 'connected' })
      },
      onFlush: (durationMs, batch) => {
        const messages = batchMessages(batch)
        committed += messages
        flushes++
        flushMs += durationMs
        maxFlushMs = Math.max(maxFlushMs, durationMs)
        maxBatch = Math.max(maxBatch, messages)
        if (message.expectedMessages > 0 && committed >= message.expectedMessages) finish?.()
      }
    }
  })
  const timer = message.sampleMemoryMs > 0 ? setInterval(sample, message.sampleMemoryMs) : null
  const progress = (message.progressMs ?? 0) > 0 ? setInterval(reportProgress, message.progressMs) : null
  const running = worker.run()
  await finished
  const seconds = (performance.now() - startedAt) / 1000
  const cpu = process.cpuUsage(cpuAtStart)
  const readerPausedSeconds = { store: (worker.readerPausedMs.store - pausedAtStart.store) / 1000, counting: (worker.readerPausedMs.counting - pausedAtStart.counting) / 1000 }
  const countingBusyMs = worker.countingBusyMs
  const countingBusySeconds = countingBusyMs === null ? null : (countingBusyMs - countingBusyAtStart) / 1000
  sample()
  if (timer !== null) clearInterval(timer)
  if (progress !== null) clearInterval(progress)
  await worker.stop()
  await running
  const totals = await store.totals()
  // What the store holds: the worker has stopped, its batches are committed and dropped, its counting thread gone.
  collect?.()
  const storeHeap = collect === undefined ? null : process.memoryUsage().heapUsed - heapBefore
  await api?.close()
  await store.close()
  sendToParent({
    type: 'worker-result',
    messages: committed,
    storedMessages: totals.totalMessages,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    flushes,
    meanFlushMs: flushMs / Math.max(1, flushes),
    maxFlushMs,
    maxBatch,
    readerPausedSeconds,
    countingBusySeconds,
    samples,
    storeHeap
  })
}

onParentMessage(async (message) => {
  if (message.type === 'run-worker') await runWorker(message)
  else if (message.type === 'stop') finish?.()
})
