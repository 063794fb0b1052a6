/**
 * The StatsStore contract: what the worker writes and the API reads.
 * Two implementations (store/redis, store/memory) pass one conformance suite
 * (test/contract). Times are epoch milliseconds unless a name says seconds.
 */

/** The statistics kept as top lists over the whole stream. */
export type Category = 'words' | 'nicks' | 'rooms' | 'emotes'
/** The top lists kept inside one room. */
export type RoomCategory = 'words' | 'nicks' | 'emotes'
export const CATEGORIES: readonly Category[] = ['words', 'nicks', 'rooms', 'emotes']
export const ROOM_CATEGORIES: readonly RoomCategory[] = ['words', 'nicks', 'emotes']

/** Counts keyed by value (a word, a nick, a room, an emote, a command). */
export type Counts = Map<string, number>

/** What one room received within one slice. */
export interface RoomSlice {
  messages: number
  words: Counts
  nicks: Counts
  emotes: Counts
  /** Moderation and other system events aimed at this room, by command. */
  events: Counts
}

/**
 * Everything whose event time (docs/COUNTING.md#event-time) falls in one epoch second.
 * A batch holds one slice per second it spans, so time buckets stay exact.
 */
export interface CountSlice {
  /** Epoch seconds of the events (event time; a replay may be far in the past). */
  second: number
  messages: number
  words: Counts
  nicks: Counts
  rooms: Counts
  emotes: Counts
  /** System events by command (an empty command is reported as PRIVMSG). */
  events: Counts
  /** Per-room detail; every room in `rooms` or with a system event appears here. */
  roomDetail: Map<string, RoomSlice>
}

/** A line or event that could not be read. */
export interface FailedMessage {
  /** The raw text, cut at 2 KiB. */
  raw: string
  reason: string
  /** Epoch ms when it arrived. */
  at: number
}

/** What one flush writes, in one atomic step. */
export interface Batch {
  /**
   * Above the last committed one; the worker uses the stream ordinal of the
   * batch's last event (see Worker), so sequences follow the stream. The store
   * applies a batch only when its sequence is above the committed one, so a
   * retried flush whose first attempt did commit is not counted twice.
   */
  sequence: number
  /** One per event second, in any order (late and replayed seconds included). */
  slices: CountSlice[]
  /** How many failed messages this batch counts (the log below may be capped). */
  failedCount: number
  /** The most recent failed messages of this batch, oldest first. */
  failedLog: FailedMessage[]
  /** The stream position after this batch (last event id seen), if the stream sends ids. */
  lastEventId?: string | undefined
  /** Epoch ms of the last chat message in the batch, if any. */
  lastMessageAt?: number | undefined
  /**
   * The sequence the writer last saw committed. A store whose committed
   * sequence is below it lost writes (Redis restarted from an older snapshot,
   * a lagging replica promoted): it refuses the batch (StoreBehindError)
   * instead of adding it on top of older counts. Unset: no such check.
   */
  previousSequence?: number | undefined
  /** Store rollbacks the writer found since its last commit, added to Totals.storeRollbacks. */
  storeRollbacks?: number | undefined
  /** Messages those rollbacks lost for good (no replay possible), added to Totals.messagesLost. */
  messagesLost?: number | undefined
}

/** The windows a top list can be asked for. */
export type WindowName = 'all' | '1m' | '5m' | '15m' | '1h' | '24h'
export const WINDOW_NAMES: readonly WindowName[] = ['all', '1m', '5m', '15m', '1h', '24h']

export interface TopEntry {
  value: string
  count: number
}

/** A top list and how far from exact it can be (docs/STORAGE.md#max-error). */
export interface TopList {
  /** Sorted by count descending, ties by value ascending in code-point (UTF-8 byte) order. */
  entries: TopEntry[]
  /**
   * The most by which any count in the answer (listed or not) can be below
   * its true count: the sum of the errs of the trimmed window buckets merged;
   * 0 = exact. Always 0 for window `all` (only windowed answers carry a bound: docs/STORAGE.md#max-error).
   */
  maxError: number
}

export interface TopQuery {
  window: WindowName
  /** 1..100 */
  limit: number
  /** Values to leave out; the answer still has `limit` entries when that many others exist. */
  exclude?: ((value: string) => boolean) | undefined
}

export interface Totals {
  totalMessages: number
  failedMessages: number
  /** System events by command. */
  events: Record<string, number>
  /** Epoch ms when the store was first written, or null when empty. */
  startedAt: number | null
  /** Epoch ms of the last chat message, or null. */
  lastMessageAt: number | null
  /** Times a worker found the store behind what it had committed (lost writes); absent = 0. */
  storeRollbacks?: number
  /** Messages such rollbacks lost for good, measured by the worker (a stream without ids cannot replay them); absent = 0. */
  messagesLost?: number
}

