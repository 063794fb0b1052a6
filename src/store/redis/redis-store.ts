import { Cluster, Command, Redis, type RedisOptions } from 'ioredis'
import { compareTopEntries } from '../top-order.js'
import {
  type Batch,
  CATEGORIES,
  type Category,
  type FailedMessage,
  LeaseLostError,
  type Position,
  type Resolution,
  ROOM_CATEGORIES,
  type RoomCategory,
  type RoomTotals,
  type StatsStore,
  StoreUnavailableError,
  type TimePoint,
  type TopEntry,
  type TopQuery,
  type Totals,
  WINDOW_NAMES,
  type WindowName
} from '../types.js'
import { bucketsCovering, type WindowSpec, windowSpec } from '../windows.js'
import { applyRollupChange, emptyRollupState, encodeBatch, encodeRollupOnly, type RollupState } from './batch-encoding.js'
import { RedisKeys, ROOM_EVENT_FIELD_PREFIX, ROOM_MESSAGES_FIELD } from './keys.js'
import { bucketAt, childRange, lastClosed, level, levelOf, TOP_LEVEL } from './levels.js'
import { type LuaScript, SCRIPTS } from './scripts.js'

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

export interface RedisStoreOptions {
  /**
   * An ioredis client made by the caller (createRedisClient, or createRedisClusterClient
   * with a hash-tagged namespace, see shardNamespace); open() connects it, close() quits it.
   */
  redis: RedisClient
  /** Prefix of every key (REDIS_NAMESPACE). */
  namespace: string
  /** Members kept in each all-time global top list (MAX_TRACKED_WORDS). */
  maxTrackedWords: number
  /** Members kept in each all-time room top list (MAX_TRACKED_PER_ROOM). */
  maxTrackedPerRoom: number
  /** Failed messages kept; default 1000. */
  maxFailedLog?: number | undefined
  /** Epoch ms; default Date.now. Decides windows, expiries and startedAt. */
  clock?: (() => number) | undefined
  /** When set, every store call fails with StoreUnavailableError after this long (a guard above the client's own commandTimeout). */
  commandTimeoutMs?: number | undefined
}

/** How long a window's union of buckets is reused (SPEC: a window answer may be up to 1 s old). */
export const WINDOW_CACHE_MS = 1000
/** Longest wait for the connection in open() when no commandTimeoutMs is set. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000
/** Most intervals one series() call may ask for. */
const MAX_SERIES_POINTS = 1_000_000
/** A reader's view of the roll-up marks is read again when older than this. */
const MARKS_MAX_AGE_MS = 1000
/** A reader rolls up due buckets itself when nothing was written for this long (no worker is doing it). */
const STALLED_WRITER_SECONDS = 30
/** Children of a pending bucket starting this long after the reader's now are not read (a writer's clock ahead by more shows them late). */
const FUTURE_MARGIN_SECONDS = 10
/** Tries of an operation whose view of the roll-up marks turned out stale. */
const STALE_MARKS_TRIES = 4
/** Server replies that mean "Redis cannot serve now", not "the command is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM)\b/

const STEP_MS: Record<Resolution, number> = { '1s': 1000, '1m': 60_000 }

function toStoreError (err: unknown): Error {
  if (err instanceof StoreUnavailableError || err instanceof LeaseLostError) return err
  const error = err instanceof Error ? err : new Error(String(err))
  if (error.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(error.message)) return error
  return new StoreUnavailableError(`Redis is unavailable: ${error.message}`, { cause: error })
}

function checkPositiveInteger (name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`)
  return value
}

function checkToken (token: unknown): string {
  if (typeof token !== 'string' || token === '') throw new TypeError('a lease token must be a non-empty string')
  return token
}

function checkQuery (query: TopQuery): void {
  if (!WINDOW_NAMES.includes(query.window)) throw new RangeError(`unknown window ${String(query.window)}`)
  checkPositiveInteger('limit', query.limit)
  if (query.exclude !== undefined && typeof query.exclude !== 'function') throw new TypeError('exclude must be a function')
}

function pairsToEntries (flat: string[]): TopEntry[] {
  const entries: TopEntry[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ value: flat[i]!, count: Number(flat[i + 1]) })
  return entries
}

function parsePosition (stored: string | null): Position {
  if (stored === null) return { lastEventId: null, sequence: 0 }
  const colon = stored.indexOf(':')
  return colon === -1
    ? { lastEventId: null, sequence: Number(stored) }
    : { lastEventId: stored.slice(colon + 1), sequence: Number(stored.slice(0, colon)) }
}

function countsRecord (hash: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [field, value] of Object.entries(hash)) {
    const n = Number(value)
    if (n !== 0) out[field] = n
  }
  return out
}

function optionalNumber (value: string | undefined): number | null {
  return value === undefined ? null : Number(value)
}

function isStaleMarks (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('STALEMARKS')
}

/**
 * A command whose RESP bytes are built in one pass by respCommand: a flush
 * carries tens of thousands of keys, and ioredis serialises arguments one
 * string at a time (several times slower at that size).
 */
