import { CATEGORIES, type Category, type Counts, type RoomSlice, type TopEntry } from '../types.js'
import { addCounts } from './counts.js'
import { bucketAt, bucketEnd, type BucketRef, childRange, isExpired, level, LEVELS, longDeadline, TOP_LEVEL } from './levels.js'
import { addRoomSlice, emptyRoomCounts, type RoomCounts, roomValueOf, type RoomWindowValue } from './room-value.js'
import { selectTop } from '../top-order.js'
import type { TrimmedList } from './trimmed-list.js'

/** What the window machinery reads of a slice (a CountSlice fits). */
export interface WindowSlice {
  /** Epoch second of the events (event time). */
  second: number
  words: Counts
  nicks: Counts
  rooms: Counts
  emotes: Counts
  roomDetail: ReadonlyMap<string, RoomSlice>
}

/** How long 1 s buckets stay open (exact, rewritten each flush) behind the newest second; our choice (docs/STORAGE.md#windows-and-series). */
export const DEFAULT_LATE_SECONDS = 10
/**
 * Members held in open 1 s buckets (all lists, all rooms) past which the
 * oldest open seconds are closed early: about 40 MB of the writer's memory;
 * the real firehose (~2,000 msg/s) holds a few tens of thousands.
 */
export const DEFAULT_MAX_OPEN_ENTRIES = 500_000

export interface BucketLifeOptions {
  /** WINDOW_TOP: members kept per stream-wide list in a closed bucket. */
  windowTop: number
  /** ROOM_WINDOW_TOP: members kept per list of a room in a closed bucket. */
  roomWindowTop: number
  /** Seconds a 1 s bucket stays open behind max(newest event second, clock second); default 10. */
  lateSeconds?: number
  /** Cap on the members held in open buckets; default 500,000. */
  maxOpenEntries?: number
  /**
   * Default true: a plan that is not committed is taken back by the next
   * plan() (a store whose write can fail needs that). False for a store that
   * commits every plan at once (the embedded store): no undo journal is kept,
   * and plan() throws when the previous plan was not committed.
   */
  undo?: boolean
}

/**
 * What a store persists with every flush, so the next writer (after a
 * restart or a takeover) carries on: see BucketLife.restore.
 */
export interface BucketLifeState {
  /** Every second below it is final: its 1 s value will not be rewritten, and every coarser bucket ending below it is built. */
  floor: number
  /** The newest second whose 1 s value was written (-1: none). */
  newestWritten: number
}

/** A 1 s bucket value to write, replacing what is stored (level 0, bucket = second). */
export interface SecondWrite {
  second: number
  /** The categories this plan changed, each trimmed to windowTop from the exact counts. */
  lists: Partial<Record<Category, TrimmedList>>
  /** The tracked rooms this plan changed in this second (other rooms' stored values stay). */
  rooms: Map<string, RoomWindowValue>
}

/**
 * Exact counts that arrived for a second already final: the store merges them
 * into the stored value of each target (read-modify-write: addToTrimmed with
 * windowTop, addToRoomValue with roomWindowTop; a missing value is empty).
 */
export interface LateDelta {
  second: number
  /** Level 0 and every built ancestor, unless expired with its parent built; may be empty (too old for every window). */
  targets: BucketRef[]
  lists: Record<Category, Counts>
  rooms: Map<string, RoomCounts>
}

/**
 * A coarser bucket to build now: the merge of its children's stored values
 * (mergeTrimmed with windowTop per category, mergeRoomValues with
 * roomWindowTop per room), written as its value. Children that hold nothing
 * are skipped; a build with no child value writes nothing (after a long
 * pause most builds are such). Its value may be past its own window's
 * expiry (then it only serves its parent's build: give it a short life).
 */
export interface BuildStep {
  level: number
  bucket: number
  /** Bucket indexes at level-1, oldest first. */
  children: number[]
}

/**
 * One flush's window writes. A store applies them in this order, in the
 * same atomic step as the flush's counts: `seconds`, then `late`, then
 * `builds` (finest level first, as listed), then persists `state`.
 */
export interface WindowWritePlan {
  seconds: SecondWrite[]
  late: LateDelta[]
  builds: BuildStep[]
  /** Persist with the flush; after a restart, pass it to restore(). */
  state: BucketLifeState
  /** Last built bucket per level after this plan (see marksOf); what readers pass to windowPlan. */
  marks: number[]
  /** @internal the change commit() applies */
  readonly pending: PendingChange
}

