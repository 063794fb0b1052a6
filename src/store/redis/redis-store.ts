import { Cluster, Redis } from 'ioredis'
import { validateBatch } from '../batch-validation.js'
import { MAX_SERIES_POINTS, STEP_MS } from '../series.js'
import { compareTopEntries } from '../top-order.js'
import {
  CATEGORIES,
  type Batch,
  type Category,
  type FailedMessage,
  LeaseLostError,
  StoreBehindError,
  type Position,
  type Resolution,
  ROOM_CATEGORIES,
  type RoomCategory,
  type RoomTotals,
  type StatsStore,
  StoreUnavailableError,
  type TimePoint,
  type TopEntry,
  type TopList,
  type TopQuery,
  type Totals,
  WINDOW_NAMES,
  type WindowName
} from '../types.js'
import { readMerged } from '../windows/trimmed-list.js'
import type { RedisClient } from './clients.js'
import { replies, toStoreError, withTimeout } from './errors.js'
import { FlushWriter } from './flush-writer.js'
import { RedisKeys, ROOM_EVENT_FIELD_PREFIX, ROOM_FIRST_SEEN_FIELD, ROOM_MESSAGES_FIELD } from './keys.js'
import { defineStoreCommands, type StoreCommands } from './read-commands.js'
import { ResultCode } from './result-codes.js'
import { loadScripts } from './script-runner.js'
import { WRITE_SCRIPTS } from './scripts.js'
import { WindowReader } from './window-reads.js'

// The client factories live in clients.ts; re-exported for the callers that build a store.
import { describeConnectionFailure } from './clients.js'
export { createRedisClient, createRedisClusterClient, type RedisClient, type RedisClientOptions, type RedisClusterClientOptions } from './clients.js'

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
  /** Rooms that keep a drill-down (MAX_TRACKED_ROOMS); default 1000. */
  maxTrackedRooms?: number | undefined
  /** Members kept per list in a closed stream-wide window bucket (WINDOW_TOP); default 1000. */
  windowTop?: number | undefined
  /** Members kept per list in a closed window bucket of a room (ROOM_WINDOW_TOP); default 25. */
  roomWindowTop?: number | undefined
  /** Failed messages kept; default 1000. */
  maxFailedLog?: number | undefined
  /** Epoch ms; default Date.now. Decides windows, expiries and startedAt. */
  clock?: (() => number) | undefined
  /** When set, every store call fails with StoreUnavailableError after this long (a guard above the client's own commandTimeout). */
  commandTimeoutMs?: number | undefined
}

/** Longest wait for the connection in open() when no commandTimeoutMs is set. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000
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

/**
 * The production StatsStore on Redis (docs/STORAGE.md). Key layout: keys.ts;
 * scripts: lua/. A flush is one EVALSHA of apply-batch.lua (flush-writer.ts);
 * all-time lists are sorted sets, window buckets compact trimmed values
 * merged on read (window-reads.ts, windows/ for the semantics).
 */
export class RedisStore implements StatsStore {
  readonly keys: RedisKeys
  private readonly redis: RedisClient
  private readonly commands: StoreCommands
  private readonly clock: () => number
  private readonly maxFailedLog: number
  private readonly commandTimeoutMs: number | undefined
  private readonly writer: FlushWriter
  private readonly windows: WindowReader

  constructor (options: RedisStoreOptions) {
    if (!(options.redis instanceof Redis) && !(options.redis instanceof Cluster)) throw new TypeError('RedisStore needs an ioredis client in options.redis')
    this.redis = options.redis
    this.commands = defineStoreCommands(options.redis)
    this.keys = new RedisKeys(options.namespace)
    this.clock = options.clock ?? Date.now
    this.maxFailedLog = checkPositiveInteger('maxFailedLog', options.maxFailedLog ?? 1000)
    this.commandTimeoutMs = options.commandTimeoutMs === undefined ? undefined : checkPositiveInteger('commandTimeoutMs', options.commandTimeoutMs)
    const run = <T>(work: () => Promise<T>): Promise<T> => this.run(work)
    this.writer = new FlushWriter({
      redis: this.redis,
      keys: this.keys,
      maxTrackedWords: checkPositiveInteger('maxTrackedWords', options.maxTrackedWords),
      maxTrackedPerRoom: checkPositiveInteger('maxTrackedPerRoom', options.maxTrackedPerRoom),
      maxTrackedRooms: checkPositiveInteger('maxTrackedRooms', options.maxTrackedRooms ?? 1000),
      windowTop: checkPositiveInteger('windowTop', options.windowTop ?? 1000),
      roomWindowTop: checkPositiveInteger('roomWindowTop', options.roomWindowTop ?? 25),
      maxFailedLog: this.maxFailedLog,
      run
    })
    this.windows = new WindowReader(this.redis, this.keys, run)
  }

