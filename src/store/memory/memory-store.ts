import { pino, type Logger } from 'pino'
import {
  type Batch, CATEGORIES, type Category, type CountSlice, type Counts, type FailedMessage, LeaseLostError, type Position,
  type Resolution, ROOM_CATEGORIES, type RoomCategory, type RoomSlice, type RoomTotals, type StatsStore, StoreUnavailableError,
  type TimePoint, type TopEntry, type TopQuery, type Totals, WINDOW_NAMES, type WindowName
} from '../types.js'
import {
  bucketOf, bucketsCovering, bucketTtlSeconds, MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS,
  WINDOW_SPECS, type WindowSpec, windowSpec
} from '../windows.js'
import { InvalidBatchError } from './errors.js'
import { nodeFileSystem, readSnapshot, type SnapshotFileSystem, type SnapshotWriteResult, writeSnapshot } from './snapshot.js'
import {
  addCount, type BucketedWindow, emptyRoom, emptyRoomBucket, emptyState, emptyWindowBucket, type RoomState,
  type StoreState, type WindowBucket
} from './state.js'
import { TopCache } from './top-cache.js'
import { WindowAggregate } from './window-aggregate.js'

export { InvalidBatchError, SnapshotCorruptError, SnapshotUnreadableError, SnapshotWriteError } from './errors.js'

/** The logger methods the store uses (a pino logger fits). */
export type StoreLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

export interface MemoryStoreOptions {
  /** Epoch ms; default Date.now. Windows, expiry, startedAt and the lease use it. */
  clock?: () => number
  /** Members kept in each all-time global list (MAX_TRACKED_WORDS). */
  maxTrackedWords: number
  /** Members kept in each all-time per-room list (MAX_TRACKED_PER_ROOM). */
  maxTrackedPerRoom: number
  /** Failed messages kept, newest; default 1000. */
  maxFailedLog?: number
  /** Snapshot file (SNAPSHOT_PATH); null keeps everything in memory only. */
  snapshotPath: string | null
  /** How often a changed store is snapshotted; default 60000. */
  snapshotIntervalMs?: number
  /** Default: silent. */
  logger?: StoreLogger
  /** File operations for snapshot writes; default node:fs/promises (tests inject faults). */
  fileSystem?: SnapshotFileSystem
}

/** Room window merges kept for repeated reads. */
const ROOM_MERGE_CACHE_ENTRIES = 512
/** Per-second and per-minute series are swept in full this often (ms of store clock); otherwise from the oldest end only. */
const FULL_SWEEP_INTERVAL_MS = 60_000
/** The longest series a single read may ask for (7 days of minutes fit; 24 h of seconds fit). */
const MAX_SERIES_POINTS = 200_000

type Status = 'new' | 'open' | 'failed' | 'closed'

interface RoomMerge {
  version: number
  cache: TopCache
}

