import { readFileSync } from 'node:fs'
import { parse as parseDotenv } from 'dotenv'
import { Type, type Static } from 'typebox'
import Value from 'typebox/value'
import { DEFAULT_MAX_EVENT_COMMANDS } from './model/event-commands.js'
import { DEFAULT_MAX_NAME_BYTES } from './model/names.js'

/**
 * The one configuration schema (README.md#configuration). Every entry point calls
 * `loadConfig` first; nothing else reads `process.env`.
 */
const Integer = (description: string, defaultValue: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER) =>
  Type.Integer({ description, default: defaultValue, minimum, maximum })

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    description: 'Runtime environment', default: 'development'
  }),
  NODE_HOST: Type.String({ description: 'Address the API listens on', default: '0.0.0.0', minLength: 1 }),
  NODE_PORT: Integer('Port the API listens on', 3000, 0, 65535),
  WORKER_PORT: Type.Optional(Type.Integer({ description: 'Port of a standalone worker\'s /health/live, /health/ready and /metrics (unset: none)', minimum: 0, maximum: 65535 })),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), {
    description: 'pino log level', default: 'info'
  }),

  CHAT_INTERFACE_URL: Type.Optional(Type.String({ description: 'http(s) URL of the chat event stream (required by `worker`)', pattern: '^https?://' })),
  REDIS_URL: Type.Optional(Type.String({ description: 'Redis URL, e.g. redis://:password@host:6379/0; wins over REDIS_HOST/REDIS_PORT', pattern: '^rediss?://' })),
  REDIS_HOST: Type.Optional(Type.String({ description: 'Redis host name or address (setting it, or REDIS_URL, uses Redis instead of the embedded store)', minLength: 1 })),
  REDIS_PORT: Integer('Redis TCP port', 6379, 1, 65535),
  REDIS_NAMESPACE: Type.String({ description: 'Prefix of every Redis key', default: 'chat-stats:', minLength: 1, maxLength: 200 }),
  REDIS_SENTINELS: Type.Optional(Type.String({ description: 'Comma-separated host:port of Redis Sentinels: the store connects to the primary they name (REDIS_SENTINEL_NAME) and follows a failover; REDIS_URL then gives only the user, password and database', pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$' })),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String({ description: 'The primary\'s name at the sentinels (their `sentinel monitor NAME ...`), with REDIS_SENTINELS', minLength: 1 })),
  REDIS_SENTINEL_USERNAME: Type.Optional(Type.String({ description: 'ACL user the sentinels themselves require (a `user` in sentinel.conf), with REDIS_SENTINEL_PASSWORD; unset: the default user', minLength: 1 })),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ description: 'Password the sentinels themselves require (`requirepass` in sentinel.conf, or the ACL user\'s), with REDIS_SENTINELS; never logged. The primary\'s password stays in REDIS_URL', minLength: 1 })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ description: 'Comma-separated host:port seeds of a Redis Cluster; the store then shards over it (instead of REDIS_URL/REDIS_HOST)', pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$' })),
  STORE_SHARDS: Type.Optional(Type.Integer({ description: 'Shards each statistic is spread over, each under its own hash tag (default 1 on a single Redis, 16 on a cluster)', minimum: 1, maximum: 1024 })),

  FLUSH_INTERVAL_MS: Integer('How often the worker writes its counts to the store', 250, 10, 60000),
  MAX_EVENT_BYTES: Integer('Largest event accepted from the stream; larger ones are failed messages', 65536, 256, 16 * 1024 * 1024),
  MAX_NAME_BYTES: Integer('Longest nick, room name or emote counted, in UTF-8 bytes: a chat message with a longer nick or room is a failed message, a longer emote is skipped; it bounds the members of those lists (ARCHITECTURE.md#memory-bounds). Twitch logins have at most 25 characters', DEFAULT_MAX_NAME_BYTES, 32, 1024),
  MAX_EVENT_COMMANDS: Integer('Distinct system-event commands counted (docs/COUNTING.md#system-event-commands): once this many are, a system event of a new command is a failed message; known ones always count. Twitch sends about 15, about 8 of them to rooms; each may sit in every tracked room\'s window values, about 4 MiB of the worst case per command (ARCHITECTURE.md#memory-bounds)', DEFAULT_MAX_EVENT_COMMANDS, 8, 10_000),
  STREAM_STALL_MS: Integer('How long a connected stream may deliver nothing countable (no chat message or system event: only failed lines, keep-alives) before readiness fails and chat_stats_stream_uncounted_seconds says so', 60_000, 1000, 3_600_000),
  // Storage bounds (docs/STORAGE.md#bounds); ARCHITECTURE.md#memory-bounds gives the formula and each default's reason.
  MAX_TRACKED_WORDS: Integer('Members kept in each all-time list: words, nicks, rooms, emotes (lowest counts trimmed); 200,000 keeps every word said more than a handful of times a day', 200_000, 100),
  MAX_TRACKED_ROOMS: Integer('Rooms that keep a drill-down (the most active by all-time messages); 200 is the most that keeps the worst case under 1 GiB with a room\'s windowed top 10 (ARCHITECTURE.md#memory-bounds)', 200, 1),
  MAX_TRACKED_PER_ROOM: Integer('Members kept in each all-time list of a tracked room: words, nicks, emotes; 200 keeps a room\'s top 100 stable', 200, 100),
  WINDOW_TOP: Integer('Members kept per list in each closed stream-wide window bucket; more stays exact longer, windowed answers state their error', 500, 10, 100_000),
  ROOM_WINDOW_TOP: Integer('Members kept per list in each closed window bucket of a tracked room (bounded harder: one value per room and bucket); 10 keeps a room\'s windowed top 10 close', 10, 5, 10_000),
  COUNTING_THREAD: Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
    description: 'Where the worker parses and counts events: in a thread of its own (on), in its main thread with the stream and the store writes (off), or on when more than one core is available (auto: the cores this process may run on; a container\'s CPU quota is not seen, so set off under a quota of one CPU)', default: 'auto'
  }),
  MAX_PENDING_UPDATES: Integer('Counter updates the worker holds (while the store is down, or while it reads ahead of it in a catch-up) before it stops reading; its memory follows: at 2,000,000 about 700 MiB of RSS on a live-shaped stream and 1.1 GiB on a replay spread over a day, at 500,000 under 800 MiB (ARCHITECTURE.md#the-workers-memory)', 2_000_000, 1000),
  SNAPSHOT_PATH: Type.String({ description: 'Snapshot file of the embedded store', default: 'data/chat-stats.snapshot.json', minLength: 1 }),
  SNAPSHOT_INTERVAL_MS: Integer('How often the embedded store writes its snapshot', 60000, 100),
  LEASE_TTL_MS: Integer('Lifetime of the worker lease; a standby worker takes over after it lapses', 10000, 500, 600000),
  STORE_TIMEOUT_MS: Integer('How long the API waits for the store before answering 503', 2000, 50, 60000),
  API_CACHE_MS: Integer('How long the API answers identical statistics requests from one store read (0: every request reads the store)', 100, 0, 10000),
  API_STALE_MS: Integer('How long past API_CACHE_MS an answer may still be served to identical requests while its new read is in flight (stale-while-revalidate; 0: they wait for the read)', 1000, 0, 60000),

  ADMIN_TOKEN: Type.Optional(Type.String({ description: 'Bearer token for /stats/failedMessages; unset: loopback clients only', minLength: 16 })),
  BOT_NICKS: Type.Optional(Type.String({ description: 'Comma-separated nicks that ?bots=exclude leaves out (replaces the default list)' })),
  CORS_ORIGIN: Type.Optional(Type.String({ description: 'Allowed CORS origins, comma-separated, or * (unset: no CORS)' })),
  RATE_LIMIT_MAX: Integer('Requests per minute per client; on GET /stats, the top lists, a room and trending only those that read the store (an answer shared from a read less than API_CACHE_MS old is not counted)', 1200, 1),
  TRUST_PROXY: Type.Optional(Type.String({ description: 'Reverse proxies whose X-Forwarded-For names the client: a hop count (1 = one proxy in front), addresses/CIDRs comma-separated, or true (any; spoofable). Rate limits and stream caps then count each user, and the admin route needs ADMIN_TOKEN (unset: the socket address is the client)', pattern: '^\\s*(true|false|\\d{1,3}|[\\w.:/]+(\\s*,\\s*[\\w.:/]+)*)\\s*$' })),
  STREAMS_PER_CLIENT: Integer('Live streams one client may hold at once (a few dashboard tabs), so one client cannot take every slot', 4, 1, 1000),
  STREAM_LIFETIME_MS: Integer('Longest a live stream stays open before the server ends it with `event: reconnect` (clients reconnect at once), so slots cannot be held forever', 600_000, 1000),
  SERIES_POINTS_PER_MINUTE: Integer('Timeseries points one client may fetch per minute (a day at 1s is 86,400), a cost-weighted limit beside RATE_LIMIT_MAX', 500_000, 86_400),
  // Serving crowds: what a proxy may cache, and what one live-stream client may leave unread.
  API_MAX_AGE_SECONDS: Integer('Cache-Control max-age of statistics answers (GET /stats, top lists, a room, trending), so a reverse proxy or CDN can answer a crowd; 0: no-cache (clients still revalidate with ETag and get 304s)', 1, 0, 3600),
  STREAM_MAX_BUFFERED_BYTES: Integer('Bytes of live-stream events the server holds for one client that does not read them; past that the client is dropped, not buffered without bound (MAX_STREAMS of them at most)', 262_144, 16_384, 16 * 1024 * 1024),

  SIMULATOR_RATE: Integer('Events per second of the built-in simulator used by `start` without CHAT_INTERFACE_URL', 500, 1, 10_000_000),
  SIMULATOR_SEED: Integer('Seed of the built-in simulator', 1, 0, 2 ** 32 - 1)
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  readonly code = 'CS_CONFIG_INVALID'
  constructor (readonly variable: string, message: string) {
    super(`invalid configuration: ${variable} ${message}`)
    this.name = 'ConfigError'
  }
}