class PreparedCommand extends Command {
  constructor (name: string, private readonly payload: Buffer, private readonly slotKey: string | undefined) {
    super(name, [], { replyEncoding: 'utf8' })
  }

  override toWritable (): Buffer {
    return this.payload
  }

  // A Cluster client routes a command by its first key; the prepared payload hides them.
  override getKeys (): string[] {
    return this.slotKey === undefined ? [] : [this.slotKey]
  }
}

/** The RESP array of bulk strings `parts`. */
function respCommand (parts: Array<string | Buffer>): Buffer {
  const lengths = new Array<number>(parts.length)
  let size = 16
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const length = typeof part === 'string' ? Buffer.byteLength(part) : part.length
    lengths[i] = length
    size += length + 16
  }
  const out = Buffer.allocUnsafe(size)
  let at = out.write(`*${parts.length}\r\n`, 0, 'latin1')
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    at += out.write(`$${lengths[i]!}\r\n`, at, 'latin1')
    at += typeof part === 'string' ? out.write(part, at, 'utf8') : part.copy(out, at)
    out[at++] = 13
    out[at++] = 10
  }
  return out.subarray(0, at)
}

/** What a reader knows of the roll-up marks (see levels.ts). */
interface MarksView {
  marks: number[] | null
  last: number | null
  readAt: number
}

/**
 * The production StatsStore on Redis (SPEC section 3). Key layout: keys.ts;
 * scripts: lua/. A flush is one EVALSHA of apply-batch.lua; top lists are
 * sorted sets, windows are unions of time-bucket sets cached for 1 s.
 */
export class RedisStore implements StatsStore {
  readonly keys: RedisKeys
  private readonly redis: RedisClient
  private readonly clock: () => number
  private readonly maxTrackedWords: number
  private readonly maxTrackedPerRoom: number
  private readonly maxFailedLog: number
  private readonly commandTimeoutMs: number | undefined
  /** The writer's knowledge of pending roll-ups; null: reload it before the next flush. */
  private rollupState: RollupState | null = null
  private marksView: MarksView | null = null

  constructor (options: RedisStoreOptions) {
    if (!(options.redis instanceof Redis) && !(options.redis instanceof Cluster)) throw new TypeError('RedisStore needs an ioredis client in options.redis')
    this.redis = options.redis
    this.keys = new RedisKeys(options.namespace)
    this.clock = options.clock ?? Date.now
    this.maxTrackedWords = checkPositiveInteger('maxTrackedWords', options.maxTrackedWords)
    this.maxTrackedPerRoom = checkPositiveInteger('maxTrackedPerRoom', options.maxTrackedPerRoom)
    this.maxFailedLog = checkPositiveInteger('maxFailedLog', options.maxFailedLog ?? 1000)
    this.commandTimeoutMs = options.commandTimeoutMs === undefined ? undefined : checkPositiveInteger('commandTimeoutMs', options.commandTimeoutMs)
  }

  /**
   * Connects the client and loads the Lua scripts. `loadScripts: false` when
   * another store on the same client has just loaded them (the shards of a
   * ShardedRedisStore): a missing script is still loaded by its first EVAL.
   */
  async open ({ loadScripts = true }: { loadScripts?: boolean } = {}): Promise<void> {
    const redis = this.redis
    try {
      await this.withTimeout(this.commandTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, async () => {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect()
        else if (redis.status !== 'ready') await new Promise<void>((resolve) => redis.once('ready', resolve))
      })
      // A cluster has a script cache per master; EVALSHA goes to the master of the keys' slot.
      if (loadScripts) {
        const servers = redis instanceof Cluster ? redis.nodes('master') : [redis]
        await this.run(() => Promise.all(servers.flatMap((server) => Object.values(SCRIPTS).map((script) => server.script('LOAD', script.source)))))
      }
      this.rollupState = await this.loadRollupState()
    } catch (err) {
      // The client keeps reconnecting in the background; close() stops it.
      const cause = toStoreError(err)
      throw new StoreUnavailableError(`cannot open the Redis store: ${cause.message.replace(/^Redis is unavailable: /, '')}`, { cause })
    }
  }