interface OpenSecond {
  lists: Record<Category, Counts>
  /**
   * Per category, the members of the last committed trim's selection (the
   * first windowTop + 1 in top-list order). Counts only grow, so a member
   * outside it that this plan does not change still ranks below all of it:
   * the next trim only needs to look at these and the changed members, not
   * at the whole second (which a flush every 250 ms would scan again each time).
   */
  heads: Partial<Record<Category, string[]>>
  rooms: Map<string, RoomCounts>
  /** Members held (list entries, and per room its list entries + 1), kept as counts are added. */
  entries: number
}

interface PendingChange {
  /** The plan's own number: only the latest plan can be committed. */
  planId: number
  /** The trims' selections to keep as the open seconds' heads once committed. */
  heads: Array<[OpenSecond, Category, string[]]>
  generation: number
  floor: number
  newestWritten: number
  dropRooms: readonly string[]
}

/**
 * How to take back a plan's additions to the open buckets when it is not
 * committed: flat pairs (open map, the slice's map added into it), undone by
 * subtracting the same counts (a key back at 0 was new: it is deleted), and
 * what the plan created. Pairs per map rather than a record per counter: the
 * journal costs nothing per counter on the hot flush path (BENCHMARKS.md).
 */
interface UndoJournal {
  planId: number
  added: Array<Map<string, number> | ReadonlyMap<string, number>>
  messages: Array<[RoomCounts, number]>
  createdRooms: Array<[OpenSecond, string]>
  createdSeconds: number[]
  entries: Array<[OpenSecond, number]>
}

/** The last built (final) bucket of each level when every second below `floor` is final; marks[0] is the last final second. */
export function marksOf (floor: number): number[] {
  return LEVELS.map((l) => Math.floor(floor / l.seconds) - 1)
}

function emptyOpenSecond (): OpenSecond {
  return { lists: { words: new Map(), nicks: new Map(), rooms: new Map(), emotes: new Map() }, heads: {}, rooms: new Map(), entries: 0 }
}

/**
 * The life of window buckets on the writer's side (pure: no I/O), the same
 * for every store (design: "Event time and bucket life").
 *
 * - A 1 s bucket is *open* while its second is at or above the floor =
 *   max(newest event second, clock second) - lateSeconds + 1. The writer
 *   holds its exact counts and every flush that changes it rewrites its
 *   value, trimmed from the exact counts: its err is one trim, never more.
 * - Below the floor a second is *final*. A coarser bucket is built once,
 *   when its last second turns final: the merge of its children's values.
 *   Until then readers decompose it into its children (read-plan.ts).
 * - Counts for a final second (late, or a replay) are merged into the stored
 *   value of that second and of every built ancestor; nothing is written to
 *   a level whose bucket is already expired. (All-time counts are the
 *   store's business: they always count.)
 *
 * Use: `const plan = life.plan(slices, nowMs)`; write it atomically; on
 * success `life.commit(plan)` (on failure or a duplicate batch, drop the
 * plan: the next plan() or restore() takes its additions back, so nothing
 * changed). One plan at a time: plan() drops an uncommitted plan. Plan at
 * least every 30 s even with no slices (`plan([], nowMs)`), so parents are
 * built before their 1 s children expire.
 */
export class BucketLife {
  private readonly windowTop: number
  private readonly roomWindowTop: number
  private readonly lateSeconds: number
  private readonly maxOpenEntries: number
  private readonly undo: boolean
  /** A plan made without undo is waiting for its commit. */
  private unjournaled: number | null = null
  private open = new Map<number, OpenSecond>()
  /** Null until the first plan or restore. */
  private floor: number | null = null
  private newestWritten = -1
  /** Seconds at or below it were written by an earlier writer: their exact counts are gone, so they take the late path. */
  private restoredThrough = -1
  private generation = 0
  /** The additions of the last plan, until it is committed. */
  private journal: UndoJournal | null = null
  private plans = 0

  constructor (options: BucketLifeOptions) {
    this.windowTop = positive(options.windowTop, 'windowTop')
    this.roomWindowTop = positive(options.roomWindowTop, 'roomWindowTop')
    this.lateSeconds = positive(options.lateSeconds ?? DEFAULT_LATE_SECONDS, 'lateSeconds')
    this.maxOpenEntries = positive(options.maxOpenEntries ?? DEFAULT_MAX_OPEN_ENTRIES, 'maxOpenEntries')
    this.undo = options.undo ?? true
  }