  /**
   * Connects the client and loads the Lua scripts. `loadScripts: false` when
   * another store on the same client has just loaded them (the shards of a
   * ShardedRedisStore): a missing script is still loaded by its first EVAL.
   */
  async open ({ loadScripts: loadWriteScripts = true }: { loadScripts?: boolean } = {}): Promise<void> {
    const redis = this.redis
    try {
      await withTimeout(this.commandTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, async () => {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect()
        else if (redis.status !== 'ready') await new Promise<void>((resolve) => redis.once('ready', resolve))
      })
      // A cluster has a script cache per master; EVALSHA goes to the master of the keys' slot.
      if (loadWriteScripts) await this.run(() => loadScripts(redis, Object.values(WRITE_SCRIPTS)))
      this.writer.reset()
    } catch (err) {
      // The client keeps reconnecting in the background; close() stops it.
      const cause = toStoreError(err)
      throw new StoreUnavailableError(`cannot open the Redis store at ${describeConnectionFailure(redis, cause)}`, { cause })
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
      await withTimeout(this.commandTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, () => redis.quit())
    } catch {
      redis.disconnect()
    }
  }

  async ping (): Promise<void> {
    await this.run(() => this.redis.ping())
  }

  async applyBatch (batch: Batch, leaseToken?: string): Promise<'applied' | 'duplicate'> {
    validateBatch(batch)
    return await this.applyValidBatch(batch, leaseToken)
  }

  /**
   * applyBatch for a batch that already passed validateBatch: the sharded
   * store checks the whole batch once before it splits it (splitBatch), so
   * its shards do not walk every count a second time.
   */
  async applyValidBatch (batch: Batch, leaseToken?: string): Promise<'applied' | 'duplicate'> {
    const token = leaseToken === undefined ? '' : checkToken(leaseToken)
    const outcome = await this.writer.apply(batch, token, this.clock())
    if (outcome === ResultCode.LeaseLost) throw new LeaseLostError()
    if (outcome === ResultCode.Behind) throw new StoreBehindError()
    // A reader in this process sees the new window state at once.
    this.windows.invalidate()
    return outcome === ResultCode.Applied ? 'applied' : 'duplicate'
  }

  async position (): Promise<Position> {
    return parsePosition(await this.run(() => this.redis.get(this.keys.position)))
  }

