import { CATEGORIES, type Category } from '../types.js'
import { bucketAt, bucketStart, level, LEVELS, longDeadline, naturalDeadline, TOP_LEVEL } from '../windows/levels.js'
import { addToRoomValue, emptyRoomValue, mergeRoomValues, type RoomWindowValue } from '../windows/room-value.js'
import { decodeRoomValue, decodeTrimmed, encodeRoomValue, encodeTrimmed } from '../windows/serialise.js'
import type { WindowWritePlan } from '../windows/bucket-life.js'
import { lateByTarget } from '../windows/late-targets.js'
import { addToTrimmed, emptyTrimmed, isEmptyTrimmed, mergeTrimmed, type TrimmedList } from '../windows/trimmed-list.js'
import type { RedisKeys } from './keys.js'

/**
 * Turns the writer's window plan (windows/bucket-life.ts) into Redis writes:
 * the 1 s values rewritten from exact counts, late deltas merged into the
 * stored values, and coarser buckets built from their children. The late
 * and build steps need stored values first: `storedValuesNeeded` lists
 * them, the store reads them in one round trip before the flush (the writer
 * holds the lease, so nothing changes them in between).
 */

/** Stored values a plan reads: string keys, and hashes read whole. */
export interface StoredValuesNeeded {
  strings: string[]
  hashes: string[]
}

/** What was read for StoredValuesNeeded: a missing key is an empty bucket. */
export interface StoredValues {
  strings: Map<string, string | null>
  hashes: Map<string, Record<string, string>>
}

/** The window part of a flush, as apply-batch.lua takes it. */
export interface WindowWrites {
  /** SET key text EX ttl */
  values: Array<[string, number, string]>
  /** HSET key field text..., EXPIRE ttl */
  hashValues: Array<[string, number, Array<[string, string]>]>
  /** EXPIRE key ttl (<= 0: DEL): children of the buckets built now keep only their own window's life. */
  expiries: Array<[string, number]>
}

export interface WindowWriteOptions {
  keys: RedisKeys
  windowTop: number
  roomWindowTop: number
  /** The store's clock, epoch seconds. */
  nowSecond: number
  /** Rooms leaving the tracked set with this flush: left out of every value built or merged. */
  evicted: ReadonlySet<string>
}

/** The keys of one bucket: a string per category and the rooms' hash. */
function bucketKeys (keys: RedisKeys, l: number, bucket: number): { lists: Record<Category, string>, rooms: string } {
  return {
    lists: { words: keys.windowValue(l, 'words', bucket), nicks: keys.windowValue(l, 'nicks', bucket), rooms: keys.windowValue(l, 'rooms', bucket), emotes: keys.windowValue(l, 'emotes', bucket) },
    rooms: keys.roomWindowValues(l, bucket)
  }
}

/** The stored values the plan's late deltas and builds merge with. */
export function storedValuesNeeded (plan: WindowWritePlan, keys: RedisKeys): StoredValuesNeeded {
  const strings = new Set<string>()
  const hashes = new Set<string>()
  const need = (l: number, bucket: number, rooms: boolean): void => {
    const k = bucketKeys(keys, l, bucket)
    for (const category of CATEGORIES) strings.add(k.lists[category])
    if (rooms) hashes.add(k.rooms)
  }
  for (const delta of plan.late) for (const target of delta.targets) need(target.level, target.bucket, delta.rooms.size > 0)
  for (const build of plan.builds) for (const child of build.children) need(build.level - 1, child, true)
  return { strings: [...strings], hashes: [...hashes] }
}

/**
 * Seconds a value of (level, bucket) must live from `nowSecond`: as long as
 * its own window reads it once its parent is built (per `marks`), else as
 * long as the 24 h window might need it to build the parent.
 */
export function valueTtl (l: number, bucket: number, marks: readonly number[], nowSecond: number): number {
  const parentBuilt = l === TOP_LEVEL || bucketAt(l + 1, bucketStart(l, bucket)) <= marks[l + 1]!
  return (parentBuilt ? naturalDeadline(l, bucket) : longDeadline(l, bucket)) - nowSecond
}