  /** Carries on from a persisted state (null: a new store). Forgets any open bucket. */
  restore (state: BucketLifeState | null): void {
    this.journal = null
    this.unjournaled = null
    this.open = new Map()
    this.floor = state?.floor ?? null
    this.newestWritten = state?.newestWritten ?? -1
    this.restoredThrough = this.newestWritten
    this.generation++
  }

  /** The state to persist now. */
  state (): BucketLifeState {
    return { floor: this.floor ?? 0, newestWritten: this.newestWritten }
  }

  /** Last built bucket per level (see marksOf); all -Infinity before the first plan. */
  marks (): number[] {
    return this.floor === null ? LEVELS.map(() => Number.NEGATIVE_INFINITY) : marksOf(this.floor)
  }

  /** Members held in open buckets (for metrics and the memory formula). */
  openEntries (): number {
    this.rollback()
    let n = 0
    for (const open of this.open.values()) n += open.entries
    return n
  }

  /**
   * The window writes of one flush. Changes nothing until commit(plan).
   * @param slices the flush's slices, any order, seconds may repeat; left unchanged until the plan is committed or dropped (the undo subtracts them again)
   * @param nowMs the store's clock
   * @param isTracked rooms whose detail is kept (default: all); others' roomDetail is ignored
   * @param dropRooms rooms that stop being tracked with this flush: their open detail is forgotten at commit (the store deletes their stored values)
   */
  plan (slices: readonly WindowSlice[], nowMs: number, isTracked: (room: string) => boolean = () => true, dropRooms: readonly string[] = []): WindowWritePlan {
    this.rollback()
    if (this.unjournaled !== null) throw new Error('BucketLife: the previous plan was made without undo and must be committed first')
    const nowSecond = Math.floor(nowMs / 1000)
    const clockFloor = nowSecond - this.lateSeconds + 1
    const previousFloor = this.floor ?? clockFloor
    const floorBefore = Math.max(previousFloor, clockFloor)
    const dropped = new Set(dropRooms)
    const tracked = (room: string): boolean => !dropped.has(room) && isTracked(room)
    // Counts go into the open buckets in place (no copy of big maps per flush); the journal takes them back if the plan is dropped.
    const planId = ++this.plans
    const journal: UndoJournal = { planId, added: [], messages: [], createdRooms: [], createdSeconds: [], entries: [] }
    if (this.undo) this.journal = journal
    else this.unjournaled = planId
    const added = this.undo ? journal.added : null
    const add = (open: OpenSecond, into: Map<string, number>, from: ReadonlyMap<string, number>): void => {
      if (from.size === 0) return
      added?.push(into, from)
      let created = 0
      // forEach, not for-of: no [key, by] array per count (model/counts.ts).
      from.forEach((by, key) => {
        if (by <= 0) return
        const old = into.get(key)
        if (old === undefined) {
          created++
          into.set(key, by)
        } else {
          into.set(key, old + by)
        }
      })
      open.entries += created
    }

    const touched = new Map<number, { categories: Map<Category, Array<ReadonlyMap<string, number>>>, rooms: Set<string> }>()
    const lateBySecond = new Map<number, LateDelta>()
    let newest = Number.NEGATIVE_INFINITY
    let newestWritten = this.newestWritten
    for (const slice of slices) {
      const second = slice.second
      newest = Math.max(newest, second)
      const isOpen = second >= floorBefore && (second > this.restoredThrough || this.open.has(second))
      if (!isOpen) {
        this.addLate(lateBySecond, slice, tracked, previousFloor, nowSecond)
        continue
      }
      let open = this.open.get(second)
      if (open === undefined) {
        this.open.set(second, open = emptyOpenSecond())
        journal.createdSeconds.push(second)
      }
      let marks = touched.get(second)
      if (marks === undefined) {
        touched.set(second, marks = { categories: new Map(), rooms: new Set() })
        journal.entries.push([open, open.entries])
      }
      for (const category of CATEGORIES) {
        const counts = slice[category]
        if (counts.size === 0) continue
        const changed = marks.categories.get(category)
        if (changed === undefined) marks.categories.set(category, [counts])
        else changed.push(counts)
        add(open, open.lists[category], counts)
      }
      for (const [room, detail] of slice.roomDetail) {
        if (!tracked(room)) continue
        let counts = open.rooms.get(room)
        if (counts === undefined) {
          open.rooms.set(room, counts = emptyRoomCounts())
          journal.createdRooms.push([open, room])
          open.entries++
        }
        marks.rooms.add(room)
        journal.messages.push([counts, counts.messages])
        counts.messages += detail.messages
        add(open, counts.events, detail.events)
        add(open, counts.words, detail.words)
        add(open, counts.nicks, detail.nicks)
        add(open, counts.emotes, detail.emotes)
      }
      newestWritten = Math.max(newestWritten, second)
    }

    const seconds: SecondWrite[] = []
    const heads: PendingChange['heads'] = []
    for (const [second, marks] of [...touched].sort((a, b) => a[0] - b[0])) {
      const open = this.open.get(second) as OpenSecond
      const lists: Partial<Record<Category, TrimmedList>> = {}
      for (const [category, changed] of marks.categories) {
        const selection = this.selectHead(open, category, changed)
        lists[category] = trimmedHead(selection, this.windowTop)
        heads.push([open, category, selection.map((entry) => entry.value)])
      }
      const rooms = new Map<string, RoomWindowValue>()
      for (const room of marks.rooms) rooms.set(room, roomValueOf(open.rooms.get(room) as RoomCounts, this.roomWindowTop))
      seconds.push({ second, lists, rooms })
    }

    let floor = Math.max(floorBefore, Number.isFinite(newest) ? newest - this.lateSeconds + 1 : floorBefore)
    floor = this.capOpen(floor)
    const builds = buildsBetween(previousFloor, floor, nowSecond)
    return {
      seconds,
      late: [...lateBySecond.values()].sort((a, b) => a.second - b.second),
      builds,
      state: { floor, newestWritten },
      marks: marksOf(floor),
      pending: { planId, heads, generation: this.generation, floor, newestWritten, dropRooms: [...dropped] }
    }
  }

