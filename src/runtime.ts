import type { Logger } from 'pino'
import closeWithGrace from 'close-with-grace'
import { checkStoreConfig, type Config, storeShards, usesRedis } from './config.js'
import { redactUrl } from './logger.js'
import { MemoryStore } from './store/memory/memory-store.js'
import { createRedisClient, createRedisClusterClient, RedisStore } from './store/redis/redis-store.js'
import { ShardedRedisStore } from './store/redis/sharded-store.js'
import type { StatsStore } from './store/types.js'

/**
 * Wiring shared by the commands: which store a process uses, and a graceful
 * shutdown on SIGTERM/SIGINT or an uncaught error.
 */

/** How long a worker waits for one store command (a flush) before it counts as failed and is resent. */
export const WORKER_COMMAND_TIMEOUT_MS = 30_000

export interface StoreHandle {
  store: StatsStore
  /** A short description with no secrets, for the start-up log line. */
  description: string
}

/**
 * The Redis store when Redis is configured, else the embedded store with its
 * snapshot file. Checks the store variables' combinations first (loadConfig
 * did at start; a configuration built another way gets the same ConfigError).
 */
export function createStore (config: Config, logger: Logger): StoreHandle {
  checkStoreConfig(config)
  const bounds = { maxTrackedWords: config.MAX_TRACKED_WORDS, maxTrackedPerRoom: config.MAX_TRACKED_PER_ROOM, maxTrackedRooms: config.MAX_TRACKED_ROOMS, windowTop: config.WINDOW_TOP, roomWindowTop: config.ROOM_WINDOW_TOP }
  if (!usesRedis(config)) {
    return {
      store: new MemoryStore({
        ...bounds,
        snapshotPath: config.SNAPSHOT_PATH,
        snapshotIntervalMs: config.SNAPSHOT_INTERVAL_MS,
        logger
      }),
      description: `embedded store, snapshot ${config.SNAPSHOT_PATH}`
    }
  }
  const shards = storeShards(config)
  const namespace = config.REDIS_NAMESPACE
  // A flush after an outage can be large: the client waits long for it, while the
  // API bounds its own reads by STORE_TIMEOUT_MS (and a down Redis fails fast anyway).
  const commandTimeoutMs = Math.max(config.STORE_TIMEOUT_MS, WORKER_COMMAND_TIMEOUT_MS)
  const cluster = config.REDIS_CLUSTER_NODES
  if (cluster !== undefined) {
    // Every shard, even a single one, needs its hash tag on a cluster: a flush's keys must share a slot.
    const redis = createRedisClusterClient({ nodes: cluster.split(','), commandTimeoutMs })
    return {
      store: new ShardedRedisStore({ redis, namespace, shards, ...bounds }),
      description: `redis cluster ${cluster} namespace ${namespace} shards ${shards}`
    }
  }
  const sentinels = config.REDIS_SENTINELS?.split(',')
  const redis = createRedisClient({ url: config.REDIS_URL, host: config.REDIS_HOST, port: config.REDIS_PORT, commandTimeoutMs, sentinels, sentinelName: config.REDIS_SENTINEL_NAME, sentinelUsername: config.REDIS_SENTINEL_USERNAME, sentinelPassword: config.REDIS_SENTINEL_PASSWORD })
  const where = sentinels !== undefined
    ? `primary ${config.REDIS_SENTINEL_NAME ?? ''} via sentinels ${sentinels.join(',')}`
    : config.REDIS_URL !== undefined ? redactUrl(config.REDIS_URL) : `${config.REDIS_HOST ?? '127.0.0.1'}:${config.REDIS_PORT}`
  return {
    store: shards === 1 ? new RedisStore({ redis, namespace, ...bounds }) : new ShardedRedisStore({ redis, namespace, shards, ...bounds }),
    description: `redis ${where} namespace ${namespace}${shards === 1 ? '' : ` shards ${shards}`}`
  }
}

/** How long a graceful shutdown may take before the process exits 1 (at most 10 s: docs/RELIABILITY.md#sigterm--sigint). */
export const SHUTDOWN_LIMIT_MS = 9500

/**
 * Runs `shutdown` once on the first SIGTERM or SIGINT, or on an uncaught
 * exception or unhandled rejection (logged first), then exits: 0 after a
 * signal, 1 after an error. A second signal or error, a failed shutdown, or
 * one that takes longer than `limitMs` exits 1 at once.
 */
export function closeOnSignal (logger: Logger, shutdown: () => Promise<void>, limitMs = SHUTDOWN_LIMIT_MS): void {
  closeWithGrace({
    delay: limitMs,
    logger: false,
    // Only SIGTERM and SIGINT (docs/RELIABILITY.md#sigterm--sigint): other signals keep Node's default, and the
    // natural end of `worker --file` (beforeExit) is not a shutdown.
    skip: ['SIGHUP', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'beforeExit'],
    onSecondSignal: (signal) => { logger.warn({ signal }, 'second signal: exiting now') },
    onSecondError: (err) => { logger.error({ err }, 'error while shutting down: exiting now') },
    onTimeout: () => { logger.error({ limitMs }, 'shutdown took too long: exiting') }
  }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'uncaught error: stop reading, final flush')
    else logger.info({ signal }, 'shutting down: stop reading, final flush')
    try {
      await shutdown()
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed')
      throw error
    }
    logger.info('stopped cleanly')
    logger.flush?.()
  })
}

/** How often a process started by npm checks that its parent is still there. */
export const LAUNCHER_CHECK_MS = 500

/**
 * `npm start` and `npx chat-stats …` run the command under `sh -c`, and npm
 * forwards SIGTERM to that shell only: Debian's dash dies of it without
 * passing it on, which left node running with PPID 1 (issue 14, item 2).
 * So a process launched by npm (npm sets `npm_command` in its scripts'
 * environment) that finds its parent gone sends itself SIGTERM, and stops the
 * way a signal stops it. A process started otherwise is left alone, so
 * `nohup chat-stats worker &` still outlives its terminal. Returns a stop
 * function for tests.
 */
export function stopWhenLauncherDies (env: Record<string, string | undefined>, checkMs = LAUNCHER_CHECK_MS): () => void {
  if (env.npm_command === undefined) return () => {}
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    process.kill(process.pid, 'SIGTERM')
  }, checkMs)
  timer.unref()
  return () => clearInterval(timer)
}
