import { type Batch, CATEGORIES, type Counts, ROOM_CATEGORIES } from '../types.js'
import type { BucketLifeState } from '../windows/bucket-life.js'
import { addCounts } from '../windows/counts.js'
import type { TrackedRoomsPlan } from '../windows/tracked-rooms.js'
import { MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS } from '../windows.js'
import { type RedisKeys, ROOM_EVENT_FIELD_PREFIX, ROOM_MESSAGES_FIELD } from './keys.js'
import { CountsArray, encodeMsgpack, type MsgpackBuffer, type Packable } from './msgpack.js'
import type { WindowWrites } from './window-writes.js'

/**
 * Builds the KEYS and ARGV of lua/apply-batch.lua (its header documents
 * them) for one flush. The writer pre-aggregates: each key appears once per
 * flush with the sum of the batch's slices, members with a zero count are
 * not sent, and everything travels as one MessagePack argument that Redis
 * unpacks in C (BENCHMARKS.md: the interpreter's parsing was half of Redis's
 * time per message). Per-room detail goes only to tracked rooms.
 */

export interface FlushOptions {
  keys: RedisKeys
  /** The store's clock (epoch ms). */
  nowMs: number
  maxTrackedWords: number
  maxTrackedPerRoom: number
  maxFailedLog: number
  /** '' = write without a lease check. */
  leaseToken: string
  /** The writer's own buffer for the packed writes: ARGV[10] is then a view of it, valid until its next use. */
  scratch?: MsgpackBuffer | undefined
}

/** What the writer decided for this flush besides the batch's counts. */
export interface FlushPlans {
  tracked: TrackedRoomsPlan
  windows: WindowWrites
  /** Hashes of window buckets to delete the evicted rooms from. */
  evictedRoomWindows: string[]
  windowState: BucketLifeState
}

export interface EncodedFlush {
  keys: string[]
  args: Array<string | Buffer>
}

/** The slices' maps of counts for one key: CountsArray writes a single one as it is and sums several. */
type CountsParts = Array<ReadonlyMap<string, number>>

function addPart (parts: CountsParts, counts: ReadonlyMap<string, number>): void {
  if (counts.size > 0) parts.push(counts)
}

