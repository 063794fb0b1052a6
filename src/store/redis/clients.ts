import { Cluster, Redis, type RedisOptions } from 'ioredis'

export interface RedisClientOptions {
  /** redis:// or rediss:// URL; wins over host/port. */
  url?: string | undefined
  /** Default 127.0.0.1. */
  host?: string | undefined
  /** Default 6379. */
  port?: number | undefined
  /** Longest wait for one command before it fails (STORE_TIMEOUT_MS). */
  commandTimeoutMs: number
  /** Longest pause between reconnection attempts; default 2000 ms. */
  maxReconnectDelayMs?: number
  /** Connection errors (the client reconnects by itself); by default they are dropped, commands report them. */
  onError?: (err: Error) => void
}

/**
 * An ioredis client for the store that fails fast instead of queueing while
 * Redis is down (so the API can answer 503 in time), gives up on a command
 * after `commandTimeoutMs`, and reconnects forever with a capped back-off.
 * It connects on RedisStore.open().
 */
export function createRedisClient (options: RedisClientOptions): Redis {
  const maxDelay = options.maxReconnectDelayMs ?? 2000
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 16), maxDelay)
  }
  const client = options.url !== undefined
    ? new Redis(options.url, common)
    : new Redis({ ...common, host: options.host ?? '127.0.0.1', port: options.port ?? 6379 })
  client.on('error', options.onError ?? (() => {}))
  return client
}

export interface RedisClusterClientOptions {
  /** Seed nodes, `host:port` (REDIS_CLUSTER_NODES). */
  nodes: string[]
  /** Longest wait for one command before it fails. */
  commandTimeoutMs: number
  onError?: (err: Error) => void
}

/**
 * An ioredis Cluster client with the same fail-fast behaviour as
 * createRedisClient. Reads go to masters: a replica may lag behind a flush.
 * MOVED and ASK redirections are followed by the client.
 */
export function createRedisClusterClient (options: RedisClusterClientOptions): Cluster {
  if (options.nodes.length === 0) throw new RangeError('a Redis Cluster needs at least one seed node')
  const nodes = options.nodes.map((node) => {
    const colon = node.lastIndexOf(':')
    return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) }
  })
  const client = new Cluster(nodes, {
    lazyConnect: true,
    enableOfflineQueue: false,
    scaleReads: 'master',
    clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 16), 2000),
    redisOptions: {
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(options.commandTimeoutMs, 1000),
      maxRetriesPerRequest: 1
    }
  })
  client.on('error', options.onError ?? (() => {}))
  return client
}

/** A single Redis or a Redis Cluster client: the store uses only what both offer, within one hash slot. */
export type RedisClient = Redis | Cluster

/** The masters of a client: a cluster has a script cache on each. */
export function masters (redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis]
}
