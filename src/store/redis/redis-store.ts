import { Cluster, Redis } from 'ioredis'
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
import { encodeBatch } from './batch-encoding.js'
import { type RedisClient } from './clients.js'
import { replies, toStoreError, withTimeout } from './errors.js'
import { defineStoreCommands, type StoreCommands } from './read-commands.js'
import { ResultCode } from './result-codes.js'
import { applyRollupChange, emptyRollupState, encodeRollupOnly, type RollupState } from './rollup-plan.js'
import { evalPrepared, loadScripts } from './script-runner.js'
import { RedisKeys, ROOM_EVENT_FIELD_PREFIX, ROOM_MESSAGES_FIELD } from './keys.js'
import { bucketAt, childRange, lastClosed, level, levelOf, TOP_LEVEL } from './levels.js'
import { WRITE_SCRIPTS } from './scripts.js'
import { MAX_SERIES_POINTS, STEP_MS } from '../series.js'

// The client factories moved to clients.ts; re-exported for the callers that build a store.
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
/** A reader's view of the roll-up marks is read again when older than this. */
const MARKS_MAX_AGE_MS = 1000
/** A reader rolls up due buckets itself when nothing was written for this long (no worker is doing it). */
const STALLED_WRITER_SECONDS = 30
/** Children of a pending bucket starting this long after the reader's now are not read (a writer's clock ahead by more shows them late). */
const FUTURE_MARGIN_SECONDS = 10
/** Tries of an operation whose view of the roll-up marks turned out stale. */
const STALE_MARKS_TRIES = 4

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

/** A read script found the roll-up marks moved on since the reader chose its keys: read again with fresh ones. */
class StaleMarksError extends Error {}

function unlessStale (reply: unknown): unknown {
  if (reply === ResultCode.StaleMarks) throw new StaleMarksError('the window roll-ups moved on')
  return reply
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
  private readonly commands: StoreCommands
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
    this.commands = defineStoreCommands(options.redis)
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
  async open ({ loadScripts: loadWriteScripts = true }: { loadScripts?: boolean } = {}): Promise<void> {
    const redis = this.redis
    try {
      await withTimeout(this.commandTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, async () => {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect()
        else if (redis.status !== 'ready') await new Promise<void>((resolve) => redis.once('ready', resolve))
      })
      // A cluster has a script cache per master; EVALSHA goes to the master of the keys' slot.
      if (loadWriteScripts) await this.run(() => loadScripts(redis, Object.values(WRITE_SCRIPTS)))
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
      await withTimeout(this.commandTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, () => redis.quit())
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
        outcome = await this.run(() => evalPrepared(this.redis, WRITE_SCRIPTS.applyBatch, keys, args))
      } catch (err) {
        // The outcome is unknown: what the script did to the roll-ups too.
        this.rollupState = null
        throw err
      }
      if (outcome === ResultCode.Applied) {
        applyRollupChange(state, rollup)
        return 'applied'
      }
      // Anything else: the roll-up knowledge is reloaded before the next flush.
      this.rollupState = null
      if (outcome === ResultCode.AppliedRollupSkipped) return 'applied'
      if (outcome === ResultCode.Duplicate) return 'duplicate'
      if (outcome === ResultCode.LeaseLost) throw new LeaseLostError()
      // StaleMarks: someone else moved the roll-up marks (a reader catching up): nothing was written; encode again.
      if (outcome !== ResultCode.StaleMarks || attempt === STALE_MARKS_TRIES) throw new Error(`apply-batch.lua answered ${String(outcome)}`)
    }
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
    // The API asks at most MAX_SERIES_POINTS (+1 when both ends fall on a step); this only stops a caller asking for millions.
    if (count > 2 * MAX_SERIES_POINTS) throw new RangeError(`series of ${count} points asked; at most ${2 * MAX_SERIES_POINTS}`)

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
      this.run(() => this.commands.chatStatsRoomTotals(keys.length, ...keys, String(TOP_LEVEL), marksText)).then(unlessStale) as Promise<Array<string | number> | null>
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
    const ttl = String(checkPositiveInteger('ttlMs', ttlMs))
    const held = await this.run(() => this.commands.chatStatsLeaseAcquire(this.keys.lease, checkToken(token), ttl)) === 1
    // A new writer learns what the previous one left to roll up.
    if (held) this.rollupState = await this.loadRollupState()
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
      this.run(() => this.commands.chatStatsTop(keys.length, ...keys, String(WINDOW_CACHE_MS), levels, marksText, ...args)).then(unlessStale) as Promise<string[]>
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
        if (!(err instanceof StaleMarksError) || attempt === STALE_MARKS_TRIES) throw err
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
    const indexes = await this.run(async () => {
      const pipeline = this.redis.pipeline()
      for (const [l, bucket] of wanted) pipeline.smembers(this.keys.rollupRooms(level(l).spec, bucket))
      return replies(await pipeline.exec()) as string[][]
    })
    wanted.forEach(([l, bucket], i) => {
      const members = indexes[i]!
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
      const outcome = await this.run(() => evalPrepared(this.redis, WRITE_SCRIPTS.rollup, encoded.keys, encoded.args))
      // The writer's knowledge is stale now; it reloads it before its next flush.
      this.rollupState = null
      if (outcome !== ResultCode.Applied) return
    }
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
