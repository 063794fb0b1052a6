import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Batch } from './store/types.js'
import type { WorkerHooks, WorkerProgress } from './worker/worker.js'

/**
 * Every metric of the service, in one registry that `GET /metrics` renders.
 * The worker increments the ingest metrics through the functions below (or
 * `workerMetrics()`), the API the HTTP ones. One registry per process.
 */
export const metricsRegistry = new Registry()
collectDefaultMetrics({ register: metricsRegistry })

export type IngestOutcome = 'message' | 'system' | 'failed' | 'skipped'
export const INGEST_OUTCOMES: readonly IngestOutcome[] = ['message', 'system', 'failed', 'skipped']
/** Who saw a store call fail: the worker (flush, lease, position), an API read, or a readiness ping. */
export type StoreOperation = 'worker' | 'read' | 'ping'

const ingestEvents = new Counter<'outcome'>({
  name: 'chat_stats_ingest_events_total',
  help: 'Events read from the chat stream, by outcome (message, system, failed, skipped)',
  labelNames: ['outcome'],
  registers: [metricsRegistry]
})
for (const outcome of INGEST_OUTCOMES) ingestEvents.inc({ outcome }, 0)

const failedMessages = new Counter({
  name: 'chat_stats_failed_messages_total',
  help: 'Lines or events of the chat stream that could not be read',
  registers: [metricsRegistry]
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

const pendingUpdates = new Gauge({
  name: 'chat_stats_pending_updates',
  help: 'Counter updates the worker holds that are not yet in the store',
  registers: [metricsRegistry]
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

/** Counts events read from the stream by outcome. */
export function recordIngestEvents (outcome: IngestOutcome, count = 1): void {
  if (count > 0) ingestEvents.inc({ outcome }, count)
}

/** Counts failed messages (they are also an ingest outcome; this is the dedicated total). */
export function recordFailedMessages (count = 1): void {
  if (count > 0) failedMessages.inc(count)
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

export function setPendingUpdates (count: number): void {
  pendingUpdates.set(count)
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

/**
 * Hooks and a progress callback that feed the ingest metrics from a Worker:
 * pass `hooks` as `WorkerOptions.hooks` and call `onProgress` from
 * `WorkerOptions.onProgress`. Progress carries cumulative tallies, so only
 * their growth is added to the counters.
 */
export function workerMetrics (): { hooks: WorkerHooks, onProgress: (progress: WorkerProgress) => void } {
  const seen = { message: 0, system: 0, failed: 0, skipped: 0 }
  const advance = (outcome: IngestOutcome, total: number): number => {
    const delta = total - seen[outcome]
    seen[outcome] = total
    // A restarted tally (new worker) starts from zero again.
    return delta >= 0 ? delta : total
  }
  return {
    hooks: {
      onFlush: (durationMs, batch) => { observeFlush(durationMs / 1000, batchMessages(batch)) },
      onStoreError: () => { recordStoreError('worker') },
      onReconnect: () => { recordStreamReconnect() },
      onConnected: (connected) => { setStreamConnected(connected) }
    },
    onProgress: (progress) => {
      recordIngestEvents('message', advance('message', progress.messages))
      recordIngestEvents('system', advance('system', progress.system))
      const failed = advance('failed', progress.failed)
      recordIngestEvents('failed', failed)
      recordFailedMessages(failed)
      recordIngestEvents('skipped', advance('skipped', progress.skipped))
      setPendingUpdates(progress.pendingUpdates)
    }
  }
}
