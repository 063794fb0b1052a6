import { pino } from 'pino'
import { httpSource } from '../../src/ingest/sources.js'
import { WORKER_COMMAND_TIMEOUT_MS } from '../../src/runtime.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { createRedisClient, createRedisClusterClient, RedisStore } from '../../src/store/redis/redis-store.js'
import { ShardedRedisStore } from '../../src/store/redis/sharded-store.js'
import type { Batch, StatsStore } from '../../src/store/types.js'
import { Worker } from '../../src/worker/worker.js'
import { CLUSTER_SHARDS, type FromParent, onParentMessage, sendToParent } from './ipc.js'

/**
 * One production worker (src/worker/worker.ts, the same class `chat-stats
 * worker` runs) reading the load generator over HTTP into Redis or the
 * embedded store. The clock starts when the stream connects and stops when
 * the flush that commits the last expected message returns (or when the
 * bench says stop, for the paced runs).
 */

/** The configuration defaults (src/config.ts). */
const MAX_TRACKED_WORDS = 1_000_000
const MAX_TRACKED_PER_ROOM = 10_000

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
  const bounds = { namespace: message.namespace, maxTrackedWords: MAX_TRACKED_WORDS, maxTrackedPerRoom: MAX_TRACKED_PER_ROOM }
  const store: StatsStore = message.store === 'redis'
    ? new RedisStore({ redis: createRedisClient({ url: message.redisUrl, commandTimeoutMs: WORKER_COMMAND_TIMEOUT_MS }), ...bounds })
    : message.store === 'cluster'
      // STORE_SHARDS' default on a cluster.
      ? new ShardedRedisStore({ redis: createRedisClusterClient({ nodes: message.redisUrl.split(','), commandTimeoutMs: WORKER_COMMAND_TIMEOUT_MS }), shards: CLUSTER_SHARDS, ...bounds })
      : new MemoryStore({ snapshotPath: null, maxTrackedWords: MAX_TRACKED_WORDS, maxTrackedPerRoom: MAX_TRACKED_PER_ROOM, logger })
  await store.open()

  let startedAt = 0
  let cpuAtStart = process.cpuUsage()
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

  const worker = new Worker({
    store,
    source: httpSource(message.streamUrl, 'bench load generator'),
    logger,
    flushIntervalMs: message.flushIntervalMs,
    hooks: {
      onConnected: (connected) => {
        if (!connected || startedAt !== 0) return
        startedAt = performance.now()
        cpuAtStart = process.cpuUsage()
        sample()
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
  const running = worker.run()
  await finished
  const seconds = (performance.now() - startedAt) / 1000
  const cpu = process.cpuUsage(cpuAtStart)
  sample()
  if (timer !== null) clearInterval(timer)
  await worker.stop()
  await running
  const totals = await store.totals()
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
    samples
  })
}

onParentMessage(async (message) => {
  if (message.type === 'run-worker') await runWorker(message)
  else if (message.type === 'stop') finish?.()
})
