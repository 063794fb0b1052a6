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
  /**
   * Sentinels, `host:port` (REDIS_SENTINELS): the client asks them for the
   * primary named `sentinelName` and follows a failover. The host and port
   * of `url` are then unused; its user, password and database still apply.
   */
  sentinels?: string[] | undefined
  /** The primary's name at the sentinels (REDIS_SENTINEL_NAME). */
  sentinelName?: string | undefined
  /** The ACL user the sentinels themselves require (REDIS_SENTINEL_USERNAME); needs sentinelPassword. */
  sentinelUsername?: string | undefined
  /** The password the sentinels themselves require (REDIS_SENTINEL_PASSWORD); the primary's is in `url`. */
  sentinelPassword?: string | undefined
}

function hostPort (node: string): { host: string, port: number } {
  const colon = node.lastIndexOf(':')
  return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) }
}

/** The last connection error of each client, and where it connects: for a message that says what went wrong. */
const lastErrors = new WeakMap<object, Error>()
const addresses = new WeakMap<object, string>()
/**
 * The last error of each sentinel a client asked for the primary, by
 * `host:port`, since the client last reached the primary (one entry per
 * sentinel: bounded by the sentinels the client knows).
 */
const sentinelErrors = new WeakMap<object, Map<string, string>>()

// ioredis's words for a sentinel that failed, and for the round in which every sentinel failed.
const SENTINEL_FAILED = /^failed to connect to sentinel (\S+) because (.*)$/s
const ALL_SENTINELS_FAILED = /All sentinels are unreachable/
const AUTH_REFUSED = /WRONGPASS|NOAUTH|invalid password|invalid username-password|without any password configured/i

function watchErrors (client: Redis | Cluster, address: string, onError: ((err: Error) => void) | undefined): void {
  addresses.set(client, address)
  client.on('error', (err: Error) => {
    lastErrors.set(client, err)
    onError?.(err)
  })
  if (client instanceof Redis && client.options.sentinels != null) {
    const bySentinel = new Map<string, string>()
    sentinelErrors.set(client, bySentinel)
    client.on('sentinelError', (err: Error) => {
      const match = SENTINEL_FAILED.exec(err.message)
      if (match !== null) bySentinel.set(match[1]!, match[2]!)
    })
    // Connected to the primary: the sentinels answered.
    client.on('connect', () => bySentinel.clear())
  }
}

/** The sentinels that refused this client's user or password, and why, in words; null when none did. */
function sentinelAuthFailure (client: RedisClient, seen: Error[]): string | null {
  const refused = [...(sentinelErrors.get(client) ?? new Map<string, string>())].filter(([, message]) => AUTH_REFUSED.test(message))
  const inRound = seen.some((e) => ALL_SENTINELS_FAILED.test(e.message) && AUTH_REFUSED.test(e.message))
  if (refused.length === 0 && !inRound) return null
  const who = refused.length === 0 ? 'a sentinel' : `${refused.length === 1 ? 'sentinel' : 'sentinels'} ${refused.map(([sentinel]) => sentinel).join(', ')}`
  const messages = refused.length === 0 ? seen.map((e) => e.message) : refused.map(([, message]) => message)
  // NOAUTH alone: the sentinel wants a password and got none; anything else: it got the wrong one.
  return messages.every((m) => !AUTH_REFUSED.test(m) || /NOAUTH/.test(m))
    ? `${who} refused authentication: no password given (set REDIS_SENTINEL_PASSWORD, and REDIS_SENTINEL_USERNAME for an ACL user)`
    : `${who} refused authentication: wrong user or password (check REDIS_SENTINEL_USERNAME and REDIS_SENTINEL_PASSWORD)`
}

/**
 * Why a client cannot reach Redis, in words an operator can act on:
 * refused, host not found, authentication failed (at the primary, or at a
 * sentinel, named), timed out, with the address (never the password). `err`
 * is the error the caller saw.
 */