  async close (): Promise<void> {
    const redis = this.redis
    if (redis.status === 'end') return
    if (redis.status !== 'ready') {
      redis.disconnect()
      return
    }
    try {
      await this.withTimeout(this.commandTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, () => redis.quit())
    } catch {
      redis.disconnect()
    }
  }

  async ping (): Promise<void> {
    await this.run(() => this.redis.ping())
  }

  async applyBatch (batch: Batch, leaseToken?: string): Promise<'applied' | 'duplicate'> {
    const token = leaseToken === undefined ? '' : checkToken(leaseToken)
    for (let attempt = 1; ; attempt++) {
      this.rollupState ??= await this.loadRollupState()
      const state = this.rollupState
      const { keys, args, rollup } = encodeBatch(batch, {
        keys: this.keys,
        nowMs: this.clock(),
        maxTrackedWords: this.maxTrackedWords,
        maxTrackedPerRoom: this.maxTrackedPerRoom,
        maxFailedLog: this.maxFailedLog,
        leaseToken: token,
        rollup: state
      })
      let outcome: unknown
      try {
        outcome = await this.run(() => this.evalScript(SCRIPTS.applyBatch, keys, args))
      } catch (err) {
        // The outcome is unknown: what the script did to the roll-ups too.
        this.rollupState = null
        throw err
      }
      if (outcome === 1) {
        applyRollupChange(state, rollup)
        return 'applied'
      }
      // Anything else: the roll-up knowledge is reloaded before the next flush.
      this.rollupState = null
      if (outcome === 2) return 'applied'
      if (outcome === 0) return 'duplicate'
      if (outcome === -1) throw new LeaseLostError()
      // -2: someone else moved the roll-up marks (a reader catching up): nothing was written; encode again.
      if (outcome !== -2 || attempt === STALE_MARKS_TRIES) throw new Error(`apply-batch.lua answered ${String(outcome)}`)
    }
  }

  async position (): Promise<Position> {
    return parsePosition(await this.run(() => this.redis.get(this.keys.position)))
  }

  async totals (): Promise<Totals> {
    const [totals, events] = await this.run(async () => {
      const replies = await this.redis.multi().hgetall(this.keys.totals).hgetall(this.keys.events).exec()
      return this.replies(replies) as [Record<string, string>, Record<string, string>]
    })
    return {
      totalMessages: Number(totals.messages ?? 0),
      failedMessages: Number(totals.failed ?? 0),
      events: countsRecord(events),
      startedAt: optionalNumber(totals.startedAt),
      lastMessageAt: optionalNumber(totals.lastMessageAt)
    }
  }

  async series (resolution: Resolution, fromMs: number, toMs: number): Promise<TimePoint[]> {
    const step = STEP_MS[resolution]
    if (step === undefined) throw new RangeError(`unknown resolution ${String(resolution)}`)
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) throw new RangeError('series needs finite fromMs and toMs')
    const first = Math.ceil(fromMs / step) * step
    const last = Math.floor(toMs / step) * step
    if (last < first) return []
    const count = (last - first) / step + 1
    if (count > MAX_SERIES_POINTS) throw new RangeError(`series of ${count} points asked; at most ${MAX_SERIES_POINTS}`)