  /** Makes a written plan the current state. Throws when another plan was committed (or restore ran) since it was made. */
  commit (plan: WindowWritePlan): void {
    const change = plan.pending
    const current = this.undo ? this.journal?.planId : this.unjournaled
    if (change.generation !== this.generation || current !== change.planId) {
      throw new Error('BucketLife: this plan is stale (another plan or a restore came after it)')
    }
    this.journal = null
    this.unjournaled = null
    this.generation++
    for (const second of this.open.keys()) if (second < change.floor) this.open.delete(second)
    if (change.dropRooms.length > 0) {
      for (const open of this.open.values()) for (const room of change.dropRooms) open.rooms.delete(room)
    }
    this.floor = change.floor
    this.newestWritten = change.newestWritten
    for (const [open, category, head] of change.heads) open.heads[category] = head
  }

  /** The first windowTop + 1 members of an open second's category in top-list order (see OpenSecond.heads). */
  private selectHead (open: OpenSecond, category: Category, changed: ReadonlyArray<ReadonlyMap<string, number>>): TopEntry[] {
    const counts = open.lists[category]
    const head = open.heads[category]
    if (head === undefined) return selectTop(counts, this.windowTop + 1)
    const candidates = new Map<string, number>()
    for (const value of head) candidates.set(value, counts.get(value) ?? 0)
    for (const delta of changed) for (const value of delta.keys()) candidates.set(value, counts.get(value) ?? 0)
    // No smaller than the second itself: then it is the whole second anyway.
    return selectTop(candidates.size < counts.size ? candidates : counts, this.windowTop + 1)
  }

  private addLate (late: Map<number, LateDelta>, slice: WindowSlice, tracked: (room: string) => boolean, previousFloor: number, nowSecond: number): void {
    let delta = late.get(slice.second)
    if (delta === undefined) {
      delta = {
        second: slice.second,
        targets: lateTargets(slice.second, previousFloor, nowSecond),
        lists: { words: new Map(), nicks: new Map(), rooms: new Map(), emotes: new Map() },
        rooms: new Map()
      }
      late.set(slice.second, delta)
    }
    for (const category of CATEGORIES) addCounts(delta.lists[category], slice[category])
    for (const [room, detail] of slice.roomDetail) {
      if (!tracked(room)) continue
      let counts = delta.rooms.get(room)
      if (counts === undefined) delta.rooms.set(room, counts = emptyRoomCounts())
      addRoomSlice(counts, detail)
    }
  }

