import { pino, type Logger } from 'pino'
import { validateBatch } from '../batch-validation.js'
import { MAX_SERIES_POINTS, STEP_MS } from '../series.js'
import {
  type Batch, CATEGORIES, type Category, type CountSlice, type Counts, type FailedMessage, LeaseLostError, type Position,
  type Resolution, ROOM_CATEGORIES, type RoomCategory, type RoomTotals, type StatsStore, StoreUnavailableError,
  type TimePoint, type TopList, type TopQuery, type Totals, WINDOW_NAMES, type WindowName
} from '../types.js'
import { MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS } from '../windows.js'
import { BucketLife } from '../windows/bucket-life.js'
import { LEVELS } from '../windows/levels.js'
import { addCount, addCounts } from '../windows/counts.js'
import { TrackedRooms } from '../windows/tracked-rooms.js'
import { nodeFileSystem, readSnapshot, type SnapshotFileSystem, type SnapshotWriteResult, writeSnapshot } from './snapshot.js'
import { type BucketValues, emptyRoom, emptyState, type RoomState, type StoreState } from './state.js'
import { TopCache } from './top-cache.js'
import {
  applyWindowPlan, coveringValues, emptyTopList, forgetRoomWindows, mergeCovering, mergeRoomCovering,
  roomWindowTotals, sweepWindows
} from './window-values.js'

export { InvalidBatchError, SnapshotCorruptError, SnapshotUnreadableError, SnapshotWriteError } from './errors.js'

/** The logger methods the store uses (a pino logger fits). */
export type StoreLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