    // 1s: one hash per minute, field = second of the minute; 1m: one hash per day, field = minute of the day.
    const perKey = resolution === '1s' ? 60_000 : 86_400_000
    const fieldOf = resolution === '1s' ? (t: number) => String((t / 1000) % 60) : (t: number) => String((t / 60_000) % 1440)
    const firstKey = Math.floor(first / perKey)
    const lastKey = Math.floor(last / perKey)
    const hashes = await this.run(async () => {
      const pipeline = this.redis.pipeline()
      for (let n = firstKey; n <= lastKey; n++) pipeline.hgetall(resolution === '1s' ? this.keys.secondSeries(n) : this.keys.minuteSeries(n))
      return this.replies(await pipeline.exec()) as Array<Record<string, string>>
    })
    const points: TimePoint[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const t = first + i * step
      const messages = hashes[Math.floor(t / perKey) - firstKey]![fieldOf(t)]
      points[i] = { t, messages: messages === undefined ? 0 : Number(messages) }
    }
    return points
  }

  async top (category: Category, query: TopQuery): Promise<TopEntry[]> {
    if (!CATEGORIES.includes(category)) throw new RangeError(`unknown category ${String(category)}`)
    checkQuery(query)
    if (query.window === 'all') return this.readTop([this.keys.top(category)], query, '')
    const spec = windowSpec(query.window)
    return this.withMarks(async (marks, marksText) => {
      const nowMs = this.clock()
      const current = bucketsCovering(spec, nowMs).at(-1)!
      const keys = [this.keys.windowCache(spec, category, current), this.keys.rollup]
      this.windowKeys(spec, nowMs, marks, (s, bucket) => keys.push(this.keys.windowBucket(s, category, bucket)))
      return this.readTop(keys, query, marksText)
    })
  }

  async roomTop (room: string, category: RoomCategory, query: TopQuery): Promise<TopEntry[]> {
    if (typeof room !== 'string') throw new TypeError('room must be a string')
    if (!ROOM_CATEGORIES.includes(category)) throw new RangeError(`unknown room category ${String(category)}`)
    checkQuery(query)
    if (query.window === 'all') return this.readTop([this.keys.roomTop(room, category)], query, '')
    const spec = windowSpec(query.window)
    return this.withMarks(async (marks, marksText) => {
      const nowMs = this.clock()
      const current = bucketsCovering(spec, nowMs).at(-1)!
      const keys = [this.keys.roomWindowCache(spec, category, current, room), this.keys.rollup]
      this.windowKeys(spec, nowMs, marks, (s, bucket) => keys.push(this.keys.roomTopBucket(s, category, bucket, room)))
      return this.readTop(keys, query, marksText)
    })
  }

  async roomTotals (room: string, window: WindowName): Promise<RoomTotals | null> {
    if (typeof room !== 'string') throw new TypeError('room must be a string')
    if (!WINDOW_NAMES.includes(window)) throw new RangeError(`unknown window ${String(window)}`)
    const read = (keys: string[], marksText: string): Promise<Array<string | number> | null> =>
      this.run(() => this.evalScript(SCRIPTS.roomTotals, keys, [String(TOP_LEVEL), marksText])) as Promise<Array<string | number> | null>
    let flat: Array<string | number> | null
    if (window === 'all') {
      flat = await read([this.keys.room(room)], '')
    } else {
      const spec: WindowSpec = windowSpec(window)
      flat = await this.withMarks(async (marks, marksText) => {
        const keys = [this.keys.room(room), this.keys.rollup]
        this.windowKeys(spec, this.clock(), marks, (s, bucket) => keys.push(this.keys.roomWindowBucket(s, bucket, room)))
        return read(keys, marksText)
      })
    }
    if (flat === null) return null
    const totals: RoomTotals = { messages: 0, events: {} }
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = String(flat[i])
      const n = Number(flat[i + 1])
      if (field === ROOM_MESSAGES_FIELD) totals.messages = n
      else if (field.startsWith(ROOM_EVENT_FIELD_PREFIX) && n !== 0) totals.events[field.slice(ROOM_EVENT_FIELD_PREFIX.length)] = n
    }
    return totals
  }

  async failedMessages (limit: number): Promise<FailedMessage[]> {
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${String(limit)}`)
    const count = Math.min(limit, this.maxFailedLog)
    if (count === 0) return []
    const entries = await this.run(() => this.redis.lrange(this.keys.failedLog, 0, count - 1))
    return entries.map((entry) => {
      const { raw, reason, at } = JSON.parse(entry) as FailedMessage
      return { raw, reason, at }
    })
  }

  async acquireLease (token: string, ttlMs: number): Promise<boolean> {
    const args = [checkToken(token), String(checkPositiveInteger('ttlMs', ttlMs))]
    const held = await this.run(() => this.evalScript(SCRIPTS.leaseAcquire, [this.keys.lease], args)) === 1
    // A new writer learns what the previous one left to roll up.
    if (held) this.rollupState = await this.loadRollupState()
    return held
  }

  async renewLease (token: string, ttlMs: number): Promise<boolean> {
    const args = [checkToken(token), String(checkPositiveInteger('ttlMs', ttlMs))]
    return await this.run(() => this.evalScript(SCRIPTS.leaseRenew, [this.keys.lease], args)) === 1
  }

  async releaseLease (token: string): Promise<void> {
    const args = [checkToken(token)]
    await this.run(() => this.evalScript(SCRIPTS.leaseRelease, [this.keys.lease], args))
  }

  /**
   * The exact top list of the sorted set keys[0] (keys[1..]: bucket keys that
   * build it when it is a window cache). Without `exclude` one script call
   * does it; with `exclude` pages are read until `limit` accepted entries are
   * found, then the tie group at the cut is read in ascending value order so
   * the smallest accepted values win the cut, as compareTopEntries requires.
   */
  private async readTop (keys: string[], query: TopQuery, marksText: string): Promise<TopEntry[]> {
    const { limit, exclude } = query
    const levels = keys.length > 2 ? String(TOP_LEVEL) : '0'
    const read = (...args: string[]): Promise<string[]> =>
      this.run(() => this.evalScript(SCRIPTS.top, keys, [String(WINDOW_CACHE_MS), levels, marksText, ...args]) as Promise<string[]>)
    if (exclude === undefined) return pairsToEntries(await read('top', String(limit))).sort(compareTopEntries)

    const accepted: TopEntry[] = []
    let cut: string | null = null
    let pageSize = Math.max(2 * limit, 64)
    for (let offset = 0; cut === null; offset += pageSize, pageSize = Math.min(pageSize * 2, 10_000)) {
      const page = await read('desc', String(offset), String(offset + pageSize - 1))
      for (let i = 0; i + 1 < page.length; i += 2) {
        const value = page[i]!
        if (exclude(value)) continue
        accepted.push({ value, count: Number(page[i + 1]) })
        if (accepted.length === limit) {
          cut = page[i + 1]!
          break
        }
      }
      if (page.length < 2 * pageSize) break
    }
    if (cut === null) return accepted.sort(compareTopEntries)

    const cutCount = Number(cut)
    const result = accepted.filter((entry) => entry.count > cutCount).sort(compareTopEntries)
    pageSize = Math.max(2 * (limit - result.length), 64)
    for (let offset = 0; result.length < limit; offset += pageSize, pageSize = Math.min(pageSize * 2, 10_000)) {
      const members = await read('tie', cut, String(offset), String(pageSize))
      for (const value of members) {
        if (exclude(value)) continue
        result.push({ value, count: cutCount })
        if (result.length === limit) break
      }
      if (members.length < pageSize) break
    }
    return result
  }

  /**
   * The keys whose union is a window: the 60 buckets covering it, each read
   * from its own key when its level's mark says it is final, else from its
   * children (recursively down to the 1 s buckets, which are always final).
   */
  private windowKeys (spec: WindowSpec, nowMs: number, marks: number[] | null, push: (spec: WindowSpec, bucket: number) => void): void {
    const horizon = Math.floor(nowMs / 1000) + FUTURE_MARGIN_SECONDS
    const decompose = (l: number, bucket: number): void => {
      if (l === 0 || marks === null || bucket <= marks[l]!) {
        push(level(l).spec, bucket)
        return
      }
      const [first, last] = childRange(l, bucket)
      const childSeconds = level(l - 1).seconds
      for (let child = first; child <= last && child * childSeconds <= horizon; child++) decompose(l - 1, child)
    }
    const l = levelOf(spec).index
    for (const bucket of bucketsCovering(spec, nowMs)) decompose(l, bucket)
  }

  /**
   * Runs a window read with the current roll-up marks, again with fresh
   * ones when the script finds they moved on. A reader that finds buckets
   * due while no worker has written for a while rolls them up itself.
   */
  private async withMarks<T> (work: (marks: number[] | null, marksText: string) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let view = this.marksView
      if (attempt > 1 || view === null || performance.now() - view.readAt > MARKS_MAX_AGE_MS) view = await this.readMarks()
      const nowSecond = Math.floor(this.clock() / 1000)
      if (view.marks !== null && view.last !== null && nowSecond - view.last > STALLED_WRITER_SECONDS &&
        view.marks.some((mark, l) => l > 0 && mark < lastClosed(l, nowSecond))) {
        await this.catchUpRollups()
        view = await this.readMarks()
      }
      const marks = view.marks
      try {
        return await work(marks, marks === null ? '' : marks.slice(1).join(','))
      } catch (err) {
        if (!isStaleMarks(err) || attempt === STALE_MARKS_TRIES) throw err
      }
    }
  }

  private async readMarks (): Promise<MarksView> {
    const fields = Array.from({ length: TOP_LEVEL }, (_, i) => String(i + 1))
    const stored = await this.run(() => this.redis.hmget(this.keys.rollup, ...fields, 'last'))
    const marks = stored.slice(0, TOP_LEVEL)
    const last = stored[TOP_LEVEL]
    const view: MarksView = {
      marks: marks.every((m) => m !== null) ? [0, ...marks.map(Number)] : null,
      last: last === null || last === undefined ? null : Number(last),
      readAt: performance.now()
    }
    this.marksView = view
    return view
  }

  /** The marks, the last second written and the rooms of every pending bucket, as stored. */
  private async loadRollupState (): Promise<RollupState> {
    const view = await this.readMarks()
    const state = emptyRollupState()
    state.marks = view.marks
    state.last = view.last
    if (view.marks === null || view.last === null) return state
    const wanted: Array<[number, number]> = []
    for (let l = 1; l <= TOP_LEVEL; l++) {
      for (let bucket = view.marks[l]! + 1; bucket <= bucketAt(l, view.last); bucket++) wanted.push([l, bucket])
    }
    if (wanted.length === 0) return state
    const replies = await this.run(async () => {
      const pipeline = this.redis.pipeline()
      for (const [l, bucket] of wanted) pipeline.smembers(this.keys.rollupRooms(level(l).spec, bucket))
      return this.replies(await pipeline.exec()) as string[][]
    })
    wanted.forEach(([l, bucket], i) => {
      const members = replies[i]!
      if (members.length > 0) state.rooms[l]!.set(bucket, new Set(members))
    })
    return state
  }

  /** Rolls up what is due while no worker does (at most a few rounds; the marks guard against a writer doing it at the same time). */
  private async catchUpRollups (): Promise<void> {
    for (let round = 0; round < 8; round++) {
      const state = await this.loadRollupState()
      const encoded = encodeRollupOnly({ keys: this.keys, nowMs: this.clock(), rollup: state })
      if (encoded === null) return
      const outcome = await this.run(() => this.evalScript(SCRIPTS.rollup, encoded.keys, encoded.args))
      // The writer's knowledge is stale now; it reloads it before its next flush.
      this.rollupState = null
      if (outcome !== 1) return
    }
  }

  /**
   * EVALSHA; when Redis lost the script (restart, SCRIPT FLUSH, a master that
   * joined a cluster later) EVAL with its source, which also caches it there.
   * EVAL goes to the same slot's master: SCRIPT LOAD could not be aimed at it.
   */
  private async evalScript (script: LuaScript, keys: string[], args: Array<string | Buffer>): Promise<unknown> {
    if (script.numberOfKeys !== null && keys.length !== script.numberOfKeys) throw new Error(`${script.name} takes ${script.numberOfKeys} keys`)
    const send = async (name: 'evalsha' | 'eval', body: string): Promise<unknown> => {
      const payload = respCommand(([name, body, String(keys.length)] as Array<string | Buffer>).concat(keys, args))
      return await this.redis.sendCommand(new PreparedCommand(name, payload, keys[0]))
    }
    try {
      return await send('evalsha', script.sha)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return await send('eval', script.source)
    }
  }

  /** The results of a pipeline or MULTI, throwing the first error. */
  private replies (results: Array<[Error | null, unknown]> | null): unknown[] {
    if (results === null) throw new StoreUnavailableError('Redis aborted the transaction')
    return results.map(([err, value]) => {
      if (err !== null) throw err
      return value
    })
  }

  /** Runs one store operation, mapping connection failures to StoreUnavailableError. */
  private async run<T> (work: () => Promise<T>): Promise<T> {
    try {
      return this.commandTimeoutMs === undefined ? await work() : await this.withTimeout(this.commandTimeoutMs, work)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  private async withTimeout<T> (ms: number, work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`Redis did not answer within ${ms} ms`)), ms)
    })
    try {
      return await Promise.race([work(), timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}