  /** Raises the floor past the oldest open seconds while the open buckets hold more than maxOpenEntries. */
  private capOpen (floor: number): number {
    let total = 0
    const open: number[] = []
    for (const [second, bucket] of this.open) {
      if (second < floor) continue
      open.push(second)
      total += bucket.entries
    }
    if (total <= this.maxOpenEntries) return floor
    open.sort((a, b) => a - b)
    // Keep the newest open second whatever its size: it is still filling.
    for (let i = 0; i < open.length - 1 && total > this.maxOpenEntries; i++) {
      const second = open[i] as number
      total -= (this.open.get(second) as OpenSecond).entries
      floor = second + 1
    }
    return floor
  }

  /** Takes back the additions of a plan that was not committed. */
  private rollback (): void {
    const journal = this.journal
    if (journal === null) return
    this.journal = null
    const added = journal.added
    for (let i = added.length - 2; i >= 0; i -= 2) {
      const into = added[i] as Map<string, number>
      for (const [key, by] of added[i + 1] as ReadonlyMap<string, number>) {
        if (by <= 0) continue
        const left = (into.get(key) ?? 0) - by
        // Counts are positive: a key back at 0 did not exist before the plan.
        if (left <= 0) into.delete(key)
        else into.set(key, left)
      }
    }
    for (let i = journal.messages.length - 1; i >= 0; i--) {
      const [room, messages] = journal.messages[i] as [RoomCounts, number]
      room.messages = messages
    }
    for (const [open, room] of journal.createdRooms) open.rooms.delete(room)
    for (const [open, entries] of journal.entries) open.entries = entries
    for (const second of journal.createdSeconds) this.open.delete(second)
  }
}

/**
 * Level 0 and every ancestor already built before this flush (its last
 * second below `builtFloor`), each unless expired. An expired bucket whose
 * parent is not built yet is still a target: the parent is built from it
 * (maybe by this very flush, when one batch spans more than a minute), so
 * skipping it would lose the counts from every coarser window.
 */
function lateTargets (second: number, builtFloor: number, nowSecond: number): BucketRef[] {
  const targets: BucketRef[] = []
  for (const l of LEVELS) {
    const bucket = bucketAt(l.index, second)
    if (l.index > 0 && bucketEnd(l.index, bucket) >= builtFloor) continue
    const parentUnbuilt = l.index < TOP_LEVEL && bucketEnd(l.index + 1, bucketAt(l.index + 1, second)) >= builtFloor
    const needed = !isExpired(l.index, bucket, nowSecond) || (parentUnbuilt && longDeadline(l.index, bucket) > nowSecond)
    if (needed) targets.push({ level: l.index, bucket })
  }
  return targets
}

/**
 * The coarser buckets whose last second turned final as the floor moved from
 * `from` to `to`, finest level first. A bucket past its own window's expiry
 * is still built while its 24 h ancestor is not expired (longDeadline), so
 * the chain up to the buckets still read is complete after a long pause.
 */
function buildsBetween (from: number, to: number, nowSecond: number): BuildStep[] {
  const builds: BuildStep[] = []
  if (to <= from) return builds
  // No bucket starting before this has an unexpired 24 h ancestor.
  const oldestNeeded = nowSecond - level(TOP_LEVEL).spec.seconds - 3 * level(TOP_LEVEL).seconds
  for (const l of LEVELS) {
    if (l.index === 0) continue
    const first = Math.max(bucketAt(l.index, from), bucketAt(l.index, oldestNeeded))
    const last = Math.floor(to / l.seconds) - 1
    for (let bucket = first; bucket <= last; bucket++) {
      if (bucketEnd(l.index, bucket) < from || longDeadline(l.index, bucket) <= nowSecond) continue
      const [a, b] = childRange(l.index, bucket)
      const children: number[] = []
      for (let c = a; c <= b; c++) children.push(c)
      builds.push({ level: l.index, bucket, children })
    }
  }
  return builds
}

/** trimCounts of a selection already made: zero counts cut off, the member past `top` is the err. */
function trimmedHead (selection: readonly TopEntry[], top: number): TrimmedList {
  let end = selection.length
  while (end > 0 && (selection[end - 1] as TopEntry).count <= 0) end--
  const entries = selection.slice(0, Math.min(end, top))
  return { entries, err: end > top ? (selection[top] as TopEntry).count : 0 }
}

function positive (value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`BucketLife: ${name} must be a positive integer, got ${String(value)}`)
  return value
}
