import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { metricsRegistry, watchWorker, WORKER_METRIC_HOOKS } from '../../src/metrics.js'
import type { Batch } from '../../src/store/types.js'

async function value (name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metricsRegistry.getSingleMetric(name)
  assert.ok(metric !== undefined, name)
  const { values } = await metric.get()
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l) && !('le' in v.labels))
  return match?.value ?? 0
}

describe('worker metrics', () => {
  it('read the watched worker\'s cumulative tally at each scrape, keep it after unwatching, and feed flush, reconnect and connection metrics', async () => {
    const hooks = WORKER_METRIC_HOOKS
    const before = {
      messages: await value('chat_stats_ingest_events_total', { outcome: 'message' }),
      failed: await value('chat_stats_failed_messages_total'),
      reconnects: await value('chat_stats_stream_reconnects_total'),
      storeErrors: await value('chat_stats_store_errors_total', { operation: 'worker' })
    }
    // A worker's progress as the Worker exposes it: cumulative tallies and what it holds unflushed.
    const worker = { tally: { messages: 10, system: 2, failed: 1, skipped: 0 }, pendingUpdates: 42 }
    const unwatch = watchWorker(worker)
    assert.equal(await value('chat_stats_ingest_events_total', { outcome: 'message' }) - before.messages, 10)
    assert.equal(await value('chat_stats_pending_updates'), 42)
    worker.tally = { ...worker.tally, messages: 25, failed: 3 }
    worker.pendingUpdates = 7
    assert.equal(await value('chat_stats_ingest_events_total', { outcome: 'message' }) - before.messages, 25)
    assert.equal(await value('chat_stats_failed_messages_total') - before.failed, 3)
    assert.equal(await value('chat_stats_pending_updates'), 7)
    // A stopped worker's events stay counted; it holds nothing any more.
    unwatch()
    worker.tally = { ...worker.tally, messages: 1000 }
    assert.equal(await value('chat_stats_ingest_events_total', { outcome: 'message' }) - before.messages, 25)
    assert.equal(await value('chat_stats_failed_messages_total') - before.failed, 3)
    assert.equal(await value('chat_stats_pending_updates'), 0)

    hooks.onReconnect?.()
    hooks.onConnected?.(true)
    hooks.onStoreError?.(new Error('down'))
    assert.equal(await value('chat_stats_stream_reconnects_total') - before.reconnects, 1)
    assert.equal(await value('chat_stats_stream_connected'), 1)
    assert.equal(await value('chat_stats_store_errors_total', { operation: 'worker' }) - before.storeErrors, 1)
    hooks.onConnected?.(false)
    assert.equal(await value('chat_stats_stream_connected'), 0)

    const batch = { sequence: 1, slices: [{ second: 1, messages: 3 }, { second: 2, messages: 4 }], failedCount: 0, failedLog: [] } as unknown as Batch
    hooks.onFlush?.(12, batch)
    const text = await metricsRegistry.metrics()
    assert.match(text, /^chat_stats_flush_batch_messages_sum \d+/m)
    assert.match(text, /^chat_stats_flush_duration_seconds_count [1-9]\d*/m)
  })

  it('read how long each watched worker\'s reader waited, by cause, and its counting thread\'s busy time, and keep them after unwatching', async () => {
    const paused = async (cause: string): Promise<number> => await value('chat_stats_reader_paused_seconds_total', { cause })
    const before = { store: await paused('store'), counting: await paused('counting'), busy: await value('chat_stats_counting_thread_busy_seconds_total') }
    const threaded = { tally: { messages: 0, system: 0, failed: 0, skipped: 0 }, pendingUpdates: 0, readerPausedMs: { store: 1500, counting: 250 }, countingBusyMs: 4000 }
    // Counting in the worker's own thread: no thread time.
    const local = { tally: { messages: 0, system: 0, failed: 0, skipped: 0 }, pendingUpdates: 0, readerPausedMs: { store: 500, counting: 0 }, countingBusyMs: null }
    const unwatchThreaded = watchWorker(threaded)
    const unwatchLocal = watchWorker(local)
    assert.equal(await paused('store') - before.store, 2)
    assert.equal(await paused('counting') - before.counting, 0.25)
    assert.equal(await value('chat_stats_counting_thread_busy_seconds_total') - before.busy, 4)
    threaded.readerPausedMs = { store: 1500, counting: 1250 }
    threaded.countingBusyMs = 6000
    unwatchThreaded()
    unwatchLocal()
    // A stopped worker's figures stay, and no longer move.
    threaded.countingBusyMs = 1e9
    assert.equal(await paused('store') - before.store, 2)
    assert.equal(await paused('counting') - before.counting, 1.25)
    assert.equal(await value('chat_stats_counting_thread_busy_seconds_total') - before.busy, 6)
  })
})
