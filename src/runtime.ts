import type { Logger } from 'pino'
import { type Config, ConfigError, usesRedis } from './config.js'
import { redactUrl } from './logger.js'
import { MemoryStore } from './store/memory/memory-store.js'
import { shardNamespace } from './store/redis/keys.js'
import { createRedisClient, createRedisClusterClient, RedisStore } from './store/redis/redis-store.js'
import { ShardedRedisStore } from './store/redis/sharded-store.js'
import type { StatsStore } from './store/types.js'

/**
 * Wiring shared by the commands: which store a process uses, and a graceful
 * shutdown on SIGTERM/SIGINT.
 */

/** How long a worker waits for one store command (a flush) before it counts as failed and is resent. */
export const WORKER_COMMAND_TIMEOUT_MS = 30_000

export interface StoreHandle {
  store: StatsStore
  /** A short description with no secrets, for the start-up log line. */
  description: string
}

/** The Redis store when Redis is configured, else the embedded store with its snapshot file. */
export function createStore (config: Config, logger: Logger): StoreHandle {
  const bounds = { maxTrackedWords: config.MAX_TRACKED_WORDS, maxTrackedPerRoom: config.MAX_TRACKED_PER_ROOM, maxTrackedRooms: config.MAX_TRACKED_ROOMS, windowTop: config.WINDOW_TOP, roomWindowTop: config.ROOM_WINDOW_TOP }
  const cluster = config.REDIS_CLUSTER_NODES
  // SPEC section 7: 16 shards spread a statistic over the masters of a cluster; one is today's layout.
  const shards = config.STORE_SHARDS ?? (cluster !== undefined ? 16 : 1)
  if (!usesRedis(config)) {
    if (shards !== 1) throw new ConfigError('STORE_SHARDS', 'needs Redis (REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES); the embedded store has no shards')
  } else {
    // A flush after an outage can be large: the client waits long for it, while the
    // API bounds its own reads by STORE_TIMEOUT_MS (and a down Redis fails fast anyway).
    const commandTimeoutMs = Math.max(config.STORE_TIMEOUT_MS, WORKER_COMMAND_TIMEOUT_MS)
    if (cluster !== undefined && (config.REDIS_URL !== undefined || config.REDIS_HOST !== undefined)) {
      throw new ConfigError('REDIS_CLUSTER_NODES', 'cannot be combined with REDIS_URL or REDIS_HOST: set one of them')
    }
    if (cluster !== undefined || shards > 1) {
      try {
        shardNamespace(config.REDIS_NAMESPACE, 0)
      } catch {
        throw new ConfigError('REDIS_NAMESPACE', 'must not contain { or } with a cluster or STORE_SHARDS > 1 (the shards\' hash tags follow it)')
      }
    }
    const namespace = config.REDIS_NAMESPACE
    if (cluster !== undefined) {
      // Every shard, even a single one, needs its hash tag on a cluster: a flush's keys must share a slot.
      const redis = createRedisClusterClient({ nodes: cluster.split(','), commandTimeoutMs })
      return {
        store: new ShardedRedisStore({ redis, namespace, shards, ...bounds }),
        description: `redis cluster ${cluster} namespace ${namespace} shards ${shards}`
      }
    }
    const redis = createRedisClient({ url: config.REDIS_URL, host: config.REDIS_HOST, port: config.REDIS_PORT, commandTimeoutMs })
    const where = config.REDIS_URL !== undefined ? redactUrl(config.REDIS_URL) : `${config.REDIS_HOST ?? '127.0.0.1'}:${config.REDIS_PORT}`
    return {
      store: shards === 1 ? new RedisStore({ redis, namespace, ...bounds }) : new ShardedRedisStore({ redis, namespace, shards, ...bounds }),
      description: `redis ${where} namespace ${namespace}${shards === 1 ? '' : ` shards ${shards}`}`
    }
  }
  return {
    store: new MemoryStore({
      ...bounds,
      maxTrackedRooms: config.MAX_TRACKED_ROOMS,
      windowTop: config.WINDOW_TOP,
      roomWindowTop: config.ROOM_WINDOW_TOP,
      snapshotPath: config.SNAPSHOT_PATH,
      snapshotIntervalMs: config.SNAPSHOT_INTERVAL_MS,
      logger
    }),
    description: `embedded store, snapshot ${config.SNAPSHOT_PATH}`
  }
}

/**
 * Runs `shutdown` once on the first SIGTERM or SIGINT, then exits 0; a second
 * signal or a shutdown that takes longer than `limitMs` exits 1.
 */
export function onShutdownSignal (logger: Logger, shutdown: () => Promise<void>, limitMs = 9500): void {
  let closing = false
  const handler = (signal: NodeJS.Signals): void => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    closing = true
    logger.info({ signal }, 'shutting down: stop reading, final flush')
    const timer = setTimeout(() => {
      logger.error({ limitMs }, 'shutdown took too long: exiting')
      process.exit(1)
    }, limitMs)
    timer.unref()
    shutdown().then(() => {
      logger.info('stopped cleanly')
      logger.flush?.()
      process.exit(0)
    }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}