export function describeConnectionFailure (client: RedisClient, err: Error): string {
  const address = addresses.get(client) ?? 'Redis'
  const seen = [lastErrors.get(client), err].filter((e): e is Error => e !== undefined)
  const text = (e: Error): string => `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`
  const any = (pattern: RegExp): boolean => seen.some((e) => pattern.test(text(e)))
  // A sentinel's refusal is reported as such: REDIS_URL's password is the primary's, not theirs.
  const sentinelAuth = sentinelAuthFailure(client, seen)
  const primaryAuth = seen.some((e) => !ALL_SENTINELS_FAILED.test(e.message) && !SENTINEL_FAILED.test(e.message) && AUTH_REFUSED.test(text(e)))
  let what: string
  if (primaryAuth) what = 'authentication failed (check the user and password in REDIS_URL)'
  else if (sentinelAuth !== null) what = sentinelAuth
  else if (any(/ECONNREFUSED/)) what = 'connection refused (is Redis running and listening there?)'
  else if (any(/ENOTFOUND|EAI_AGAIN|EAI_NONAME/)) what = 'host not found (check the host name)'
  else if (any(/ETIMEDOUT|did not answer within|timed? ?out/i)) what = 'timed out (no answer: a firewall, or the wrong address?)'
  else if (any(/All sentinels are unreachable|failed to connect to sentinel/i)) what = 'no sentinel answered'
  else what = seen[0]!.message
  return `${address}: ${what}`
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
  let client: Redis
  let address: string
  if (options.sentinels !== undefined && options.sentinels.length > 0) {
    if (options.sentinelName === undefined || options.sentinelName === '') throw new RangeError('Redis Sentinel needs the primary\'s name (REDIS_SENTINEL_NAME)')
    if (options.sentinelUsername !== undefined && options.sentinelPassword === undefined) throw new RangeError('a sentinel user (REDIS_SENTINEL_USERNAME) needs its password (REDIS_SENTINEL_PASSWORD)')
    const credentials = options.url === undefined ? {} : urlCredentials(options.url)
    client = new Redis({
      ...common,
      ...credentials,
      sentinels: options.sentinels.map(hostPort),
      name: options.sentinelName,
      // The sentinels' own login (requirepass or an ACL user in sentinel.conf), apart from the primary's.
      sentinelUsername: options.sentinelUsername,
      sentinelPassword: options.sentinelPassword,
      // Failover is Sentinel's job: keep asking it for the current primary.
      sentinelRetryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 16), maxDelay),
      failoverDetector: true
    })
    address = `primary ${options.sentinelName} via sentinels ${options.sentinels.join(',')}`
    closeFailoverDetector(client)
  } else if (options.url !== undefined) {
    client = new Redis(options.url, common)
    address = `${client.options.host ?? '127.0.0.1'}:${client.options.port ?? 6379}`
  } else {
    client = new Redis({ ...common, host: options.host ?? '127.0.0.1', port: options.port ?? 6379 })
    address = `${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`
  }
  watchErrors(client, address, options.onError)
  return client
}

/**
 * quit() ends the connection to the primary but leaves the failover
 * detector's subscriptions to the sentinels open (ioredis issue #1362; the
 * installed 5.11.1 has it, upstream PR #2198 fixes it): a closed store would
 * keep sockets, and the process, alive. Once the client has ended, its connector
 * lets them go; a later connect() starts a new detector.
 */
function closeFailoverDetector (client: Redis): void {
  client.on('end', () => {
    const connector = (client as unknown as { connector?: { disconnect?: () => void } }).connector
    connector?.disconnect?.()
  })
}

/** The user, password, database and TLS of a redis:// or rediss:// URL (its host is for a single server). */
function urlCredentials (url: string): Pick<RedisOptions, 'username' | 'password' | 'db' | 'tls'> {
  const parsed = new URL(url)
  const db = Number(parsed.pathname.slice(1) || '0')
  return {
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {})
  }
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
  const nodes = options.nodes.map(hostPort)
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
  watchErrors(client, `cluster ${options.nodes.join(',')}`, options.onError)
  return client
}

/** A single Redis or a Redis Cluster client: the store uses only what both offer, within one hash slot. */
export type RedisClient = Redis | Cluster

/** The masters of a client: a cluster has a script cache on each. */
export function masters (redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis]
}