export interface MemoryStoreOptions {
  /** Epoch ms; default Date.now. Windows, expiry, startedAt and the lease use it. */
  clock?: () => number
  /** Members kept in each all-time global list (MAX_TRACKED_WORDS). */
  maxTrackedWords: number
  /** Members kept in each all-time list of a tracked room (MAX_TRACKED_PER_ROOM). */
  maxTrackedPerRoom: number
  /** Rooms with a drill-down (MAX_TRACKED_ROOMS); default 1000. */
  maxTrackedRooms?: number
  /** Members per stream-wide list in a closed window bucket (WINDOW_TOP); default 1000. */
  windowTop?: number
  /** Members per room list in a closed window bucket (ROOM_WINDOW_TOP); default 25. */
  roomWindowTop?: number
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

/** Windowed lists kept merged for repeated reads. */
const MERGED_WINDOW_ENTRIES = 512
/** Per-second and per-minute series are swept in full this often (ms of store clock); otherwise from the oldest end only. */
const FULL_SWEEP_INTERVAL_MS = 60_000

type Status = 'new' | 'open' | 'failed' | 'closed'

/** A windowed list merged once and read many times while nothing changes. */
interface MergedWindow {
  /** Store version and plan signature it was merged at. */
  key: string
  cache: TopCache
  maxError: number
}

function positiveInteger (value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`MemoryStore: ${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

function validateQuery (query: TopQuery): void {
  if (!WINDOW_NAMES.includes(query.window)) throw new RangeError(`unknown window ${String(query.window)}`)
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) throw new RangeError(`limit must be a positive integer, got ${String(query.limit)}`)
  if (query.exclude !== undefined && typeof query.exclude !== 'function') throw new TypeError('exclude must be a function')
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
 * Memory is bounded by the same settings as Redis (SPEC section 3): all-time
 * lists trimmed to maxTrackedWords, detail for at most maxTrackedRooms rooms
 * (TrackedRooms), window buckets as trimmed values built by the shared
 * window modules (src/store/windows), so both stores answer alike.
 * All-time lists keep an exact cached head (TopCache); a windowed list is
 * merged from its covering values once per store version and reused.
 */
export class MemoryStore implements StatsStore {
  private readonly clock: () => number
  private readonly maxTrackedWords: number
  private readonly maxTrackedPerRoom: number
  private readonly windowTop: number
  private readonly roomWindowTop: number
  private readonly maxFailedLog: number
  private readonly snapshotPath: string | null
  private readonly snapshotIntervalMs: number
  private readonly logger: StoreLogger
  private readonly fileSystem: SnapshotFileSystem

  private state: StoreState = emptyState()
  private status: Status = 'new'
  private readonly life: BucketLife
  private readonly tracked: TrackedRooms
  private readonly merged = new Map<string, MergedWindow>()
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
    this.windowTop = positiveInteger(options.windowTop ?? 1000, 'windowTop')
    this.roomWindowTop = positiveInteger(options.roomWindowTop ?? 25, 'roomWindowTop')
    this.tracked = new TrackedRooms(positiveInteger(options.maxTrackedRooms ?? 1000, 'maxTrackedRooms'))
    // Every plan is committed at once (applyNow is one synchronous step): no undo journal needed.
    this.life = new BucketLife({ windowTop: this.windowTop, roomWindowTop: this.roomWindowTop, undo: false })
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
        loaded = await readSnapshot(this.snapshotPath, { windowTop: this.windowTop, roomWindowTop: this.roomWindowTop })
      } catch (err) {
        if (this.status !== 'closed') this.status = 'failed'
        this.logger.error({ err, path: this.snapshotPath }, 'cannot load the snapshot: the embedded store will not start')
        throw err
      }
    }
    if (this.status === 'closed') throw new StoreUnavailableError('the embedded store was closed while it opened')
    this.state = loaded ?? emptyState()
    this.enforceBounds()
    this.life.restore(this.state.windowLife)
    // Build what turned final while the store was down, so the sweep can drop what no window reads.
    this.advanceWindows(this.clock())
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
    const step = STEP_MS[resolution]
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

  async top (category: Category, query: TopQuery): Promise<TopList> {
    this.assertOpen()
    if (!CATEGORIES.includes(category)) throw new RangeError(`unknown category ${String(category)}`)
    validateQuery(query)
    if (query.window === 'all') return { entries: this.state.top[category].top(query.limit, query.exclude), maxError: 0 }
    const window = query.window
    const merged = this.mergedWindow(`${window}\u0000${category}`, window, (values) => mergeCovering(values, category))
    return { entries: merged.cache.read(query.limit, query.exclude), maxError: merged.maxError }
  }

  async roomTotals (room: string, window: WindowName): Promise<RoomTotals | null> {
    this.assertOpen()
    if (!WINDOW_NAMES.includes(window)) throw new RangeError(`unknown window ${String(window)}`)
    const state = this.state.rooms.get(room)
    if (state === undefined) {
      const listed = this.state.top.rooms.counts.get(room)
      if (listed === undefined) return null
      return { messages: window === 'all' ? listed : 0, events: {}, tracked: false }
    }
    if (window === 'all') return { messages: state.messages, events: Object.fromEntries(state.events), tracked: true }
    const { messages, events } = roomWindowTotals(coveringValues(this.state.levels, window, this.clock(), this.life.marks()), room)
    return { messages, events: Object.fromEntries(events), tracked: true }
  }

  async roomTop (room: string, category: RoomCategory, query: TopQuery): Promise<TopList> {
    this.assertOpen()
    if (!ROOM_CATEGORIES.includes(category)) throw new RangeError(`unknown room category ${String(category)}`)
    validateQuery(query)
    const state = this.state.rooms.get(room)
    if (state === undefined) return emptyTopList()
    if (query.window === 'all') return { entries: state[category].top(query.limit, query.exclude), maxError: 0 }
    const window = query.window
    const merged = this.mergedWindow(`${window}\u0000${category}\u0000${room}`, window, (values) => mergeRoomCovering(values, room, category))
    return { entries: merged.cache.read(query.limit, query.exclude), maxError: merged.maxError }
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
    /** Tracked rooms (with detail). */
    rooms: number
    /** Members of all tracked rooms' all-time lists. */
    roomMembers: number
    /** Stored window values per window's level (one per bucket), all levels, the stream-wide list members they hold and the text of the rooms' values. */
    buckets: Record<Exclude<WindowName, 'all'>, number>
    windowBuckets: number
    windowMembers: number
    roomWindowChars: number
    /** Members held exact in open 1 s buckets. */
    openMembers: number
    seconds: number
    minutes: number
    failedLog: number
  } {
    const s = this.state
    let roomMembers = 0
    for (const room of s.rooms.values()) for (const category of ROOM_CATEGORIES) roomMembers += room[category].size
    let windowBuckets = 0
    let windowMembers = 0
    let roomWindowChars = 0
    for (const buckets of s.levels) {
      windowBuckets += buckets.size
      for (const values of buckets.values()) {
        for (const category of CATEGORIES) windowMembers += values.lists[category]?.entries.length ?? 0
        for (const text of values.rooms.values()) roomWindowChars += text.length
      }
    }
    return {
      lists: { words: s.top.words.size, nicks: s.top.nicks.size, rooms: s.top.rooms.size, emotes: s.top.emotes.size },
      rooms: s.rooms.size,
      roomMembers,
      buckets: Object.fromEntries(LEVELS.map((l) => [l.spec.name, s.levels[l.index]?.size ?? 0])) as Record<Exclude<WindowName, 'all'>, number>,
      windowBuckets,
      windowMembers,
      roomWindowChars,
      openMembers: this.life.openEntries(),
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
    // First build what the clock alone has made final, so late counts below find their built ancestors.
    this.advanceWindows(now)
    for (const slice of batch.slices) this.applyAllTime(slice, now)
    const evicted = this.applyRooms(batch.slices)
    const plan = this.life.plan(batch.slices, now, (room) => this.tracked.has(room), evicted)
    applyWindowPlan(s.levels, plan, this.windowTop, this.roomWindowTop)
    this.life.commit(plan)
    s.windowLife = this.life.state()
    s.failedMessages += batch.failedCount
    for (const { raw, reason, at } of batch.failedLog) s.failedLog.push({ raw, reason, at })
    if (s.failedLog.length > this.maxFailedLog) s.failedLog.splice(0, s.failedLog.length - this.maxFailedLog)
    s.startedAt ??= now
    if (batch.lastMessageAt !== undefined) s.lastMessageAt = Math.max(s.lastMessageAt ?? batch.lastMessageAt, batch.lastMessageAt)
    s.sequence = batch.sequence
    if (batch.lastEventId !== undefined) s.lastEventId = batch.lastEventId
    for (const category of CATEGORIES) s.top[category].trimTo(this.maxTrackedWords)
    this.sweep(now, false)
    this.version++
    return 'applied'
  }

  /** Builds the window buckets the clock has made final since the last write. */
  private advanceWindows (now: number): void {
    const plan = this.life.plan([], now)
    if (plan.builds.length > 0) applyWindowPlan(this.state.levels, plan, this.windowTop, this.roomWindowTop)
    this.life.commit(plan)
    this.state.windowLife = this.life.state()
  }

  /** Totals, series and all-time lists: every slice counts all-time, however old (SPEC section 1). */
  private applyAllTime (slice: CountSlice, now: number): void {
    const s = this.state
    s.totalMessages += slice.messages
    if (slice.messages > 0) {
      // Series only hold what falls inside their retention: an older second would only expire.
      if (!secondExpired(slice.second, now)) addCount(s.seconds, slice.second, slice.messages)
      const minute = Math.floor(slice.second / 60)
      if (!minuteExpired(minute, now)) addCount(s.minutes, minute, slice.messages)
    }
    addCounts(s.events, slice.events)
    for (const category of CATEGORIES) {
      const list = s.top[category]
      for (const [value, n] of slice[category]) if (n > 0) list.add(value, n)
    }
  }

  /**
   * Tracked rooms (after the rooms list took this batch): admits and evicts,
   * then adds the detail of tracked rooms. Returns the rooms evicted, whose
   * detail is gone everywhere, so a room that comes back starts clean.
   */
  private applyRooms (slices: readonly CountSlice[]): string[] {
    const s = this.state
    const messages: Counts = new Map()
    for (const slice of slices) for (const [room, detail] of slice.roomDetail) addCount(messages, room, detail.messages)
    if (messages.size === 0) return []
    const plan = this.tracked.plan(messages, (room) => s.top.rooms.counts.get(room))
    this.tracked.commit(plan)
    for (const room of plan.evicted) s.rooms.delete(room)
    forgetRoomWindows(s.levels, plan.evicted)
    for (const [room, score] of plan.scores) {
      let state = s.rooms.get(room)
      if (state === undefined) s.rooms.set(room, state = emptyRoom())
      state.messages = score
    }
    const touched = new Set<string>()
    for (const slice of slices) {
      for (const [room, detail] of slice.roomDetail) {
        const state = s.rooms.get(room)
        if (state === undefined) continue
        touched.add(room)
        addCounts(state.events, detail.events)
        for (const category of ROOM_CATEGORIES) {
          const list = state[category]
          for (const [value, n] of detail[category]) if (n > 0) list.add(value, n)
        }
      }
    }
    for (const room of touched) {
      const state = s.rooms.get(room) as RoomState
      for (const category of ROOM_CATEGORIES) state[category].trimTo(this.maxTrackedPerRoom)
    }
    return plan.evicted
  }

  /** A windowed list merged from its covering values, reused while the store and the plan are unchanged. */
  private mergedWindow (name: string, window: Exclude<WindowName, 'all'>, merge: (values: BucketValues[]) => { counts: Counts, maxError: number }): MergedWindow {
    const now = this.clock()
    const marks = this.life.marks()
    // The store version and the current second decide what the plan covers.
    const key = `${this.version}\u0000${Math.floor(now / 1000)}`
    const cached = this.merged.get(name)
    if (cached !== undefined && cached.key === key) return cached
    const { counts, maxError } = merge(coveringValues(this.state.levels, window, now, marks))
    const entry = { key, cache: new TopCache(counts), maxError }
    this.merged.delete(name)
    this.merged.set(name, entry)
    if (this.merged.size > MERGED_WINDOW_ENTRIES) {
      const oldest = this.merged.keys().next()
      if (oldest.done !== true) this.merged.delete(oldest.value)
    }
    return entry
  }

  /** Drops expired window buckets and series points; `full` checks every series point, not just the oldest. */
  private sweep (now: number, full: boolean): void {
    const s = this.state
    sweepWindows(s.levels, Math.floor(now / 1000), this.life.marks())
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
    // A snapshot may hold more rooms than MAX_TRACKED_ROOMS allows now (or than version 1 bounded).
    this.tracked.load([...s.rooms].map(([name, room]) => [name, room.messages]))
    const untracked = [...s.rooms.keys()].filter((name) => !this.tracked.has(name))
    for (const name of untracked) s.rooms.delete(name)
    forgetRoomWindows(s.levels, untracked)
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
