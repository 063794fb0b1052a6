import type { Batch, CountSlice, Counts, RoomSlice } from '../types.js'
import { MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS } from '../windows.js'
import { ROOM_EVENT_FIELD_PREFIX, ROOM_MESSAGES_FIELD, type RedisKeys } from './keys.js'
import { bucketAt, level, LEVELS, longDeadline, naturalDeadline, TOP_LEVEL } from './levels.js'
import { emptyRollupState, encodeIndex, encodeRollups, type RollupChange, type RollupState } from './rollup-plan.js'
import { BatchEncoder } from './sections-writer.js'


/**
 * Turns a Batch into the KEYS and ARGV of lua/apply-batch.lua (its header
 * documents the layout). This is the ingest hot path, so:
 * - a member list is sent once per GROUP of keys that receive the same
 *   counts (a one-second batch sends each category's words once for the
 *   all-time key and its 1 s window bucket); for batches spanning several
 *   seconds, keys are grouped by the exact set of slices that feed them and
 *   each group gets the merged counts;
 * - only the finest window level (1 s) is written; coarser buckets are
 *   rolled up when they close (levels.ts), for the stream-wide lists and
 *   for every room the store knows to have written into them;
 * - increments travel as decimal strings Redis takes as they are (no Lua
 *   number conversion per member);
 * - expiries are precomputed here, relative to the store's clock.
 */

export interface EncodeOptions {
  keys: RedisKeys
  /** The store's clock at the time of the write (epoch ms). */
  nowMs: number
  maxTrackedWords: number
  maxTrackedPerRoom: number
  maxFailedLog: number
  /** '' = write without a lease check. */
  leaseToken: string
  /** Roll-up knowledge; default: a namespace with none yet. */
  rollup?: RollupState
  /** Buckets with counts rolled up per level and flush at most (a catch-up after a pause is spread over flushes). Default 16. */
  maxRollupsPerLevel?: number
}


export interface EncodedBatch {
  keys: string[]
  /** The header's strings, then the sections as one Buffer (see FIELD_END). */
  args: Array<string | Buffer>
  rollup: RollupChange
}

/** Keys before the sections' keys in KEYS (lease, position, totals, failed log, roll-up marks). */
export const FIXED_KEY_COUNT = 5
/** ARGV before the failed log entries. */
export const HEADER_ARG_COUNT = 12

function checkInteger (name: string, value: unknown, minimum: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    throw new RangeError(`${name} must be an integer >= ${minimum}, got ${String(value)}`)
  }
  return value
}

/** The fields of a room's hashes for one slice: `m` always (so the room exists), `e:<CMD>` for events. */
function roomHashCounts (detail: RoomSlice): Counts {
  const counts: Counts = new Map([[ROOM_MESSAGES_FIELD, checkInteger('room messages', detail.messages, 0)]])
  for (const [command, n] of detail.events) if (n !== 0) counts.set(ROOM_EVENT_FIELD_PREFIX + command, n)
  return counts
}

/**
 * Per slice, the window keys it writes: level 0 always, and every coarser
 * level whose bucket is already final (late counts); with their expiries.
 */
interface SliceWindows {
  /** Level indexes to write, 0 first. */
  levels: number[]
  buckets: number[]
  ttls: number[]
}

function sliceWindows (second: number, marks: number[] | null, nowSecond: number): SliceWindows {
  const out: SliceWindows = { levels: [], buckets: [], ttls: [] }
  for (let k = 0; k <= TOP_LEVEL; k++) {
    const bucket = bucketAt(k, second)
    if (k > 0 && (marks === null || bucket > marks[k]!)) break // pending here: it will be rolled up
    // Lives as long as its own window needs it once its parent is final, else as long as the 24 h window might.
    const parentFinal = k === TOP_LEVEL || (marks !== null && bucketAt(k + 1, second) <= marks[k + 1]!)
    const ttl = (parentFinal ? naturalDeadline(k, bucket) : longDeadline(k, bucket)) - nowSecond
    if (ttl <= 0) continue
    out.levels.push(k)
    out.buckets.push(bucket)
    out.ttls.push(ttl)
  }
  return out
}

/**
 * Builds the KEYS and ARGV of apply-batch.lua for `batch`.
 * Throws RangeError/TypeError on a malformed batch, before anything is sent.
 */
