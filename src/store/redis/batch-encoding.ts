import type { Batch, CountSlice, Counts, RoomSlice } from '../types.js'
import {
  bucketOf,
  bucketTtlSeconds,
  MINUTE_SERIES_RETENTION_SECONDS,
  SECOND_SERIES_RETENTION_SECONDS,
  WINDOW_SPECS
} from '../windows.js'
import { type RedisKeys, ROOM_EVENT_FIELD_PREFIX, ROOM_MESSAGES_FIELD } from './keys.js'

/**
 * Turns a Batch into the KEYS and ARGV of lua/apply-batch.lua (its header
 * documents the layout). This is the ingest hot path, so:
 * - a member list is sent once per GROUP of keys that receive the same
 *   counts (a one-second batch sends each category's words once for the
 *   all-time key and its 5 window buckets); for batches spanning several
 *   seconds, keys are grouped by the exact set of slices that feed them and
 *   each group gets the merged counts;
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
}

export interface EncodedBatch {
  keys: string[]
  args: string[]
}

/** Keys before the groups' keys in KEYS (lease, position, totals, failed log). */
export const FIXED_KEY_COUNT = 4

type Op = 'z' | 'h'
type TargetsAt = (slice: number, keys: string[], params: number[]) => void

/** Per slice: the bucket and the seconds to live of each window spec (<= 0: already expired, skip). */
interface SliceWindows {
  buckets: number[]
  ttls: number[]
}

class BatchEncoder {
  readonly keys: string[]
  readonly args: string[]

  constructor (fixedKeys: string[], header: string[]) {
    this.keys = fixedKeys
    this.args = header
  }

  /**
   * Adds one family of counters: the counts of each slice in `active` go to
   * the targets `targetsAt` names for that slice.
   */
  family (op: Op, label: string, keepZero: boolean, active: readonly number[], countsAt: (slice: number) => Counts, targetsAt: TargetsAt): void {
    if (active.length === 0) return
    if (active.length === 1) {
      const only = active[0]!
      const keys: string[] = []
      const params: number[] = []
      targetsAt(only, keys, params)
      this.group(op, label, keepZero, keys, params, countsAt(only))
      return
    }
    const byKey = new Map<string, { param: number, slices: number[] }>()
    const keys: string[] = []
    const params: number[] = []
    for (const slice of active) {
      keys.length = 0
      params.length = 0
      targetsAt(slice, keys, params)
      for (let j = 0; j < keys.length; j++) {
        const key = keys[j]!
        const entry = byKey.get(key)
        if (entry === undefined) byKey.set(key, { param: params[j]!, slices: [slice] })
        else entry.slices.push(slice)
      }
    }
    const groups = new Map<string, { keys: string[], params: number[], slices: number[] }>()
    for (const [key, { param, slices }] of byKey) {
      const signature = slices.join(',')
      let group = groups.get(signature)
      if (group === undefined) {
        group = { keys: [], params: [], slices }
        groups.set(signature, group)
      }
      group.keys.push(key)
      group.params.push(param)
    }
    for (const group of groups.values()) {
      const counts = group.slices.length === 1 ? countsAt(group.slices[0]!) : mergeCounts(group.slices.map(countsAt))
      this.group(op, label, keepZero, group.keys, group.params, counts)
    }
  }

  private group (op: Op, label: string, keepZero: boolean, keys: string[], params: number[], counts: Counts): void {
    if (keys.length === 0 || counts.size === 0) return
    const args = this.args
    const start = args.length
    args.push(op, String(keys.length), '')
    for (let j = 0; j < keys.length; j++) args.push(String(params[j]!))
    let pairs = 0
    for (const [member, n] of counts) {
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`count of ${label} ${JSON.stringify(member)} must be a non-negative integer, got ${n}`)
      if (n === 0 && !keepZero) continue
      args.push(member, String(n))
      pairs++
    }
    if (pairs === 0) {
      args.length = start
      return
    }
    args[start + 2] = String(pairs)
    for (const key of keys) this.keys.push(key)
  }
}

function mergeCounts (all: Counts[]): Counts {
  const merged = new Map(all[0])
  for (let i = 1; i < all.length; i++) {
    for (const [member, n] of all[i]!) merged.set(member, (merged.get(member) ?? 0) + n)
  }
  return merged
}

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
  for (const slice of slices) {
    checkInteger('slice.second', slice.second, 0)
    messages += checkInteger('slice.messages', slice.messages, 0)
  }
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
    String(failedLog.length)
  ]
  for (const entry of failedLog) {
    if (typeof entry.raw !== 'string' || typeof entry.reason !== 'string' || !Number.isFinite(entry.at)) {
      throw new TypeError('failed log entries need a string raw, a string reason and a numeric at')
    }
    header.push(JSON.stringify({ raw: entry.raw, reason: entry.reason, at: entry.at }))
  }
  const encoder = new BatchEncoder([k.lease, k.position, k.totals, k.failedLog], header)

  const nowSecond = Math.floor(nowMs / 1000)
  const windows: SliceWindows[] = slices.map((slice) => ({
    buckets: WINDOW_SPECS.map((spec) => bucketOf(spec, slice.second)),
    ttls: WINDOW_SPECS.map((spec) => bucketOf(spec, slice.second) * spec.bucketSeconds + bucketTtlSeconds(spec) - nowSecond)
  }))
  const all = slices.map((_, i) => i)
  const withCounts = (pick: (slice: CountSlice) => Counts): number[] => all.filter((i) => pick(slices[i]!).size > 0)

  const trimWords = -options.maxTrackedWords
  for (const category of ['words', 'nicks', 'rooms', 'emotes'] as const) {
    const topKey = k.top(category)
    encoder.family('z', category, false, withCounts((s) => s[category]), (i) => slices[i]![category], (i, keys, params) => {
      keys.push(topKey)
      params.push(trimWords)
      const { buckets, ttls } = windows[i]!
      for (let w = 0; w < WINDOW_SPECS.length; w++) {
        if (ttls[w]! <= 0) continue
        keys.push(k.windowBucket(WINDOW_SPECS[w]!, category, buckets[w]!))
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
  return { keys: encoder.keys, args: encoder.args }
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
    const hashCounts = active.length === 1 ? null : new Map(active.map((i) => [i, roomHashCounts(detailAt(i))]))
    const roomKey = k.room(room)
    encoder.family('h', `room ${room}`, true, active, (i) => hashCounts?.get(i) ?? roomHashCounts(detailAt(i)), (i, keys, params) => {
      keys.push(roomKey)
      params.push(0)
      const { buckets, ttls } = windows[i]!
      for (let w = 0; w < WINDOW_SPECS.length; w++) {
        if (ttls[w]! <= 0) continue
        keys.push(k.roomWindowBucket(WINDOW_SPECS[w]!, buckets[w]!, room))
        params.push(ttls[w]!)
      }
    })
    for (const category of ['words', 'nicks', 'emotes'] as const) {
      const topKey = k.roomTop(room, category)
      const withCounts = active.filter((i) => detailAt(i)[category].size > 0)
      encoder.family('z', `${category} of room ${room}`, false, withCounts, (i) => detailAt(i)[category], (i, keys, params) => {
        keys.push(topKey)
        params.push(trimRoom)
        const { buckets, ttls } = windows[i]!
        for (let w = 0; w < WINDOW_SPECS.length; w++) {
          if (ttls[w]! <= 0) continue
          keys.push(k.roomTopBucket(WINDOW_SPECS[w]!, category, buckets[w]!, room))
          params.push(ttls[w]!)
        }
      })
    }
  }
}