/** The writes of a plan, given the stored values it needs. */
export function windowWrites (plan: WindowWritePlan, stored: StoredValues, options: WindowWriteOptions): WindowWrites {
  const { keys, windowTop, roomWindowTop, nowSecond, evicted } = options
  // What this flush writes, by key: later steps read what earlier ones wrote.
  const lists = new Map<string, { l: number, bucket: number, list: TrimmedList }>()
  const rooms = new Map<string, { l: number, bucket: number, fields: Map<string, RoomWindowValue> }>()
  const listAt = (key: string): TrimmedList => {
    const written = lists.get(key)
    if (written !== undefined) return written.list
    const text = stored.strings.get(key)
    return text === null || text === undefined ? emptyTrimmed() : decodeTrimmed(text)
  }
  const roomsAt = (key: string, l: number, bucket: number): Map<string, RoomWindowValue> => {
    let entry = rooms.get(key)
    if (entry === undefined) {
      entry = { l, bucket, fields: new Map() }
      rooms.set(key, entry)
    }
    return entry.fields
  }
  const storedRoom = (key: string, room: string): RoomWindowValue => {
    const written = rooms.get(key)?.fields.get(room)
    if (written !== undefined) return written
    const text = stored.hashes.get(key)?.[room]
    return text === undefined ? emptyRoomValue() : decodeRoomValue(text)
  }

  for (const second of plan.seconds) {
    const k = bucketKeys(keys, 0, second.second)
    for (const category of CATEGORIES) {
      const list = second.lists[category]
      if (list !== undefined) lists.set(k.lists[category], { l: 0, bucket: second.second, list })
    }
    const fields = roomsAt(k.rooms, 0, second.second)
    for (const [room, value] of second.rooms) fields.set(room, value)
  }

  // Summed per target first: one read-add-trim per bucket and flush (lateByTarget).
  for (const { level: l, bucket, lists: deltas, rooms } of lateByTarget(plan.late)) {
    const k = bucketKeys(keys, l, bucket)
    for (const category of CATEGORIES) {
      if (deltas[category].size === 0) continue
      lists.set(k.lists[category], { l, bucket, list: addToTrimmed(listAt(k.lists[category]), deltas[category], windowTop) })
    }
    if (rooms.size === 0) continue
    const merged = new Map<string, RoomWindowValue>()
    for (const [room, counts] of rooms) merged.set(room, addToRoomValue(storedRoom(k.rooms, room), counts, roomWindowTop))
    const fields = roomsAt(k.rooms, l, bucket)
    for (const [room, value] of merged) fields.set(room, value)
  }

  const expiries: Array<[string, number]> = []
  for (const build of plan.builds) {
    const { level: l, bucket, children } = build
    const k = bucketKeys(keys, l, bucket)
    const childKeys = children.map((child) => bucketKeys(keys, l - 1, child))
    for (const category of CATEGORIES) {
      const list = mergeTrimmed(childKeys.map((c) => listAt(c.lists[category])), windowTop)
      lists.set(k.lists[category], { l, bucket, list })
    }
    const byRoom = new Map<string, RoomWindowValue[]>()
    for (const c of childKeys) {
      const roomNames = new Set([...Object.keys(stored.hashes.get(c.rooms) ?? {}), ...(rooms.get(c.rooms)?.fields.keys() ?? [])])
      for (const room of roomNames) {
        if (evicted.has(room)) continue
        let values = byRoom.get(room)
        if (values === undefined) byRoom.set(room, values = [])
        values.push(storedRoom(c.rooms, room))
      }
    }
    const fields = roomsAt(k.rooms, l, bucket)
    for (const [room, values] of byRoom) fields.set(room, mergeRoomValues(values, roomWindowTop))
    // The children now serve only their own window.
    for (let i = 0; i < children.length; i++) {
      const ttl = naturalDeadline(l - 1, children[i]!) - nowSecond
      for (const category of CATEGORIES) if (!lists.has(childKeys[i]!.lists[category])) expiries.push([childKeys[i]!.lists[category], ttl])
      if (!rooms.has(childKeys[i]!.rooms)) expiries.push([childKeys[i]!.rooms, ttl])
    }
  }

  const values: WindowWrites['values'] = []
  for (const [key, { l, bucket, list }] of lists) {
    const ttl = valueTtl(l, bucket, plan.marks, nowSecond)
    if (ttl <= 0) continue
    if (isEmptyTrimmed(list)) {
      // Nothing to keep; a stored value it replaces (a build of empty children) is dropped.
      expiries.push([key, 0])
      continue
    }
    values.push([key, ttl, encodeTrimmed(list)])
  }
  const hashValues: WindowWrites['hashValues'] = []
  for (const [key, { l, bucket, fields }] of rooms) {
    const ttl = valueTtl(l, bucket, plan.marks, nowSecond)
    const live = [...fields].filter(([room]) => !evicted.has(room))
    if (ttl <= 0 || live.length === 0) continue
    hashValues.push([key, ttl, live.map(([room, value]) => [room, encodeRoomValue(value)])])
  }
  return { values, hashValues, expiries }
}

/**
 * The room hashes of every window bucket that may still be alive at
 * `nowSecond`: where a room leaving the tracked set can have values. A
 * bucket whose parent is built lives for its own window; one whose parent is
 * not built yet (its parent ends at or after `floor`) lives longer. At most
 * MAX_LIVE_BUCKETS per level (a writer back after a long pause).
 */
export function liveRoomWindowKeys (keys: RedisKeys, floor: number, newestSecond: number, nowSecond: number): string[] {
  const out: string[] = []
  for (const l of LEVELS) {
    const ownWindow = bucketAt(l.index, nowSecond) - l.spec.buckets - 2
    const unbuilt = l.index === TOP_LEVEL ? ownWindow : bucketAt(l.index + 1, floor) * level(l.index + 1).ratio
    const newest = bucketAt(l.index, Math.max(nowSecond, newestSecond))
    for (let bucket = Math.max(Math.min(ownWindow, unbuilt), newest - MAX_LIVE_BUCKETS); bucket <= newest; bucket++) out.push(keys.roomWindowValues(l.index, bucket))
  }
  return out
}

/** Most room hashes per level an eviction deletes from (see liveRoomWindowKeys). */
const MAX_LIVE_BUCKETS = 2000
