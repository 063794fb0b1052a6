import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Batch } from './store/types.js'
import { PAUSE_CAUSES, type PauseCause } from './worker/back-pressure.js'
import type { WorkerHooks } from './worker/worker.js'

/**
 * Every metric of the service, in one registry that `GET /metrics` renders.
 * The API records the HTTP ones as they happen; a worker's flush, store-error
 * and connection events arrive through `WORKER_METRIC_HOOKS`, and its event
 * tally, pending updates, reader pauses and counting-thread time are read at
 * each scrape (`watchWorker`). One
 * registry per process.
 */
export const metricsRegistry = new Registry()
collectDefaultMetrics({ register: metricsRegistry })

export type IngestOutcome = 'message' | 'system' | 'failed' | 'skipped'
export const INGEST_OUTCOMES: readonly IngestOutcome[] = ['message', 'system', 'failed', 'skipped']
/** Who saw a store call fail: the worker (flush, lease, position), an API read, or a readiness ping. */
export type StoreOperation = 'worker' | 'read' | 'ping'

/** What the ingest metrics read from a worker when scraped (a `Worker` is one). */
export interface IngestProgress {
  /** Events read since the worker started, cumulative, by outcome. */
  readonly tally: Readonly<{ messages: number, system: number, failed: number, skipped: number }>
  /** Counter updates held that are not yet in the store. */
  readonly pendingUpdates: number
  /** Milliseconds the connected stream has delivered nothing countable (0 while disconnected). */
  readonly msWithoutCounted?: number
  /** Milliseconds the stream reader has waited, by what it waited for, cumulative. */
  readonly readerPausedMs?: Readonly<Record<PauseCause, number>>
  /** Milliseconds the counting thread has been busy, cumulative; null without one. */
  readonly countingBusyMs?: number | null
}

const TALLY_FIELD: Record<IngestOutcome, keyof IngestProgress['tally']> = { message: 'messages', system: 'system', failed: 'failed', skipped: 'skipped' }

/** The workers read at each scrape. */
const watchedWorkers = new Set<IngestProgress>()
/** What workers no longer watched had reached (reader pauses and counting time in ms): counters never go back. */
const settledPausedMs: Record<PauseCause, number> = { store: 0, counting: 0 }
let settledCountingBusyMs = 0
/** Events of workers no longer watched, and events recorded directly: counters never go back. */
const settledEvents: Record<IngestOutcome, number> = { message: 0, system: 0, failed: 0, skipped: 0 }

function ingestTotal (outcome: IngestOutcome): number {
  let total = settledEvents[outcome]
  for (const worker of watchedWorkers) total += worker.tally[TALLY_FIELD[outcome]]
  return total
}

// The counters below mirror cumulative totals kept elsewhere: each scrape sets them to those totals.
new Counter<'outcome'>({
  name: 'chat_stats_ingest_events_total',
  help: 'Events read from the chat stream, by outcome (message, system, failed, skipped)',
  labelNames: ['outcome'],
  registers: [metricsRegistry],
  collect () {
    this.reset()
    for (const outcome of INGEST_OUTCOMES) this.inc({ outcome }, ingestTotal(outcome))
  }
})

new Counter({
  name: 'chat_stats_failed_messages_total',
  help: 'Lines or events of the chat stream that could not be read',
  registers: [metricsRegistry],
  collect () {
    this.reset()
    this.inc(ingestTotal('failed'))
  }
})

const streamReconnects = new Counter({
  name: 'chat_stats_stream_reconnects_total',
  help: 'Reconnections to the chat interface',
  registers: [metricsRegistry]
})

const streamConnected = new Gauge({
  name: 'chat_stats_stream_connected',
  help: '1 while the worker is connected to the chat interface, else 0',
  registers: [metricsRegistry]
})

const flushDuration = new Histogram({
  name: 'chat_stats_flush_duration_seconds',
  help: 'Time one flush (one atomic store write) takes',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry]
})

const flushBatchSize = new Histogram({
  name: 'chat_stats_flush_batch_messages',
  help: 'Chat messages written per flush',
  buckets: [0, 1, 10, 100, 1000, 10_000, 50_000, 100_000, 250_000, 1_000_000],
  registers: [metricsRegistry]
})

new Gauge({
  name: 'chat_stats_pending_updates',
  help: 'Counter updates the worker holds that are not yet in the store',
  registers: [metricsRegistry],
  collect () {
    let pending = 0
    for (const worker of watchedWorkers) pending += worker.pendingUpdates
    this.set(pending)
  }
})

new Gauge({
  name: 'chat_stats_stream_uncounted_seconds',
  help: 'Seconds the connected chat stream has delivered nothing countable (no chat message or system event), 0 while disconnected; past STREAM_STALL_MS readiness fails',
  registers: [metricsRegistry],
  collect () {
    let ms = 0
    for (const worker of watchedWorkers) ms = Math.max(ms, worker.msWithoutCounted ?? 0)
    this.set(ms / 1000)
  }
})

