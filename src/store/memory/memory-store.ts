import { pino, type Logger } from 'pino'
import { validateBatch } from '../batch-validation.js'
import { MAX_SERIES_POINTS, STEP_MS } from '../series.js'
import {
  type Batch, CATEGORIES, type Category, type Counts, type FailedMessage, LeaseLostError, type Position, StoreBehindError,
  type Resolution, ROOM_CATEGORIES, type RoomCategory, type RoomTotals, type StatsStore, StoreUnavailableError,
  type TimePoint, type TopList, type TopQuery, type Totals, WINDOW_NAMES, type WindowName
} from '../types.js'
import { LEVELS } from '../windows/levels.js'
import { BatchWriter, minuteExpired, secondExpired } from './batch-writer.js'
import { nodeFileSystem, readSnapshot, type SnapshotFileSystem, type SnapshotWriteResult, writeSnapshot } from './snapshot.js'
import { type BucketValues, emptyState, type StoreState } from './state.js'
import { TopCache } from './top-cache.js'
import { coveringValues, emptyTopList, mergeCovering, mergeRoomCovering, roomWindowTotals } from './window-values.js'

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

/**
 * The embedded StatsStore (docs/STORAGE.md): everything in process memory,
 * the same semantics as the Redis store, saved to `snapshotPath` every
 * `snapshotIntervalMs` and on close, loaded on open.
 *
 * Memory is bounded by the same settings as Redis (docs/STORAGE.md#bounds): all-time
 * lists trimmed to maxTrackedWords, detail for at most maxTrackedRooms rooms
 * (TrackedRooms), window buckets as trimmed values built by the shared
 * window modules (src/store/windows), so both stores answer alike.
 * All-time lists keep an exact cached head (TopCache); a windowed list is
 * merged from its covering values once per store version and reused.
 */
export class MemoryStore implements StatsStore {
  private readonly clock: () => number
  private readonly windowTop: number
  private readonly roomWindowTop: number
  private readonly maxFailedLog: number
  private readonly snapshotPath: string | null
  private readonly snapshotIntervalMs: number
  private readonly logger: StoreLogger
  private readonly fileSystem: SnapshotFileSystem

  private state: StoreState = emptyState()
  private status: Status = 'new'
  private readonly writer: BatchWriter
  private readonly merged = new Map<string, MergedWindow>()
  private lease: { token: string, expiresAt: number } | null = null

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
    const maxTrackedWords = positiveInteger(options.maxTrackedWords, 'maxTrackedWords')
    const maxTrackedPerRoom = positiveInteger(options.maxTrackedPerRoom, 'maxTrackedPerRoom')
    this.windowTop = positiveInteger(options.windowTop ?? 1000, 'windowTop')
    this.roomWindowTop = positiveInteger(options.roomWindowTop ?? 25, 'roomWindowTop')
    this.maxFailedLog = positiveInteger(options.maxFailedLog ?? 1000, 'maxFailedLog')
    this.writer = new BatchWriter({
      maxTrackedWords,
      maxTrackedPerRoom,
      maxTrackedRooms: positiveInteger(options.maxTrackedRooms ?? 1000, 'maxTrackedRooms'),
      windowTop: this.windowTop,
      roomWindowTop: this.roomWindowTop,
      maxFailedLog: this.maxFailedLog
    })
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
    this.writer.load(this.state, this.clock())
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
      return { messages: window === 'all' ? listed : 0, events: {}, tracked: false, firstSeenAt: null }
    }
    const firstSeenAt = state.firstSeen === null ? null : state.firstSeen * 1000
    if (window === 'all') return { messages: state.messages, events: Object.fromEntries(state.events), tracked: true, firstSeenAt }
    const { messages, events } = roomWindowTotals(coveringValues(this.state.levels, window, this.clock(), this.writer.life.marks()), room)
    return { messages, events: Object.fromEntries(events), tracked: true, firstSeenAt }
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
      openMembers: this.writer.life.openEntries(),
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
    if (batch.previousSequence !== undefined && this.state.sequence < batch.previousSequence) throw new StoreBehindError()
    if (batch.sequence <= this.state.sequence) return 'duplicate'
    this.writer.apply(this.state, batch, now)
    this.version++
    return 'applied'
  }

  /** A windowed list merged from its covering values, reused while the store and the plan are unchanged. */
  private mergedWindow (name: string, window: Exclude<WindowName, 'all'>, merge: (values: BucketValues[]) => { counts: Counts, maxError: number }): MergedWindow {
    const now = this.clock()
    const marks = this.writer.life.marks()
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