export function encodeBatch (batch: Batch, options: EncodeOptions): EncodedBatch {
  const { keys: k, nowMs } = options
  checkInteger('batch.sequence', batch.sequence, 1)
  if (!Array.isArray(batch.slices)) throw new TypeError('batch.slices must be an array')
  checkInteger('batch.failedCount', batch.failedCount, 0)
  if (batch.lastEventId !== undefined && typeof batch.lastEventId !== 'string') throw new TypeError('batch.lastEventId must be a string when given')
  if (batch.lastMessageAt !== undefined && !Number.isFinite(batch.lastMessageAt)) throw new RangeError('batch.lastMessageAt must be a finite number when given')

  const slices = batch.slices
  let messages = 0
  let firstSecond = Number.POSITIVE_INFINITY
  let lastSecond = Number.NEGATIVE_INFINITY
  for (const slice of slices) {
    checkInteger('slice.second', slice.second, 0)
    messages += checkInteger('slice.messages', slice.messages, 0)
    firstSecond = Math.min(firstSecond, slice.second)
    lastSecond = Math.max(lastSecond, slice.second)
  }
  const state = options.rollup ?? emptyRollupState()
  const nowSecond = Math.floor(nowMs / 1000)
  // A namespace without marks starts them just before its first batch: nothing earlier was written by roll-up rules.
  const marks = state.marks ?? (slices.length === 0 ? null : LEVELS.map((_, i) => i === 0 ? 0 : bucketAt(i, firstSecond) - 1))

  const failedLog = batch.failedLog.length > options.maxFailedLog ? batch.failedLog.slice(-options.maxFailedLog) : batch.failedLog
  const header: string[] = [
    options.leaseToken,
    String(batch.sequence),
    batch.lastEventId === undefined ? '0' : '1',
    batch.lastEventId ?? '',
    String(messages),
    String(batch.failedCount),
    batch.lastMessageAt === undefined ? '' : String(batch.lastMessageAt),
    String(nowMs),
    String(options.maxFailedLog),
    String(TOP_LEVEL),
    state.marks === null ? '' : state.marks.slice(1).join(','),
    String(failedLog.length)
  ]
  for (const entry of failedLog) {
    if (typeof entry.raw !== 'string' || typeof entry.reason !== 'string' || !Number.isFinite(entry.at)) {
      throw new TypeError('failed log entries need a string raw, a string reason and a numeric at')
    }
    header.push(JSON.stringify({ raw: entry.raw, reason: entry.reason, at: entry.at }))
  }
  const encoder = new BatchEncoder([k.lease, k.position, k.totals, k.failedLog, k.rollup], header)

  const windows = slices.map((slice) => sliceWindows(slice.second, marks, nowSecond))
  const all = slices.map((_, i) => i)
  const withCounts = (pick: (slice: CountSlice) => Counts): number[] => all.filter((i) => pick(slices[i]!).size > 0)

  const trimWords = -options.maxTrackedWords
  for (const category of ['words', 'nicks', 'rooms', 'emotes'] as const) {
    const topKey = k.top(category)
    encoder.family('z', category, false, withCounts((s) => s[category]), (i) => slices[i]![category], (i, keys, params) => {
      keys.push(topKey)
      params.push(trimWords)
      const { levels, buckets, ttls } = windows[i]!
      for (let w = 0; w < levels.length; w++) {
        keys.push(k.windowBucket(level(levels[w]!).spec, category, buckets[w]!))
        params.push(ttls[w]!)
      }
    })
  }
  encoder.family('h', 'events', false, withCounts((s) => s.events), (i) => slices[i]!.events, (_i, keys, params) => {
    keys.push(k.events)
    params.push(0)
  })

  const withMessages = all.filter((i) => slices[i]!.messages > 0)
  encoder.family('h', 'messages', false, withMessages, (i) => new Map([[String(slices[i]!.second % 60), slices[i]!.messages]]), (i, keys, params) => {
    const minute = Math.floor(slices[i]!.second / 60)
    const ttl = (minute + 1) * 60 + SECOND_SERIES_RETENTION_SECONDS - nowSecond
    if (ttl <= 0) return
    keys.push(k.secondSeries(minute))
    params.push(ttl)
  })
  encoder.family('h', 'messages', false, withMessages, (i) => new Map([[String(Math.floor(slices[i]!.second / 60) % 1440), slices[i]!.messages]]), (i, keys, params) => {
    const day = Math.floor(slices[i]!.second / 86400)
    const ttl = (day + 1) * 86400 + MINUTE_SERIES_RETENTION_SECONDS - nowSecond
    if (ttl <= 0) return
    keys.push(k.minuteSeries(day))
    params.push(ttl)
  })

  encodeRooms(encoder, options, slices, windows)
  const added = encodeIndex(encoder, k, slices, marks, state, nowSecond)
  const change = encodeRollups(encoder, options, state, marks, added, lastSecond, nowSecond)
  return { keys: encoder.keys, args: encoder.args(), rollup: change }
}

function encodeRooms (encoder: BatchEncoder, options: EncodeOptions, slices: CountSlice[], windows: SliceWindows[]): void {
  const k = options.keys
  const trimRoom = -options.maxTrackedPerRoom
  // room -> (slice index -> detail); most batches have one slice, so skip the regrouping then.
  const rooms = new Map<string, Map<number, RoomSlice>>()
  slices.forEach((slice, i) => {
    for (const [room, detail] of slice.roomDetail) {
      let bySlice = rooms.get(room)
      if (bySlice === undefined) {
        bySlice = new Map()
        rooms.set(room, bySlice)
      }
      bySlice.set(i, detail)
    }
  })
  for (const [room, bySlice] of rooms) {
    const active = [...bySlice.keys()]
    const detailAt = (i: number): RoomSlice => bySlice.get(i)!
    const hashCounts = new Map(active.map((i) => [i, roomHashCounts(detailAt(i))]))
    const countsAt = (i: number): Counts => hashCounts.get(i)!
    const roomKey = k.room(room)
    encoder.family('h', `room ${room}`, true, active, countsAt, (_i, keys, params) => {
      keys.push(roomKey)
      params.push(0)
    })
    encoder.family('z', `room ${room}`, false, active, countsAt, (i, keys, params) => {
      const { levels, buckets, ttls } = windows[i]!
      for (let w = 0; w < levels.length; w++) {
        keys.push(k.roomWindowBucket(level(levels[w]!).spec, buckets[w]!, room))
        params.push(ttls[w]!)
      }
    })
    for (const category of ['words', 'nicks', 'emotes'] as const) {
      const topKey = k.roomTop(room, category)
      const withCounts = active.filter((i) => detailAt(i)[category].size > 0)
      encoder.family('z', `${category} of room ${room}`, false, withCounts, (i) => detailAt(i)[category], (i, keys, params) => {
        keys.push(topKey)
        params.push(trimRoom)
        const { levels, buckets, ttls } = windows[i]!
        for (let w = 0; w < levels.length; w++) {
          keys.push(k.roomTopBucket(level(levels[w]!).spec, category, buckets[w]!, room))
          params.push(ttls[w]!)
        }
      })
    }
  }
}