new Counter<'cause'>({
  name: 'chat_stats_reader_paused_seconds_total',
  help: 'Seconds the worker stopped reading the stream, by what it waited for: store (its writes are behind, or it does not answer) or counting (the counting thread is behind). Growing by about 1 per second: the worker is at its limit, and the cause says which',
  labelNames: ['cause'],
  registers: [metricsRegistry],
  collect () {
    this.reset()
    for (const cause of PAUSE_CAUSES) {
      let ms = settledPausedMs[cause]
      for (const worker of watchedWorkers) ms += worker.readerPausedMs?.[cause] ?? 0
      this.inc({ cause }, ms / 1000)
    }
  }
})

new Counter({
  name: 'chat_stats_counting_thread_busy_seconds_total',
  help: 'Seconds the counting thread (COUNTING_THREAD) has been busy parsing and counting events; its rate near 1 means it limits ingest',
  registers: [metricsRegistry],
  collect () {
    this.reset()
    let ms = settledCountingBusyMs
    for (const worker of watchedWorkers) ms += worker.countingBusyMs ?? 0
    this.inc(ms / 1000)
  }
})

const storeErrors = new Counter<'operation'>({
  name: 'chat_stats_store_errors_total',
  help: 'Failed or timed-out store calls, by operation',
  labelNames: ['operation'],
  registers: [metricsRegistry]
})

const httpRequestDuration = new Histogram<'method' | 'route' | 'status_code'>({
  name: 'chat_stats_http_request_duration_seconds',
  help: 'HTTP request duration by method, route pattern and status code',
  labelNames: ['method', 'route', 'status_code'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [metricsRegistry]
})

const streamClients = new Gauge({
  name: 'chat_stats_sse_clients',
  help: 'Open GET /stats/stream connections',
  registers: [metricsRegistry]
})

/** Counts events read from the stream outside a watched worker. */
export function recordIngestEvents (outcome: IngestOutcome, count = 1): void {
  if (count > 0) settledEvents[outcome] += count
}

export function recordStreamReconnect (): void {
  streamReconnects.inc()
}

export function setStreamConnected (connected: boolean): void {
  streamConnected.set(connected ? 1 : 0)
}

/** One flush: its duration and how many chat messages it carried. */
export function observeFlush (durationSeconds: number, batchMessages: number): void {
  flushDuration.observe(durationSeconds)
  flushBatchSize.observe(batchMessages)
}

export function recordStoreError (operation: StoreOperation): void {
  storeErrors.inc({ operation })
}

/** One answered HTTP request; `route` is the route pattern (never the raw URL, to bound cardinality). */
export function observeHttpRequest (method: string, route: string, statusCode: number, durationSeconds: number): void {
  httpRequestDuration.observe({ method, route, status_code: String(statusCode) }, durationSeconds)
}

export function setStreamClients (count: number): void {
  streamClients.set(count)
}

const streamClientsDropped = new Counter({
  name: 'chat_stats_sse_clients_dropped_total',
  help: 'Live-stream clients closed because they left more than STREAM_MAX_BUFFERED_BYTES unread',
  registers: [metricsRegistry]
})

export function recordStreamDrop (): void {
  streamClientsDropped.inc()
}

/** The Prometheus text exposition of every metric. */
export async function renderMetrics (): Promise<string> {
  return await metricsRegistry.metrics()
}

export const METRICS_CONTENT_TYPE = metricsRegistry.contentType

/** Messages in a batch, for the batch-size histogram. */
export function batchMessages (batch: Batch): number {
  let messages = 0
  for (const slice of batch.slices) messages += slice.messages
  return messages
}

const storeRollbacks = new Counter({
  name: 'chat_stats_store_rollbacks_total',
  help: 'Times the worker found the store behind what it had committed (Redis lost writes: an older snapshot, a lagging replica promoted)',
  registers: [metricsRegistry]
})

const storeMessagesLost = new Counter({
  name: 'chat_stats_store_messages_lost_total',
  help: 'Messages such rollbacks lost for good (a stream without event ids cannot be replayed)',
  registers: [metricsRegistry]
})

/** Worker hooks (`WorkerOptions.hooks`) that feed the rollback, flush, store-error, reconnect and connection metrics. */
export const WORKER_METRIC_HOOKS: WorkerHooks = {
  onStoreRollback: (messagesLost) => { storeRollbacks.inc(); storeMessagesLost.inc(messagesLost) },
  onFlush: (durationMs, batch) => { observeFlush(durationMs / 1000, batchMessages(batch)) },
  onStoreError: () => { recordStoreError('worker') },
  onReconnect: () => { recordStreamReconnect() },
  onConnected: (connected) => { setStreamConnected(connected) }
}

/**
 * Reads `worker`'s event tally, pending updates, reader pauses and counting
 * thread time at each scrape from now on. The returned function stops that,
 * keeping its final totals in the counters.
 */
export function watchWorker (worker: IngestProgress): () => void {
  watchedWorkers.add(worker)
  return () => {
    if (!watchedWorkers.delete(worker)) return
    for (const outcome of INGEST_OUTCOMES) settledEvents[outcome] += worker.tally[TALLY_FIELD[outcome]]
    for (const cause of PAUSE_CAUSES) settledPausedMs[cause] += worker.readerPausedMs?.[cause] ?? 0
    settledCountingBusyMs += worker.countingBusyMs ?? 0
  }
}
