import type { ProfileName } from '../../src/simulator/index.js'

/**
 * Messages between the bench (parent) and its child processes. Each figure
 * is measured in its own process, so what one measures does not run on the
 * event loop of another.
 */

/** 'cluster': a ShardedRedisStore over the Redis Cluster whose seed nodes are in redisUrl (comma-separated host:port). */
export type StoreKind = 'redis' | 'memory' | 'cluster'
/** STORE_SHARDS' default on a cluster, used by the cluster ingest figure. */
export const CLUSTER_SHARDS = 16

export type FromParent =
  /** The blocks the parent generated, by their cache path (StreamBlock.base). */
  | { type: 'load', blocks: Array<{ profile: ProfileName, base: string, events: number }> }
  | { type: 'probe', apiUrl: string, intervalMs: number, warmupMs: number, durationMs: number }
  /**
   * progressMs > 0: a 'progress' message ({ committed, rss, heapUsed, cpuSeconds }) that often while the stream runs.
   * serveApi: the API on the worker's own store in the same process, as `chat-stats start` runs the embedded store; 'listening' ({ url }) once it listens.
   */
  /**
   * storeHeap (the embedded store, the child started with --expose-gc): also report the V8 heap
   * the store holds at the end: heap used after a full collection once the worker has stopped,
   * over its value before the stream connected.
   */
  | { type: 'run-worker', store: StoreKind, streamUrl: string, redisUrl: string, namespace: string, expectedMessages: number, flushIntervalMs: number, sampleMemoryMs: number, progressMs?: number, serveApi?: boolean, storeHeap?: boolean }
  | { type: 'run-bare', streamUrl: string, expectedEvents: number }
  /** store 'cluster': redisUrl holds the cluster's nodes (host:port, comma-separated) and the API reads CLUSTER_SHARDS shards. */
  | { type: 'serve-api', redisUrl: string, namespace: string, store?: 'redis' | 'cluster' }
  | { type: 'serve-bare-api' }
  /** The API child's memory (after a GC when --expose-gc) and its store reads so far. */
  | { type: 'report' }
  /** The SSE clients child: open `clients` live streams to `url`; 'stream-stats' reads (and resets) what they received. */
  | { type: 'open-streams', url: string, clients: number }
  | { type: 'stream-stats' }
  | { type: 'stop' }

export type ToParent = { type: string } & Record<string, unknown>

/** Sends a message to the bench process (children are always forked with IPC). */
export function sendToParent (message: ToParent): void {
  if (process.send === undefined) throw new Error('bench children must be started by bench/run.ts')
  process.send(message)
}

/** Handles the bench's messages; a handler failure is reported and ends the child. */
export function onParentMessage (handler: (message: FromParent) => Promise<void> | void): void {
  process.on('message', (message: FromParent) => {
    Promise.resolve(handler(message)).catch((err: unknown) => {
      sendToParent({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) })
      setTimeout(() => process.exit(1), 100)
    })
  })
  process.on('disconnect', () => process.exit(0))
}
