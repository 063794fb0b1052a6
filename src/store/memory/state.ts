import type { Category, Counts, FailedMessage } from '../types.js'
import type { BucketLifeState } from '../windows/bucket-life.js'
import { LEVELS } from '../windows/levels.js'
import type { TrimmedList } from '../windows/trimmed-list.js'
import { BoundedCounts } from './bounded-counts.js'

/** One tracked room, all time (docs/STORAGE.md#tracked-rooms: at most MAX_TRACKED_ROOMS of them). */
export interface RoomState {
  /** All-time messages: the count it entered with (its rooms-list count) plus every message since; its tracking score. */
  messages: number
  /** Epoch second of the first slice with this room's detail since it entered tracking (the earliest); null = unknown (a room loaded from a version 2 snapshot). */
  firstSeen: number | null
  events: Counts
  words: BoundedCounts
  nicks: BoundedCounts
  emotes: BoundedCounts
}

/** The stored values of one window bucket (see src/store/windows). */
export interface BucketValues {
  /** Stream-wide lists; a category never written is absent (empty). */
  lists: Partial<Record<Category, TrimmedList>>
  /**
   * Tracked rooms' values as encodeRoomValue text: about 1.2 KB each at
   * ROOM_WINDOW_TOP 25 instead of about 6.7 KB as objects, and there can be
   * MAX_TRACKED_ROOMS of them in each of ~310 live buckets (ARCHITECTURE.md, Memory bounds).
   */
  rooms: Map<string, string>
}

/** Everything the embedded store holds and its snapshot saves. */
export interface StoreState {
  sequence: number
  lastEventId: string | null
  totalMessages: number
  failedMessages: number
  events: Counts
  startedAt: number | null
  lastMessageAt: number | null
  /** Oldest first, at most maxFailedLog. */
  failedLog: FailedMessage[]
  /** Messages by epoch second. */
  seconds: Map<number, number>
  /** Messages by epoch minute. */
  minutes: Map<number, number>
  top: Record<Category, BoundedCounts>
  /** Tracked rooms only. */
  rooms: Map<string, RoomState>
  /** Window buckets by level index (LEVELS), keyed by bucket index. */
  levels: Array<Map<number, BucketValues>>
  /** Where the window writer stands (BucketLife.restore takes it); null for a new store. */
  windowLife: BucketLifeState | null
}

export function emptyState (): StoreState {
  return {
    sequence: 0,
    lastEventId: null,
    totalMessages: 0,
    failedMessages: 0,
    events: new Map(),
    startedAt: null,
    lastMessageAt: null,
    failedLog: [],
    seconds: new Map(),
    minutes: new Map(),
    top: { words: new BoundedCounts(), nicks: new BoundedCounts(), rooms: new BoundedCounts(), emotes: new BoundedCounts() },
    rooms: new Map(),
    levels: LEVELS.map(() => new Map()),
    windowLife: null
  }
}

export function emptyRoom (firstSeen: number | null = null): RoomState {
  return { messages: 0, firstSeen, events: new Map(), words: new BoundedCounts(), nicks: new BoundedCounts(), emotes: new BoundedCounts() }
}

export function emptyBucketValues (): BucketValues {
  return { lists: {}, rooms: new Map() }
}