function positiveInteger (value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`MemoryStore: ${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

function isCount (n: unknown): boolean {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

function checkCounts (counts: unknown, where: string): void {
  if (!(counts instanceof Map)) throw new InvalidBatchError(`${where} must be a Map`)
  for (const [key, n] of counts as Map<unknown, unknown>) {
    if (typeof key !== 'string') throw new InvalidBatchError(`${where} has a non-string key ${String(key)}`)
    if (!isCount(n)) throw new InvalidBatchError(`${where}[${JSON.stringify(key)}] must be a non-negative integer, got ${String(n)}`)
  }
}

/** Checks the whole batch before anything is written, so a bad batch writes nothing. */
function validateBatch (batch: Batch): void {
  if (typeof batch !== 'object' || batch === null) throw new InvalidBatchError('not an object')
  if (!Number.isSafeInteger(batch.sequence) || batch.sequence < 1) throw new InvalidBatchError(`sequence must be a positive integer, got ${String(batch.sequence)}`)
  if (!Array.isArray(batch.slices)) throw new InvalidBatchError('slices must be an array')
  for (const [i, slice] of batch.slices.entries()) {
    const where = `slices[${i}]`
    if (typeof slice !== 'object' || slice === null) throw new InvalidBatchError(`${where} is not an object`)
    if (!Number.isSafeInteger(slice.second) || slice.second < 0) throw new InvalidBatchError(`${where}.second must be a non-negative integer`)
    if (!isCount(slice.messages)) throw new InvalidBatchError(`${where}.messages must be a non-negative integer`)
    for (const name of ['words', 'nicks', 'rooms', 'emotes', 'events'] as const) checkCounts(slice[name], `${where}.${name}`)
    if (!(slice.roomDetail instanceof Map)) throw new InvalidBatchError(`${where}.roomDetail must be a Map`)
    for (const [room, detail] of slice.roomDetail as Map<unknown, RoomSlice>) {
      const roomWhere = `${where}.roomDetail[${JSON.stringify(room)}]`
      if (typeof room !== 'string') throw new InvalidBatchError(`${where}.roomDetail has a non-string key`)
      if (typeof detail !== 'object' || detail === null) throw new InvalidBatchError(`${roomWhere} is not an object`)
      if (!isCount(detail.messages)) throw new InvalidBatchError(`${roomWhere}.messages must be a non-negative integer`)
      for (const name of ['words', 'nicks', 'emotes', 'events'] as const) checkCounts(detail[name], `${roomWhere}.${name}`)
    }
  }
  if (!isCount(batch.failedCount)) throw new InvalidBatchError('failedCount must be a non-negative integer')
  if (!Array.isArray(batch.failedLog)) throw new InvalidBatchError('failedLog must be an array')
  for (const entry of batch.failedLog as unknown[]) {
    const e = entry as Partial<FailedMessage> | null
    if (typeof e !== 'object' || e === null || typeof e.raw !== 'string' || typeof e.reason !== 'string' || typeof e.at !== 'number' || !Number.isFinite(e.at)) {
      throw new InvalidBatchError('a failedLog entry needs string raw, string reason and a finite at')
    }
  }
  if (batch.lastEventId !== undefined && typeof batch.lastEventId !== 'string') throw new InvalidBatchError('lastEventId must be a string')
  if (batch.lastMessageAt !== undefined && (typeof batch.lastMessageAt !== 'number' || !Number.isFinite(batch.lastMessageAt))) {
    throw new InvalidBatchError('lastMessageAt must be a finite number')
  }
}

function validateQuery (query: TopQuery): void {
  if (!WINDOW_NAMES.includes(query.window)) throw new RangeError(`unknown window ${String(query.window)}`)
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) throw new RangeError(`limit must be a positive integer, got ${String(query.limit)}`)
  if (query.exclude !== undefined && typeof query.exclude !== 'function') throw new TypeError('exclude must be a function')
}

function bucketExpired (spec: WindowSpec, bucket: number, nowMs: number): boolean {
  return nowMs >= (bucket * spec.bucketSeconds + bucketTtlSeconds(spec)) * 1000
}

function secondExpired (second: number, nowMs: number): boolean {
  return nowMs >= (second + SECOND_SERIES_RETENTION_SECONDS) * 1000
}

function minuteExpired (minute: number, nowMs: number): boolean {
  return nowMs >= (minute * 60 + MINUTE_SERIES_RETENTION_SECONDS) * 1000
}

/** Deletes expired keys from the oldest end of an insertion-ordered map. */
function sweepFront (map: Map<number, number>, expired: (key: number) => boolean): void {
  for (const key of map.keys()) {
    if (!expired(key)) return
    map.delete(key)
  }
}

function sweepAll (map: Map<number, number>, expired: (key: number) => boolean): void {
  for (const key of map.keys()) if (expired(key)) map.delete(key)
}

/**
 * The embedded StatsStore (SPEC section 3): everything in process memory,
 * the same semantics as the Redis store, saved to `snapshotPath` every
 * `snapshotIntervalMs` and on close, loaded on open.
 *
 * Reads are cheap by construction: all-time lists keep an exact cached head
 * (TopCache), windowed global lists are running sums that slide with the
 * clock (WindowAggregate), and per-room window merges are cached per room
 * version and bucket.
 */
export class MemoryStore implements StatsStore {
  private readonly clock: () => number
  private readonly maxTrackedWords: number
  private readonly maxTrackedPerRoom: number
  private readonly maxFailedLog: number
  private readonly snapshotPath: string | null
  private readonly snapshotIntervalMs: number
  private readonly logger: StoreLogger
  private readonly fileSystem: SnapshotFileSystem

  private state: StoreState = emptyState()
  private status: Status = 'new'
  private readonly aggregates = new Map<string, WindowAggregate>()
  private readonly roomMerges = new Map<string, RoomMerge>()
  private lease: { token: string, expiresAt: number } | null = null
  private nextFullSweepAt = 0

  /** Bumped by every applied batch; compared with the version last saved. */
  private version = 0
  private savedVersion = 0
  /** Set while a snapshot reads the state: writes wait for it. */
  private gate: Promise<void> | null = null
  /** Applies run one after another, in call order. */
  private writeTail: Promise<unknown> = Promise.resolve()
  private snapshotRunning: Promise<void> | null = null
  private snapshotQueued: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private closing: Promise<void> | null = null
  private opening: Promise<void> | null = null

  /** Figures of the last snapshot written, for logs and the bench. */
  lastSnapshot: SnapshotWriteResult | null = null

  constructor (options: MemoryStoreOptions) {
    this.clock = options.clock ?? Date.now
    this.maxTrackedWords = positiveInteger(options.maxTrackedWords, 'maxTrackedWords')
    this.maxTrackedPerRoom = positiveInteger(options.maxTrackedPerRoom, 'maxTrackedPerRoom')
    this.maxFailedLog = positiveInteger(options.maxFailedLog ?? 1000, 'maxFailedLog')
    this.snapshotIntervalMs = positiveInteger(options.snapshotIntervalMs ?? 60_000, 'snapshotIntervalMs')
    if (options.snapshotPath !== null && (typeof options.snapshotPath !== 'string' || options.snapshotPath === '')) {
      throw new TypeError('MemoryStore: snapshotPath must be a non-empty string or null')
    }
    this.snapshotPath = options.snapshotPath
    this.logger = options.logger ?? pino({ level: 'silent' })
    this.fileSystem = options.fileSystem ?? nodeFileSystem
  }

  /**
   * Loads the snapshot (a missing file is an empty store) and starts the
   * periodic snapshots. A corrupt or unreadable file throws
   * SnapshotCorruptError / SnapshotUnreadableError and is never overwritten.
   */
  open (): Promise<void> {
    if (this.status === 'open') return Promise.resolve()
    if (this.status === 'closed') return Promise.reject(new StoreUnavailableError('the embedded store is closed'))
    // Concurrent calls share one load.
    this.opening ??= this.load().finally(() => { this.opening = null })
    return this.opening
  }

  private async load (): Promise<void> {
    let loaded: StoreState | null = null
    if (this.snapshotPath !== null) {
      try {
        loaded = await readSnapshot(this.snapshotPath)
      } catch (err) {
        if (this.status !== 'closed') this.status = 'failed'
        this.logger.error({ err, path: this.snapshotPath }, 'cannot load the snapshot: the embedded store will not start')
        throw err
      }
    }
    if (this.status === 'closed') throw new StoreUnavailableError('the embedded store was closed while it opened')
    this.state = loaded ?? emptyState()
    this.enforceBounds()
    this.sweep(this.clock(), true)
    this.status = 'open'
    if (loaded !== null) {
      this.logger.info({ path: this.snapshotPath, sequence: this.state.sequence, words: this.state.top.words.size }, 'snapshot loaded')
    }
    if (this.snapshotPath !== null) {
      this.timer = setInterval(() => {
        if (this.version === this.savedVersion) return
        this.snapshot().catch((err: unknown) => {
          this.logger.error({ err, path: this.snapshotPath }, 'periodic snapshot failed; the previous snapshot is intact')
        })
      }, this.snapshotIntervalMs)
      this.timer.unref()
    }
  }

  /** Waits for writes in flight, writes a final snapshot when anything changed, stops the timer. Idempotent. */
  close (): Promise<void> {
    this.closing ??= (async () => {
      const wasOpen = this.status === 'open'
      this.status = 'closed'
      if (this.timer !== null) clearInterval(this.timer)
      this.timer = null
      await this.writeTail
      await this.snapshotRunning?.catch(() => {})
      await this.snapshotQueued?.catch(() => {})
      if (wasOpen && this.snapshotPath !== null && this.version !== this.savedVersion) await this.snapshot()
    })()
    return this.closing
  }

  async ping (): Promise<void> {
    this.assertOpen()
  }

  /**
   * Writes the snapshot now (after any snapshot in progress). Resolves at
   * once without a snapshot path.
   */
  async snapshotNow (): Promise<void> {
    this.assertOpen()
    if (this.snapshotPath === null) return
    await this.snapshot()
  }

  applyBatch (batch: Batch, leaseToken?: string): Promise<'applied' | 'duplicate'> {
    try {
      this.assertOpen()
      validateBatch(batch)
    } catch (err) {
      return Promise.reject(err as Error)
    }
    const run = this.writeTail.then(() => this.applyWhenUngated(batch, leaseToken))
    this.writeTail = run.catch(() => {})
    return run
  }

  async position (): Promise<Position> {
    this.assertOpen()
    return { lastEventId: this.state.lastEventId, sequence: this.state.sequence }
  }

  async totals (): Promise<Totals> {
    this.assertOpen()
    const s = this.state
    return {
      totalMessages: s.totalMessages,
      failedMessages: s.failedMessages,
      events: Object.fromEntries(s.events),
      startedAt: s.startedAt,
      lastMessageAt: s.lastMessageAt
    }
  }

  async series (resolution: Resolution, fromMs: number, toMs: number): Promise<TimePoint[]> {
    this.assertOpen()
    if (resolution !== '1s' && resolution !== '1m') throw new RangeError(`unknown resolution ${String(resolution)}`)
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) throw new RangeError('fromMs and toMs must be finite numbers')
    const step = resolution === '1s' ? 1000 : 60_000
    const first = Math.ceil(fromMs / step) * step
    if (toMs < first) return []
    const points = Math.floor((toMs - first) / step) + 1
    if (points > MAX_SERIES_POINTS) throw new RangeError(`series of ${points} points asked for; at most ${MAX_SERIES_POINTS}`)
    const now = this.clock()
    const source = resolution === '1s' ? this.state.seconds : this.state.minutes
    const expired = resolution === '1s' ? secondExpired : minuteExpired
    const out: TimePoint[] = []
    for (let i = 0; i < points; i++) {
      const t = first + i * step
      const key = t / step
      out.push({ t, messages: expired(key, now) ? 0 : source.get(key) ?? 0 })
    }
    return out
  }

  async top (category: Category, query: TopQuery): Promise<TopEntry[]> {
    this.assertOpen()
    if (!CATEGORIES.includes(category)) throw new RangeError(`unknown category ${String(category)}`)
    validateQuery(query)
    if (query.window === 'all') return this.state.top[category].top(query.limit, query.exclude)
    const spec = windowSpec(query.window)
    const aggregate = this.aggregate(spec, category)
    aggregate.slideTo(bucketOf(spec, Math.floor(this.clock() / 1000)))
    return aggregate.top(query.limit, query.exclude)
  }

  async roomTotals (room: string, window: WindowName): Promise<RoomTotals | null> {
    this.assertOpen()
    if (!WINDOW_NAMES.includes(window)) throw new RangeError(`unknown window ${String(window)}`)
    const state = this.state.rooms.get(room)
    if (state === undefined) return null
    if (window === 'all') return { messages: state.messages, events: Object.fromEntries(state.events) }
    const spec = windowSpec(window)
    const buckets = this.state.windows[spec.name]
    let messages = 0
    const events: Counts = new Map()
    for (const b of bucketsCovering(spec, this.clock())) {
      const detail = buckets.get(b)?.rooms.get(room)
      if (detail === undefined) continue
      messages += detail.messages
      for (const [command, n] of detail.events) addCount(events, command, n)
    }
    return { messages, events: Object.fromEntries(events) }
  }

  async roomTop (room: string, category: RoomCategory, query: TopQuery): Promise<TopEntry[]> {
    this.assertOpen()
    if (!ROOM_CATEGORIES.includes(category)) throw new RangeError(`unknown room category ${String(category)}`)
    validateQuery(query)
    const state = this.state.rooms.get(room)
    if (state === undefined) return []
    if (query.window === 'all') return state[category].top(query.limit, query.exclude)
    return this.roomMerge(room, state, category, windowSpec(query.window)).read(query.limit, query.exclude)
  }

  async failedMessages (limit: number): Promise<FailedMessage[]> {
    this.assertOpen()
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${String(limit)}`)
    const log = this.state.failedLog
    const out: FailedMessage[] = []
    for (let i = log.length - 1; i >= 0 && out.length < limit; i--) {
      const { raw, reason, at } = log[i] as FailedMessage
      out.push({ raw, reason, at })
    }
    return out
  }

  async acquireLease (token: string, ttlMs: number): Promise<boolean> {
    this.assertOpen()
    checkLeaseArgs(token, ttlMs)
    const now = this.clock()
    if (this.lease !== null && this.lease.token !== token && now < this.lease.expiresAt) return false
    this.lease = { token, expiresAt: now + ttlMs }
    return true
  }

  async renewLease (token: string, ttlMs: number): Promise<boolean> {
    this.assertOpen()
    checkLeaseArgs(token, ttlMs)
    const now = this.clock()
    if (!this.leaseHeldBy(token, now)) return false
    this.lease = { token, expiresAt: now + ttlMs }
    return true
  }

  async releaseLease (token: string): Promise<void> {
    this.assertOpen()
    if (this.lease?.token === token) this.lease = null
  }

  /** How many entries each structure holds (for tests, metrics and the bench). */
  structureSizes (): {
    lists: Record<Category, number>
    rooms: number
    buckets: Record<BucketedWindow, number>
    /** Members held by the running sums of windowed global lists (created on first read). */
    windowSums: number
    seconds: number
    minutes: number
    failedLog: number
  } {
    const s = this.state
    const buckets = Object.fromEntries(WINDOW_SPECS.map((spec) => [spec.name, s.windows[spec.name].size])) as Record<BucketedWindow, number>
    return {
      lists: { words: s.top.words.size, nicks: s.top.nicks.size, rooms: s.top.rooms.size, emotes: s.top.emotes.size },
      rooms: s.rooms.size,
      buckets,
      windowSums: [...this.aggregates.values()].reduce((n, aggregate) => n + aggregate.counts.size, 0),
      seconds: s.seconds.size,
      minutes: s.minutes.size,
      failedLog: s.failedLog.length
    }
  }

  private assertOpen (): void {
    if (this.status !== 'open') {
      throw new StoreUnavailableError(this.status === 'new' ? 'the embedded store is not open yet (call open() first)' : `the embedded store is ${this.status}`)
    }
  }

  private leaseHeldBy (token: string, now: number): boolean {
    return this.lease !== null && this.lease.token === token && now < this.lease.expiresAt
  }

  private async applyWhenUngated (batch: Batch, leaseToken: string | undefined): Promise<'applied' | 'duplicate'> {
    while (this.gate !== null) await this.gate
    // No await between the check above and the write: the write is one synchronous step.
    return this.applyNow(batch, leaseToken)
  }

  private applyNow (batch: Batch, leaseToken: string | undefined): 'applied' | 'duplicate' {
    const now = this.clock()
    if (leaseToken !== undefined && !this.leaseHeldBy(leaseToken, now)) throw new LeaseLostError()
    const s = this.state
    if (batch.sequence <= s.sequence) return 'duplicate'
    // Slide first so the sums never hold a bucket the sweep removes.
    for (const spec of WINDOW_SPECS) {
      const current = bucketOf(spec, Math.floor(now / 1000))
      for (const category of CATEGORIES) this.aggregates.get(`${spec.name}:${category}`)?.slideTo(current)
    }
    this.sweep(now, false)
    const touchedRooms = new Set<RoomState>()
    for (const slice of batch.slices) this.applySlice(slice, now, touchedRooms)
    s.failedMessages += batch.failedCount
    for (const { raw, reason, at } of batch.failedLog) s.failedLog.push({ raw, reason, at })
    if (s.failedLog.length > this.maxFailedLog) s.failedLog.splice(0, s.failedLog.length - this.maxFailedLog)
    s.startedAt ??= now
    if (batch.lastMessageAt !== undefined) s.lastMessageAt = Math.max(s.lastMessageAt ?? batch.lastMessageAt, batch.lastMessageAt)
    s.sequence = batch.sequence
    if (batch.lastEventId !== undefined) s.lastEventId = batch.lastEventId
    for (const category of CATEGORIES) s.top[category].trimTo(this.maxTrackedWords)
    for (const room of touchedRooms) {
      for (const category of ROOM_CATEGORIES) room[category].trimTo(this.maxTrackedPerRoom)
    }
    this.version++
    return 'applied'
  }

  private applySlice (slice: CountSlice, now: number, touchedRooms: Set<RoomState>): void {
    const s = this.state
    const second = slice.second
    s.totalMessages += slice.messages
    if (slice.messages > 0) {
      if (!secondExpired(second, now)) addCount(s.seconds, second, slice.messages)
      const minute = Math.floor(second / 60)
      if (!minuteExpired(minute, now)) addCount(s.minutes, minute, slice.messages)
    }
    for (const [command, n] of slice.events) if (n > 0) addCount(s.events, command, n)
    for (const category of CATEGORIES) {
      const list = s.top[category]
      for (const [value, n] of slice[category]) if (n > 0) list.add(value, n)
    }
    for (const [name, detail] of slice.roomDetail) {
      let room = s.rooms.get(name)
      if (room === undefined) s.rooms.set(name, room = emptyRoom())
      room.messages += detail.messages
      room.version++
      touchedRooms.add(room)
      for (const [command, n] of detail.events) if (n > 0) addCount(room.events, command, n)
      for (const category of ROOM_CATEGORIES) {
        const list = room[category]
        for (const [value, n] of detail[category]) if (n > 0) list.add(value, n)
      }
    }
    const hasGlobal = slice.words.size + slice.nicks.size + slice.rooms.size + slice.emotes.size > 0
    if (!hasGlobal && slice.roomDetail.size === 0) return
    for (const spec of WINDOW_SPECS) {
      const index = bucketOf(spec, second)
      // Redis would give such a bucket an expiry in the past, i.e. drop it.
      if (bucketExpired(spec, index, now)) continue
      const buckets = s.windows[spec.name]
      let bucket = buckets.get(index)
      if (bucket === undefined) buckets.set(index, bucket = emptyWindowBucket())
      if (hasGlobal) this.addToBucket(spec, index, bucket, slice)
      for (const [name, detail] of slice.roomDetail) {
        let roomBucket = bucket.rooms.get(name)
        if (roomBucket === undefined) bucket.rooms.set(name, roomBucket = emptyRoomBucket())
        roomBucket.messages += detail.messages
        for (const [command, n] of detail.events) if (n > 0) addCount(roomBucket.events, command, n)
        for (const category of ROOM_CATEGORIES) {
          const counts = roomBucket[category]
          for (const [value, n] of detail[category]) if (n > 0) addCount(counts, value, n)
        }
      }
    }
  }

  private addToBucket (spec: WindowSpec, index: number, bucket: WindowBucket, slice: CountSlice): void {
    for (const category of CATEGORIES) {
      const counts = bucket.categories[category]
      const aggregate = this.aggregates.get(`${spec.name}:${category}`)
      const live = aggregate !== undefined && aggregate.covers(index) ? aggregate : null
      for (const [value, n] of slice[category]) {
        if (n <= 0) continue
        addCount(counts, value, n)
        live?.add(value, n)
      }
    }
  }

  /** The running sum of a global window list, created on its first read. */
  private aggregate (spec: WindowSpec, category: Category): WindowAggregate {
    const key = `${spec.name}:${category}`
    let aggregate = this.aggregates.get(key)
    if (aggregate === undefined) {
      const buckets = this.state.windows[spec.name]
      aggregate = new WindowAggregate(spec.buckets, (b) => buckets.get(b)?.categories[category])
      this.aggregates.set(key, aggregate)
    }
    return aggregate
  }

  /** A room's window list: the merge of its covering buckets, reused while the room and the current bucket are unchanged. */
  private roomMerge (name: string, room: RoomState, category: RoomCategory, spec: WindowSpec): TopCache {
    const covering = bucketsCovering(spec, this.clock())
    const key = `${spec.name}\u0000${covering[covering.length - 1] ?? 0}\u0000${category}\u0000${name}`
    const cached = this.roomMerges.get(key)
    if (cached !== undefined && cached.version === room.version) return cached.cache
    const merged: Counts = new Map()
    const buckets = this.state.windows[spec.name]
    for (const b of covering) {
      const detail = buckets.get(b)?.rooms.get(name)
      if (detail === undefined) continue
      for (const [value, n] of detail[category]) addCount(merged, value, n)
    }
    const cache = new TopCache(merged)
    this.roomMerges.delete(key)
    this.roomMerges.set(key, { version: room.version, cache })
    if (this.roomMerges.size > ROOM_MERGE_CACHE_ENTRIES) {
      const oldest = this.roomMerges.keys().next()
      if (oldest.done !== true) this.roomMerges.delete(oldest.value)
    }
    return cache
  }

  /** Drops expired window buckets and series points; `full` checks every series point, not just the oldest. */
  private sweep (now: number, full: boolean): void {
    const s = this.state
    for (const spec of WINDOW_SPECS) {
      const buckets = s.windows[spec.name]
      for (const index of buckets.keys()) if (bucketExpired(spec, index, now)) buckets.delete(index)
    }
    if (full || now >= this.nextFullSweepAt) {
      sweepAll(s.seconds, (second) => secondExpired(second, now))
      sweepAll(s.minutes, (minute) => minuteExpired(minute, now))
      this.nextFullSweepAt = now + FULL_SWEEP_INTERVAL_MS
    } else {
      sweepFront(s.seconds, (second) => secondExpired(second, now))
      sweepFront(s.minutes, (minute) => minuteExpired(minute, now))
    }
  }

  /** Applies the bounds to lists loaded from a snapshot written under other bounds. */
  private enforceBounds (): void {
    const s = this.state
    for (const category of CATEGORIES) s.top[category].trimTo(this.maxTrackedWords)
    for (const room of s.rooms.values()) {
      for (const category of ROOM_CATEGORIES) room[category].trimTo(this.maxTrackedPerRoom)
    }
    if (s.failedLog.length > this.maxFailedLog) s.failedLog.splice(0, s.failedLog.length - this.maxFailedLog)
  }

  /** One snapshot at a time; a request during a write runs once after it (requests coalesce). */
  private snapshot (): Promise<void> {
    if (this.snapshotQueued !== null) return this.snapshotQueued
    if (this.snapshotRunning !== null) {
      const queued = this.snapshotRunning.catch(() => {}).then(() => {
        this.snapshotQueued = null
        return this.runSnapshot()
      })
      this.snapshotQueued = queued
      return queued
    }
    return this.runSnapshot()
  }

  private runSnapshot (): Promise<void> {
    const path = this.snapshotPath
    if (path === null) return Promise.resolve()
    const running = (async () => {
      const version = this.version
      const sequence = this.state.sequence
      let releaseGate = (): void => {}
      this.gate = new Promise((resolve) => {
        releaseGate = resolve
      })
      const result = await writeSnapshot(path, this.state, {
        fs: this.fileSystem,
        savedAt: this.clock(),
        onSerialized: () => {
          this.gate = null
          releaseGate()
        }
      })
      this.savedVersion = version
      this.lastSnapshot = result
      this.logger.info({ path, bytes: result.bytes, serializeMs: Math.round(result.serializeMs), totalMs: Math.round(result.totalMs), sequence }, 'snapshot written')
    })()
    this.snapshotRunning = running
    const clear = (): void => {
      if (this.snapshotRunning === running) this.snapshotRunning = null
    }
    running.then(clear, clear)
    return running
  }
}

function checkLeaseArgs (token: string, ttlMs: number): void {
  if (typeof token !== 'string' || token === '') throw new TypeError('lease token must be a non-empty string')
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new RangeError(`lease ttlMs must be a positive integer, got ${String(ttlMs)}`)
}
