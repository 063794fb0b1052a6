import { CATEGORIES, type Category, type Counts, type RoomCategory, type TopList, type WindowName } from '../types.js'
import { addCount } from '../windows/counts.js'
import type { WindowWritePlan } from '../windows/bucket-life.js'
import { lateByTarget } from '../windows/late-targets.js'
import { bucketAt, bucketStart, isExpired, TOP_LEVEL } from '../windows/levels.js'
import { windowPlan } from '../windows/read-plan.js'
import { addToRoomValue, emptyRoomValue, mergeRoomValues, type RoomWindowValue } from '../windows/room-value.js'
import { decodeRoomValue, encodeRoomValue } from '../windows/serialise.js'
import { addToTrimmed, emptyTrimmed, mergeTrimmed, type TrimmedList } from '../windows/trimmed-list.js'
import { type BucketValues, emptyBucketValues } from './state.js'

/** The embedded store's window buckets: by level index, then bucket index. */
export type Levels = Array<Map<number, BucketValues>>

function valuesAt (levels: Levels, level: number, bucket: number): BucketValues {
  const buckets = levels[level]
  if (buckets === undefined) throw new RangeError(`no level ${level}`)
  let values = buckets.get(bucket)
  if (values === undefined) buckets.set(bucket, values = emptyBucketValues())
  return values
}

/** Applies one flush's window writes in the order BucketLife specifies: seconds, late deltas, builds. */
export function applyWindowPlan (levels: Levels, plan: WindowWritePlan, windowTop: number, roomWindowTop: number): void {
  for (const write of plan.seconds) {
    const values = valuesAt(levels, 0, write.second)
    for (const category of CATEGORIES) {
      const list = write.lists[category]
      if (list !== undefined) values.lists[category] = list
    }
    for (const [room, value] of write.rooms) values.rooms.set(room, encodeRoomValue(value))
  }
  // Summed per target first: one add-and-trim per bucket and flush (lateByTarget).
  for (const { level, bucket, lists, rooms } of lateByTarget(plan.late)) {
    const values = valuesAt(levels, level, bucket)
    for (const category of CATEGORIES) {
      const counts = lists[category]
      if (counts.size > 0) values.lists[category] = addToTrimmed(values.lists[category] ?? emptyTrimmed(), counts, windowTop)
    }
    for (const [room, counts] of rooms) {
      const stored = values.rooms.get(room)
      values.rooms.set(room, encodeRoomValue(addToRoomValue(stored === undefined ? emptyRoomValue() : decodeRoomValue(stored), counts, roomWindowTop)))
    }
  }
  for (const build of plan.builds) {
    const children = build.children.map((c) => levels[build.level - 1]?.get(c)).filter((v): v is BucketValues => v !== undefined)
    if (children.length === 0) continue
    const built = emptyBucketValues()
    for (const category of CATEGORIES) {
      const lists = children.map((c) => c.lists[category]).filter((l): l is TrimmedList => l !== undefined)
      if (lists.length > 0) built.lists[category] = mergeTrimmed(lists, windowTop)
    }
    const byRoom = new Map<string, RoomWindowValue[]>()
    for (const child of children) {
      for (const [room, text] of child.rooms) {
        const value = decodeRoomValue(text)
        const list = byRoom.get(room)
        if (list === undefined) byRoom.set(room, [value])
        else list.push(value)
      }
    }
    for (const [room, values] of byRoom) built.rooms.set(room, encodeRoomValue(mergeRoomValues(values, roomWindowTop)))
    levels[build.level]?.set(build.bucket, built)
  }
}

/** Deletes every window value of rooms that are no longer tracked. */
export function forgetRoomWindows (levels: Levels, rooms: Iterable<string>): void {
  const gone = [...rooms]
  if (gone.length === 0) return
  for (const buckets of levels) for (const values of buckets.values()) for (const room of gone) values.rooms.delete(room)
}

/**
 * Drops buckets no window reads any more: expired, and (below the top level)
 * with their parent built, since an unbuilt parent is read as its children.
 */
export function sweepWindows (levels: Levels, nowSecond: number, marks: readonly number[]): void {
  levels.forEach((buckets, level) => {
    for (const bucket of buckets.keys()) {
      if (!isExpired(level, bucket, nowSecond)) continue
      if (level < TOP_LEVEL && bucketAt(level + 1, bucketStart(level, bucket)) > (marks[level + 1] ?? Number.NEGATIVE_INFINITY)) continue
      buckets.delete(bucket)
    }
  })
}

/** The values a window read merges (windowPlan), those that exist. */
export function coveringValues (levels: Levels, window: Exclude<WindowName, 'all'>, nowMs: number, marks: readonly number[]): BucketValues[] {
  const out: BucketValues[] = []
  for (const { level, bucket } of windowPlan(window, nowMs, marks)) {
    const values = levels[level]?.get(bucket)
    if (values !== undefined) out.push(values)
  }
  return out
}

/** The merged counts of one stream-wide list over the covering values, and the sum of their errs. */
export function mergeCovering (values: readonly BucketValues[], category: Category): { counts: Counts, maxError: number } {
  const counts: Counts = new Map()
  let maxError = 0
  for (const value of values) {
    const list = value.lists[category]
    if (list === undefined) continue
    maxError += list.err
    for (const { value: member, count } of list.entries) addCount(counts, member, count)
  }
  return { counts, maxError }
}

/** The merged counts of one room list over the covering values, and the sum of their errs. */
export function mergeRoomCovering (values: readonly BucketValues[], room: string, category: RoomCategory): { counts: Counts, maxError: number } {
  const counts: Counts = new Map()
  let maxError = 0
  for (const value of values) {
    const text = value.rooms.get(room)
    if (text === undefined) continue
    const list = decodeRoomValue(text)[category]
    maxError += list.err
    for (const { value: member, count } of list.entries) addCount(counts, member, count)
  }
  return { counts, maxError }
}

/** A room's messages and events over the covering values. */
export function roomWindowTotals (values: readonly BucketValues[], room: string): { messages: number, events: Counts } {
  let messages = 0
  const events: Counts = new Map()
  for (const value of values) {
    const text = value.rooms.get(room)
    if (text === undefined) continue
    const detail = decodeRoomValue(text)
    messages += detail.messages
    for (const [command, n] of detail.events) addCount(events, command, n)
  }
  return { messages, events }
}

/** An empty, exact answer. */
export function emptyTopList (): TopList {
  return { entries: [], maxError: 0 }
}