/** Secret-bearing variables: never printed back in an error. */
const SECRET_VARIABLES = new Set(['ADMIN_TOKEN', 'REDIS_URL', 'CHAT_INTERFACE_URL', 'REDIS_SENTINEL_PASSWORD'])

/** Which cross-field rules apply: a command checks the combinations of the variables it uses. */
export interface ConfigUses {
  /** The command opens the store: the store variables must fit together. Default true. */
  store?: boolean
}

/**
 * Reads the configuration from `env` (and, unless `dotenvPath` is null, from
 * `.env` for variables the environment does not set), converts and validates
 * it against the schema and the cross-field rules of what the command `uses`
 * (all of them by default). Throws ConfigError naming the first bad variable.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, dotenvPath: string | null = '.env', uses: ConfigUses = {}): Config {
  const merged: Record<string, string> = {}
  if (dotenvPath !== null) {
    let text: string | null = null
    try {
      text = readFileSync(dotenvPath, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError('.env', `cannot be read: ${(err as Error).message}`)
    }
    if (text !== null) Object.assign(merged, parseDotenv(text))
  }
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    if (value !== undefined) merged[key] = value
  }
  // An empty variable means unset, as in most twelve-factor tools.
  for (const [key, value] of Object.entries(merged)) if (value.trim() === '') delete merged[key]

  // Convert would cut "64.5" to 64: a number with a fraction is refused for a whole-number setting, not truncated.
  for (const [key, value] of Object.entries(merged)) {
    const schema = (ConfigSchema.properties as Record<string, { type?: string, description?: string }>)[key]
    const n = Number(value)
    if (schema?.type === 'integer' && Number.isFinite(n) && !Number.isInteger(n)) {
      throw new ConfigError(key, `must be integer (got ${JSON.stringify(value)})${schema.description !== undefined ? `: ${schema.description}` : ''}`)
    }
  }
  const candidate = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, { ...merged }))
  const [first] = Value.Errors(ConfigSchema, candidate)
  if (first !== undefined) {
    const name = first.instancePath.split('/')[1] ?? 'configuration'
    const schema = (ConfigSchema.properties as Record<string, { description?: string, anyOf?: Array<{ const?: unknown }> }>)[name]
    const message = schema?.anyOf !== undefined
      ? `must be one of ${schema.anyOf.map((s) => String(s.const)).join(', ')}`
      : first.message
    const shown = SECRET_VARIABLES.has(name) ? '' : ` (got ${JSON.stringify(merged[name] ?? null)})`
    throw new ConfigError(name, `${message}${shown}${schema?.description !== undefined ? `: ${schema.description}` : ''}`)
  }
  const config = candidate as Config
  if (uses.store !== false) checkStoreConfig(config)
  return config
}

/** True when a Redis server or cluster is configured (otherwise the embedded store is used). */
export function usesRedis (config: Config): boolean {
  return config.REDIS_URL !== undefined || config.REDIS_HOST !== undefined || config.REDIS_CLUSTER_NODES !== undefined || config.REDIS_SENTINELS !== undefined
}

