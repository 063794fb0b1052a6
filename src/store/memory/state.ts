import type { Category, Counts, FailedMessage, RoomCategory, WindowName } from '../types.js'
import { BoundedCounts } from './bounded-counts.js'

/** Window names that have buckets. */
export type BucketedWindow = Exclude<WindowName, 'all'>

/** One room, all time. */
export interface RoomState {
  messages: number
  events: Counts
  words: BoundedCounts
  nicks: BoundedCounts
  emotes: BoundedCounts
  /** Bumped on every write to the room, so cached window merges know they are stale. */
  version: number
}

/** One room within one time bucket. */
export interface RoomBucket {
  messages: number
  events: Counts
  words: Counts
  nicks: Counts
  emotes: Counts
}

/** One time bucket of one window. */
export interface WindowBucket {
  categories: Record<Category, Counts>
  rooms: Map<string, RoomBucket>
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
  rooms: Map<string, RoomState>
  /** Buckets by window, keyed by bucket index (epoch seconds / bucket size). */
  windows: Record<BucketedWindow, Map<number, WindowBucket>>
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
    windows: { '1m': new Map(), '5m': new Map(), '15m': new Map(), '1h': new Map(), '24h': new Map() }
  }
}

export function emptyRoom (): RoomState {
  return { messages: 0, events: new Map(), words: new BoundedCounts(), nicks: new BoundedCounts(), emotes: new BoundedCounts(), version: 0 }
}

export function emptyRoomBucket (): RoomBucket {
  return { messages: 0, events: new Map(), words: new Map(), nicks: new Map(), emotes: new Map() }
}

export function emptyWindowBucket (): WindowBucket {
  return { categories: { words: new Map(), nicks: new Map(), rooms: new Map(), emotes: new Map() }, rooms: new Map() }
}

/** The all-time list of a room category. */
export function roomList (room: RoomState, category: RoomCategory): BoundedCounts {
  return room[category]
}

/** Adds `by` to `key` of a plain count map. */
export function addCount<K> (counts: Map<K, number>, key: K, by: number): void {
  counts.set(key, (counts.get(key) ?? 0) + by)
}