export interface RoomTotals {
  /** Window `all` of an untracked room: its count in the rooms list; a window of an untracked room: 0. */
  messages: number
  /** Moderation and other system events in this room, by command (empty for an untracked room). */
  events: Record<string, number>
  /**
   * False when the room has no drill-down detail (docs/STORAGE.md#tracked-rooms: beyond
   * MAX_TRACKED_ROOMS only the most active rooms keep it): its lists are
   * empty and its windowed counts unknown.
   */
  tracked: boolean
  /**
   * Epoch ms of the start of the first event second of this room's detail
   * (the earliest \`second\` of a slice naming the room in \`roomDetail\` since
   * the room was last admitted to tracking), or null when unknown: an
   * untracked room, or a room tracked before the store kept it (an older
   * snapshot or Redis data). A room that leaves tracking loses it; when it
   * comes back, it is the first second after its return, the same second
   * its windowed counts start again (docs/STORAGE.md#tracked-rooms).
   */
  firstSeenAt: number | null
}

export interface Position {
  /** The last event id committed with the counts, or null (none yet, or the stream sends no ids). */
  lastEventId: string | null
  /** The last committed flush sequence, 0 when none. */
  sequence: number
}

/**
 * Where a restarted worker resumes reading, and where the batches it replays
 * must end (StatsStore.resumePlan).
 */
export interface ResumePlan {
  /** Read the stream on from this position; the next batch's sequence is above its sequence. */
  from: Position
  /**
   * Positions past `from` that part of the store has already committed: a
   * store that commits a batch in several atomic parts (a sharded store) can
   * be stopped between them. Ascending by sequence. The worker ends a batch
   * exactly at each one, so every part tells by the sequence alone which
   * replayed batches it already holds ('duplicate') and which it lacks.
   */
  commitPoints: Position[]
}

export type Resolution = '1s' | '1m'

export interface TimePoint {
  /** Epoch ms of the start of the interval. */
  t: number
  messages: number
}

export interface StatsStore {
  /** Connects / loads the snapshot. Throws a clear error when the store cannot be used. */
  open(): Promise<void>
  /** Final snapshot / disconnect. Idempotent. */
  close(): Promise<void>
  /** Rejects when the store is unreachable. */
  ping(): Promise<void>

  /**
   * Writes a batch and the stream position in one atomic step.
   * 'duplicate' (nothing written) when `batch.sequence` is not above the committed one.
   * With a lease token, the write is refused (LeaseLostError) unless the token still holds the lease.
   */
  applyBatch(batch: Batch, leaseToken?: string): Promise<'applied' | 'duplicate'>
  /** The last committed stream position (a store committed in parts: the lowest part's). */
  position(): Promise<Position>
  /**
   * Where a restarted worker resumes. Optional: a store that commits each
   * batch in one atomic step resumes from position() with no commit points.
   */
  resumePlan?(): Promise<ResumePlan>

  totals(): Promise<Totals>
  /** Messages per interval, oldest first, for the intervals starting in [fromMs, toMs], zero-filled. */
  series(resolution: Resolution, fromMs: number, toMs: number): Promise<TimePoint[]>
  /** A stream-wide top list (see TopList). */
  top(category: Category, query: TopQuery): Promise<TopList>
  /** Null when the room is neither tracked nor in the rooms list (never seen, or trimmed from it). */
  roomTotals(room: string, window: WindowName): Promise<RoomTotals | null>
  /** A room's top list; empty for a room that is not tracked. */
  roomTop(room: string, category: RoomCategory, query: TopQuery): Promise<TopList>
  /** Newest first. */
  failedMessages(limit: number): Promise<FailedMessage[]>

  /** Takes the worker lease when free or already ours; true when held. */
  acquireLease(token: string, ttlMs: number): Promise<boolean>
  /** Extends the lease; false when it was lost. */
  renewLease(token: string, ttlMs: number): Promise<boolean>
  releaseLease(token: string): Promise<void>
}

/** Raised by applyBatch when the writer no longer holds the lease. */
export class LeaseLostError extends Error {
  readonly code = 'CS_LEASE_LOST'
  constructor () {
    super('the worker lease is held by another worker')
    this.name = 'LeaseLostError'
  }
}

/** Raised by applyBatch when the store's committed sequence is below the batch's previousSequence: it lost writes. */
export class StoreBehindError extends Error {
  readonly code = 'CS_STORE_BEHIND'
  constructor () {
    super('the store is behind what this worker committed (it lost writes)')
    this.name = 'StoreBehindError'
  }
}

/** Raised when the store cannot be reached in time. */
export class StoreUnavailableError extends Error {
  readonly code = 'CS_STORE_UNAVAILABLE'
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}

/** The settings that bound a store's memory (docs/STORAGE.md#bounds; ARCHITECTURE.md#memory-bounds), as both writers take them. */
export interface StoreBounds {
  maxTrackedWords: number
  maxTrackedPerRoom: number
  maxTrackedRooms: number
  windowTop: number
  roomWindowTop: number
  maxFailedLog: number
}