/** STORE_SHARDS, or its default: 16 spread a statistic over the masters of a cluster (docs/STORAGE.md#sharding-on-a-redis-cluster), 1 is the single-Redis layout. */
export function storeShards (config: Config): number {
  return config.STORE_SHARDS ?? (config.REDIS_CLUSTER_NODES !== undefined ? 16 : 1)
}

/**
 * The rules that span the store variables, which the schema cannot say one
 * variable at a time. Throws ConfigError naming the variable to change.
 */
export function checkStoreConfig (config: Config): void {
  const shards = storeShards(config)
  const cluster = config.REDIS_CLUSTER_NODES !== undefined
  if (!usesRedis(config) && shards !== 1) {
    throw new ConfigError('STORE_SHARDS', 'needs Redis (REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES); the embedded store has no shards')
  }
  if (config.REDIS_SENTINELS !== undefined && config.REDIS_SENTINEL_NAME === undefined) {
    throw new ConfigError('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS: the name the sentinels monitor the primary under')
  }
  if (config.REDIS_SENTINELS === undefined && (config.REDIS_SENTINEL_USERNAME !== undefined || config.REDIS_SENTINEL_PASSWORD !== undefined)) {
    throw new ConfigError(config.REDIS_SENTINEL_PASSWORD !== undefined ? 'REDIS_SENTINEL_PASSWORD' : 'REDIS_SENTINEL_USERNAME', 'is only used with REDIS_SENTINELS (the primary\'s user and password go in REDIS_URL)')
  }
  if (config.REDIS_SENTINEL_USERNAME !== undefined && config.REDIS_SENTINEL_PASSWORD === undefined) {
    throw new ConfigError('REDIS_SENTINEL_USERNAME', 'needs REDIS_SENTINEL_PASSWORD: a sentinel\'s ACL user logs in with a password')
  }
  if (config.REDIS_SENTINELS !== undefined && (cluster || config.REDIS_HOST !== undefined)) {
    throw new ConfigError('REDIS_SENTINELS', 'cannot be combined with REDIS_CLUSTER_NODES or REDIS_HOST (REDIS_URL may give the password)')
  }
  if (cluster && (config.REDIS_URL !== undefined || config.REDIS_HOST !== undefined)) {
    throw new ConfigError('REDIS_CLUSTER_NODES', 'cannot be combined with REDIS_URL or REDIS_HOST: set one of them')
  }
  // Each shard's keys are `<namespace>{s<i>}:…`: a brace in the namespace would move the hash tag.
  if ((cluster || shards > 1) && /[{}]/.test(config.REDIS_NAMESPACE)) {
    throw new ConfigError('REDIS_NAMESPACE', 'must not contain { or } with a cluster or STORE_SHARDS > 1 (the shards\' hash tags follow it)')
  }
}

/** The default list that ?bots=exclude leaves out. */
export const DEFAULT_BOT_NICKS = [
  'nightbot', 'streamelements', 'moobot', 'fossabot', 'streamlabs', 'wizebot', 'soundalerts',
  'sery_bot', 'pokemoncommunitygame', 'commanderroot', 'botrixoficial', 'kofistreambot',
  'tangiabot', 'own3d', 'creatisbot', 'frostytoolsdotcom', 'blerp', 'streamstickers', 'lolrankbot',
  'supibot', 'streamelementsbot', 'coebot', 'deepbot', 'phantombot', 'ankhbot', 'vivbot', 'scottybot'
]

export function botNicks (config: Config): Set<string> {
  if (config.BOT_NICKS === undefined) return new Set(DEFAULT_BOT_NICKS)
  return new Set(config.BOT_NICKS.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== ''))
}