/** The KEYS and ARGV of apply-batch.lua. `batch` must have passed validateBatch. */
export function encodeFlush (batch: Batch, plans: FlushPlans, options: FlushOptions): EncodedFlush {
  const { keys: k, nowMs } = options
  const nowSecond = Math.floor(nowMs / 1000)
  const { tracked, windows } = plans

  let messages = 0
  const allTime = new Map<string, CountsParts>(CATEGORIES.map((category) => [category, []]))
  const events: Counts = new Map()
  const seconds = new Map<number, number>()
  const minutes = new Map<number, number>()
  /** Tracked rooms' detail; `first`: the earliest second it appears in. */
  const rooms = new Map<string, { hash: Counts, lists: Map<string, CountsParts>, first: number }>()
  for (const slice of batch.slices) {
    messages += slice.messages
    for (const category of CATEGORIES) addPart(allTime.get(category)!, slice[category])
    addCounts(events, slice.events)
    if (slice.messages > 0) {
      seconds.set(slice.second, (seconds.get(slice.second) ?? 0) + slice.messages)
      const minute = Math.floor(slice.second / 60)
      minutes.set(minute, (minutes.get(minute) ?? 0) + slice.messages)
    }
    for (const [room, detail] of slice.roomDetail) {
      if (!tracked.isTracked(room)) continue
      let r = rooms.get(room)
      if (r === undefined) {
        r = { hash: new Map([[ROOM_MESSAGES_FIELD, 0]]), lists: new Map(ROOM_CATEGORIES.map((category) => [category, []])), first: slice.second }
        rooms.set(room, r)
      } else if (slice.second < r.first) {
        r.first = slice.second
      }
      r.hash.set(ROOM_MESSAGES_FIELD, r.hash.get(ROOM_MESSAGES_FIELD)! + detail.messages)
      for (const [command, n] of detail.events) if (n > 0) r.hash.set(ROOM_EVENT_FIELD_PREFIX + command, (r.hash.get(ROOM_EVENT_FIELD_PREFIX + command) ?? 0) + n)
      for (const category of ROOM_CATEGORIES) addPart(r.lists.get(category)!, detail[category])
    }
  }

  const deleted: string[] = []
  for (const room of tracked.evicted) {
    deleted.push(k.room(room))
    for (const category of ROOM_CATEGORIES) deleted.push(k.roomTop(room, category))
  }
  const fieldDeletions: Packable[] = tracked.evicted.length === 0 ? [] : plans.evictedRoomWindows.map((key) => [key, ...tracked.evicted])

  // The key of every entry below is its first item; they are collected for KEYS as the entries are made.
  const touched = new Set<string>(deleted)
  const sortedSets: Packable[] = []
  const sortedSet = (key: string, max: number, counts: CountsParts): void => {
    sortedSets.push(new CountsArray([key, max, 0], counts))
    touched.add(key)
  }
  for (const category of CATEGORIES) {
    const counts = allTime.get(category)!
    if (counts.length > 0) sortedSet(k.top(category), options.maxTrackedWords, counts)
  }
  const hashIncrements: Packable[] = []
  if (events.size > 0) hashIncrements.push(new CountsArray([k.events, 0], events))
  // Per-second counts are kept 24 h, per-minute counts 7 days: older ones are not written (they would only expire).
  for (const [second, n] of seconds) {
    const minute = Math.floor(second / 60)
    const ttl = (minute + 1) * 60 + SECOND_SERIES_RETENTION_SECONDS - nowSecond
    if (ttl > 0) hashIncrements.push([k.secondSeries(minute), ttl, String(second % 60), n])
  }
  const byDay = new Map<number, Packable[]>()
  for (const [minute, n] of minutes) {
    const day = Math.floor(minute / 1440)
    const ttl = (day + 1) * 86400 + MINUTE_SERIES_RETENTION_SECONDS - nowSecond
    if (ttl <= 0) continue
    let entry = byDay.get(day)
    if (entry === undefined) byDay.set(day, entry = [k.minuteSeries(day), ttl])
    entry.push(String(minute % 1440), n)
  }
  for (const entry of byDay.values()) hashIncrements.push(entry)
  // First seen: set for a room entering the tracked set (its hash was deleted when it last left), lowered otherwise.
  const admitted = new Set(tracked.admitted)
  const firstSeen: Packable[] = []
  const earlier: Packable[] = []
  for (const [room, { hash, lists, first }] of rooms) {
    if (admitted.has(room)) firstSeen.push(k.room(room), first)
    else earlier.push(k.room(room), first)
    // `m` always, even 0: the room's hash exists once the room is tracked.
    const entry: Packable[] = [k.room(room), 0]
    for (const [field, n] of hash) entry.push(field, n)
    hashIncrements.push(entry)
    for (const category of ROOM_CATEGORIES) {
      const counts = lists.get(category)!
      if (counts.length > 0) sortedSet(k.roomTop(room, category), options.maxTrackedPerRoom, counts)
    }
  }

  const trackedScores: Packable[] = []
  for (const [room, score] of tracked.scores) trackedScores.push(score, room)
  const failedLog = batch.failedLog.length > options.maxFailedLog ? batch.failedLog.slice(-options.maxFailedLog) : batch.failedLog

  const writes: Packable[] = [
    deleted,
    fieldDeletions,
    sortedSets,
    hashIncrements,
    windows.values,
    windows.hashValues.map(([key, ttl, fields]) => [key, ttl, ...fields.flat()]),
    windows.expiries,
    trackedScores,
    tracked.evicted,
    failedLog.map((entry) => JSON.stringify({ raw: entry.raw, reason: entry.reason, at: entry.at })),
    [plans.windowState.floor, plans.windowState.newestWritten],
    firstSeen,
    earlier
  ]
  // Every key the writes touch is declared too: on a cluster, a slot being migrated then answers
  // TRYAGAIN/ASK for the flush as a whole instead of the script writing a key the old node still holds.
  const fixed = [k.lease, k.position, k.totals, k.failedLog, k.windows, k.tracked]
  if (events.size > 0) touched.add(k.events)
  for (const entries of [fieldDeletions, hashIncrements, windows.values, windows.hashValues, windows.expiries] as Packable[][][]) {
    for (const entry of entries) if (!(entry instanceof CountsArray)) touched.add(entry[0] as string)
  }
  for (const key of fixed) touched.delete(key)
  return {
    keys: [...fixed, ...touched],
    args: [
      options.leaseToken,
      String(batch.sequence),
      batch.lastEventId === undefined ? '0' : '1',
      batch.lastEventId ?? '',
      String(messages),
      String(batch.failedCount),
      batch.lastMessageAt === undefined ? '' : String(batch.lastMessageAt),
      String(nowMs),
      String(options.maxFailedLog),
      encodeMsgpack(writes, options.scratch),
      batch.previousSequence === undefined ? '' : String(batch.previousSequence),
      batch.storeRollbacks === undefined ? '' : String(batch.storeRollbacks),
      batch.messagesLost === undefined ? '' : String(batch.messagesLost)
    ]
  }
}