  async totals (): Promise<Totals> {
    const [totals, events] = await this.run(async () => {
      const results = await this.redis.multi().hgetall(this.keys.totals).hgetall(this.keys.events).exec()
      return replies(results) as [Record<string, string>, Record<string, string>]
    })
    return {
      totalMessages: Number(totals.messages ?? 0),
      failedMessages: Number(totals.failed ?? 0),
      events: countsRecord(events),
      startedAt: optionalNumber(totals.startedAt),
      lastMessageAt: optionalNumber(totals.lastMessageAt),
      // Absent until a worker records a rollback (the embedded store never has one).
      ...(totals.storeRollbacks === undefined ? {} : { storeRollbacks: Number(totals.storeRollbacks) }),
      ...(totals.messagesLost === undefined ? {} : { messagesLost: Number(totals.messagesLost) })
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
      return replies(await pipeline.exec()) as Array<Record<string, string>>
    })
    const points: TimePoint[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const t = first + i * step
      const messages = hashes[Math.floor(t / perKey) - firstKey]![fieldOf(t)]
      points[i] = { t, messages: messages === undefined ? 0 : Number(messages) }
    }
    return points
  }

  async top (category: Category, query: TopQuery): Promise<TopList> {
    if (!CATEGORIES.includes(category)) throw new RangeError(`unknown category ${String(category)}`)
    checkQuery(query)
    if (query.window === 'all') return { entries: await this.readTop(this.keys.top(category), query), maxError: 0 }
    const lists = await this.windows.lists(category, query.window, this.clock())
    return readMerged(lists, query.limit, query.exclude)
  }

  async roomTop (room: string, category: RoomCategory, query: TopQuery): Promise<TopList> {
    if (typeof room !== 'string') throw new TypeError('room must be a string')
    if (!ROOM_CATEGORIES.includes(category)) throw new RangeError(`unknown room category ${String(category)}`)
    checkQuery(query)
    // An untracked room has no detail keys: its lists are empty.
    if (query.window === 'all') return { entries: await this.readTop(this.keys.roomTop(room, category), query), maxError: 0 }
    const values = await this.windows.roomValues(room, query.window, this.clock())
    return readMerged(values.map((value) => value[category]), query.limit, query.exclude)
  }

  async roomTotals (room: string, window: WindowName): Promise<RoomTotals | null> {
    if (typeof room !== 'string') throw new TypeError('room must be a string')
    if (!WINDOW_NAMES.includes(window)) throw new RangeError(`unknown window ${String(window)}`)
    const [trackedScore, listed, hash] = await this.run(async () => {
      const results = await this.redis.multi().zscore(this.keys.tracked, room).zscore(this.keys.top('rooms'), room).hgetall(this.keys.room(room)).exec()
      return replies(results) as [string | null, string | null, Record<string, string>]
    })
    if (trackedScore === null) {
      // Not tracked: its count from the rooms list (docs/STORAGE.md#tracked-rooms), nothing else.
      if (listed === null) return null
      return { messages: window === 'all' ? Number(listed) : 0, events: {}, tracked: false, firstSeenAt: null }
    }
    // No `f` field: the room was tracked before first-seen times were kept (unknown).
    const firstSeen = hash[ROOM_FIRST_SEEN_FIELD]
    const firstSeenAt = firstSeen === undefined ? null : Number(firstSeen) * 1000
    if (window === 'all') {
      const totals: RoomTotals = { messages: 0, events: {}, tracked: true, firstSeenAt }
      for (const [field, value] of Object.entries(hash)) {
        const n = Number(value)
        if (field === ROOM_MESSAGES_FIELD) totals.messages = n
        else if (field.startsWith(ROOM_EVENT_FIELD_PREFIX) && n !== 0) totals.events[field.slice(ROOM_EVENT_FIELD_PREFIX.length)] = n
      }
      // All-time messages count from the room's first message (the rooms list), not from when its detail started.
      if (listed !== null) totals.messages = Number(listed)
      return totals
    }
    const totals: RoomTotals = { messages: 0, events: {}, tracked: true, firstSeenAt }
    for (const value of await this.windows.roomValues(room, window, this.clock())) {
      totals.messages += value.messages
      for (const [command, n] of value.events) if (n !== 0) totals.events[command] = (totals.events[command] ?? 0) + n
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
    const ttl = String(checkPositiveInteger('ttlMs', ttlMs))
    const held = await this.run(() => this.commands.chatStatsLeaseAcquire(this.keys.lease, checkToken(token), ttl)) === 1
    // A new lease holder carries on from what the previous one left in Redis.
    if (held) this.writer.reset()
    return held
  }

  async renewLease (token: string, ttlMs: number): Promise<boolean> {
    const ttl = String(checkPositiveInteger('ttlMs', ttlMs))
    return await this.run(() => this.commands.chatStatsLeaseRenew(this.keys.lease, checkToken(token), ttl)) === 1
  }

  async releaseLease (token: string): Promise<void> {
    const checked = checkToken(token)
    await this.run(() => this.commands.chatStatsLeaseRelease(this.keys.lease, checked))
  }

  /**
   * The exact top list of a sorted set. Without `exclude` one script call
   * does it; with `exclude` pages are read until `limit` accepted entries are
   * found, then the tie group at the cut is read in ascending value order so
   * the smallest accepted values win the cut, as compareTopEntries requires.
   */
  private async readTop (key: string, query: TopQuery): Promise<TopEntry[]> {
    const { limit, exclude } = query
    const read = (...args: string[]): Promise<string[]> => this.run(() => this.commands.chatStatsTop(key, ...args) as Promise<string[]>)
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

  /** Runs one store operation, mapping connection failures to StoreUnavailableError. */
  private async run<T> (work: () => Promise<T>): Promise<T> {
    try {
      return this.commandTimeoutMs === undefined ? await work() : await withTimeout(this.commandTimeoutMs, work)
    } catch (err) {
      throw toStoreError(err)
    }
  }
}
