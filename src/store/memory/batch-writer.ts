import { type Batch, CATEGORIES, type CountSlice, type Counts, ROOM_CATEGORIES, type RoomSlice, type StoreBounds } from '../types.js'
import { MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS } from '../windows.js'
import { BucketLife } from '../windows/bucket-life.js'
import { addCount, addCounts, sumCounts } from '../windows/counts.js'
import { TrackedRooms } from '../windows/tracked-rooms.js'
import type { BoundedCounts } from './bounded-counts.js'
import { emptyRoom, type RoomState, type StoreState } from './state.js'
import { applyWindowPlan, forgetRoomWindows, sweepWindows } from './window-values.js'

/** Per-second and per-minute series are swept in full this often (ms of store clock); otherwise from the oldest end only. */
const FULL_SWEEP_INTERVAL_MS = 60_000

/** True when a per-second point has passed its retention at `nowMs`. */
export function secondExpired (second: number, nowMs: number): boolean {
  return nowMs >= (second + SECOND_SERIES_RETENTION_SECONDS) * 1000
}

/** True when a per-minute point has passed its retention at `nowMs`. */
export function minuteExpired (minute: number, nowMs: number): boolean {
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
 * Adds a batch's counts for one all-time list (one map per slice), for a
 * trimTo(max) after. A member the full list does not hold and whose count in
 * the batch ranks below the list's lowest is not added: that trim would
 * remove it (BoundedCounts.lowestIfFull). Several slices are summed first,
 * so that test sees the member's count in the whole batch.
 */
function addToList (list: BoundedCounts, parts: ReadonlyArray<ReadonlyMap<string, number>>, max: number): void {
  if (parts.length === 0) return
  const counts = sumCounts(parts)
  const floor = list.lowestIfFull(max)
  // forEach, not for-of: no [value, n] array per member (model/counts.ts).
  counts.forEach((n, value) => { if (n > 0) list.add(value, n, floor) })
}

/** The bounds the writer keeps (see MemoryStoreOptions). */
export type WriterBounds = StoreBounds

/**
 * The embedded store's write path: one batch into the state in one
 * synchronous step (all-time counts, tracked rooms, window values through
 * BucketLife, sweeping), within the bounds. The store checks the lease and
 * the sequence first.
 */
export class BatchWriter {
  /** Window bucket life; every plan is committed at once (one synchronous step), so no undo journal. */
  readonly life: BucketLife
  readonly tracked: TrackedRooms
  private nextFullSweepAt = 0

  constructor (private readonly bounds: WriterBounds) {
    this.life = new BucketLife({ windowTop: bounds.windowTop, roomWindowTop: bounds.roomWindowTop, undo: false })
    this.tracked = new TrackedRooms(bounds.maxTrackedRooms)
  }

  /** Takes over a loaded (or empty) state: applies the current bounds, restores the bucket life, builds and sweeps what time has settled. */
  load (s: StoreState, now: number): void {
    this.enforceBounds(s)
    this.life.restore(s.windowLife)
    // Build what turned final while the store was down, so the sweep can drop what no window reads.
    this.advanceWindows(s, now)
    this.sweep(s, now, true)
  }

  /** Writes a batch whose lease and sequence the store has checked. */
  apply (s: StoreState, batch: Batch, now: number): void {
    // First build what the clock alone has made final, so late counts below find their built ancestors.
    this.advanceWindows(s, now)
    for (const slice of batch.slices) this.applyTotals(s, slice, now)
    for (const category of CATEGORIES) addToList(s.top[category], batch.slices.map((slice) => slice[category]), this.bounds.maxTrackedWords)
    const evicted = this.applyRooms(s, batch.slices)
    const plan = this.life.plan(batch.slices, now, (room) => this.tracked.has(room), evicted)
    applyWindowPlan(s.levels, plan, this.bounds.windowTop, this.bounds.roomWindowTop)
    this.life.commit(plan)
    s.windowLife = this.life.state()
    s.failedMessages += batch.failedCount
    for (const { raw, reason, at } of batch.failedLog) s.failedLog.push({ raw, reason, at })
    if (s.failedLog.length > this.bounds.maxFailedLog) s.failedLog.splice(0, s.failedLog.length - this.bounds.maxFailedLog)
    s.startedAt ??= now
    if (batch.lastMessageAt !== undefined) s.lastMessageAt = Math.max(s.lastMessageAt ?? batch.lastMessageAt, batch.lastMessageAt)
    s.sequence = batch.sequence
    if (batch.lastEventId !== undefined) s.lastEventId = batch.lastEventId
    // After applyRooms: it reads the rooms list's all-time counts with this batch added, before the trim (as the Redis store does).
    for (const category of CATEGORIES) s.top[category].trimTo(this.bounds.maxTrackedWords)
    this.sweep(s, now, false)
  }

  /** Builds the window buckets the clock has made final since the last write. */
  private advanceWindows (s: StoreState, now: number): void {
    const plan = this.life.plan([], now)
    if (plan.builds.length > 0) applyWindowPlan(s.levels, plan, this.bounds.windowTop, this.bounds.roomWindowTop)
    this.life.commit(plan)
    s.windowLife = this.life.state()
  }

  /** Totals and series (the all-time lists take the batch as a whole): every slice counts all-time, however old (docs/COUNTING.md#event-time). */
  private applyTotals (s: StoreState, slice: CountSlice, now: number): void {
    s.totalMessages += slice.messages
    if (slice.messages > 0) {
      // Series only hold what falls inside their retention: an older second would only expire.
      if (!secondExpired(slice.second, now)) addCount(s.seconds, slice.second, slice.messages)
      const minute = Math.floor(slice.second / 60)
      if (!minuteExpired(minute, now)) addCount(s.minutes, minute, slice.messages)
    }
    addCounts(s.events, slice.events)
  }

  /**
   * Tracked rooms (after the rooms list took this batch): admits and evicts,
   * then adds the detail of tracked rooms. Returns the rooms evicted, whose
   * detail is gone everywhere, so a room that comes back starts clean.
   */
  private applyRooms (s: StoreState, slices: readonly CountSlice[]): string[] {
    const messages: Counts = new Map()
    for (const slice of slices) for (const [room, detail] of slice.roomDetail) addCount(messages, room, detail.messages)
    if (messages.size === 0) return []
    const plan = this.tracked.plan(messages, (room) => s.top.rooms.counts.get(room))
    this.tracked.commit(plan)
    for (const room of plan.evicted) s.rooms.delete(room)
    forgetRoomWindows(s.levels, plan.evicted)
    const admitted = new Set<string>()
    for (const [room, score] of plan.scores) {
      let state = s.rooms.get(room)
      if (state === undefined) {
        s.rooms.set(room, state = emptyRoom())
        admitted.add(room)
      }
      state.messages = score
    }
    /** Per tracked room in this batch, its detail in each slice. */
    const touched = new Map<string, RoomSlice[]>()
    for (const slice of slices) {
      for (const [room, detail] of slice.roomDetail) {
        const state = s.rooms.get(room)
        if (state === undefined) continue
        const parts = touched.get(room)
        if (parts === undefined) touched.set(room, [detail])
        else parts.push(detail)
        // First seen: the earliest second of its detail since it entered tracking (slices come in any order).
        // A room tracked before first-seen times were kept (null) stays unknown.
        if (admitted.has(room)) {
          if (state.firstSeen === null || slice.second < state.firstSeen) state.firstSeen = slice.second
        } else if (state.firstSeen !== null && slice.second < state.firstSeen) {
          state.firstSeen = slice.second
        }
        addCounts(state.events, detail.events)
      }
    }
    for (const [room, parts] of touched) {
      const state = s.rooms.get(room) as RoomState
      for (const category of ROOM_CATEGORIES) {
        addToList(state[category], parts.map((detail) => detail[category]), this.bounds.maxTrackedPerRoom)
        state[category].trimTo(this.bounds.maxTrackedPerRoom)
      }
    }
    return plan.evicted
  }

  /** Drops expired window buckets and series points; `full` checks every series point, not just the oldest. */
  private sweep (s: StoreState, now: number, full: boolean): void {
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
  private enforceBounds (s: StoreState): void {
    for (const category of CATEGORIES) s.top[category].trimTo(this.bounds.maxTrackedWords)
    // A snapshot may hold more rooms than MAX_TRACKED_ROOMS allows now (or than version 1 bounded).
    this.tracked.load([...s.rooms].map(([name, room]) => [name, room.messages]))
    const untracked = [...s.rooms.keys()].filter((name) => !this.tracked.has(name))
    for (const name of untracked) s.rooms.delete(name)
    forgetRoomWindows(s.levels, untracked)
    for (const room of s.rooms.values()) {
      for (const category of ROOM_CATEGORIES) room[category].trimTo(this.bounds.maxTrackedPerRoom)
    }
    if (s.failedLog.length > this.bounds.maxFailedLog) s.failedLog.splice(0, s.failedLog.length - this.bounds.maxFailedLog)
  }
}
