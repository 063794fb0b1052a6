import type { Batch, CountSlice, Counts, RoomSlice } from '../types.js'
import { MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS } from '../windows.js'
import { type RedisKeys, ROOM_EVENT_FIELD_PREFIX, ROOM_MESSAGES_FIELD } from './keys.js'
import { bucketAt, childRange, lastClosed, level, LEVELS, longDeadline, naturalDeadline, TOP_LEVEL } from './levels.js'

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

/**
 * What the writer knows of the roll-ups (RedisStore keeps it between
 * flushes and reloads it from Redis when in doubt; the script checks it).
 */
export interface RollupState {
  /** marks[k], levels 1..TOP_LEVEL (index 0 unused): the last final bucket; null when the namespace has none yet. */
  marks: number[] | null
  /** The latest epoch second written, or null. */
  last: number | null
  /** rooms[k]: pending bucket of level k -> rooms with counts in it (index 0 unused). */
  rooms: Array<Map<number, Set<string>>>
}

export function emptyRollupState (): RollupState {
  return { marks: null, last: null, rooms: LEVELS.map(() => new Map()) }
}

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

/** What the roll-up state becomes when the script answers 1 (applied, roll-ups complete). */
export interface RollupChange {
  marks: number[] | null
  last: number | null
  added: Array<{ level: number, bucket: number, rooms: string[] }>
  rolled: Array<{ level: number, bucket: number }>
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

/**
 * Everything after the header travels as ONE argument, a sequence of
 * fields each ended by 0xFF (a byte that never occurs in UTF-8, so no
 * member can contain it): one argument instead of two per pair spares the
 * Redis client and Redis the per-argument work; the script reads it once.
 */
export const FIELD_END = 0xff

/** A growing byte buffer of 0xFF-ended fields. */
class FieldWriter {
  private buffer = Buffer.allocUnsafe(1 << 20)
  private offset = 0

  get length (): number {
    return this.offset
  }

  text (value: string): void {
    // A UTF-16 unit takes at most 3 bytes of UTF-8.
    this.reserve(3 * value.length + 1)
    this.offset += this.buffer.write(value, this.offset, 'utf8')
    this.buffer[this.offset++] = FIELD_END
  }

  number (value: number): void {
    this.reserve(24)
    this.offset += this.buffer.write(String(value), this.offset, 'latin1')
    this.buffer[this.offset++] = FIELD_END
  }

  /** Forgets what was written after `length`. */
  truncate (length: number): void {
    this.offset = length
  }

  toBuffer (): Buffer {
    return this.buffer.subarray(0, this.offset)
  }

  private reserve (bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.offset + bytes))
    this.buffer.copy(grown, 0, 0, this.offset)
    this.buffer = grown
  }
}

type Op = 'z' | 'h'
type TargetsAt = (slice: number, keys: string[], params: number[]) => void

class BatchEncoder {
  readonly keys: string[]
  private readonly header: string[]
  private readonly fields = new FieldWriter()

  constructor (fixedKeys: string[], header: string[]) {
    this.keys = fixedKeys
    this.header = header
  }

  /** True when no section was written. */
  get isEmpty (): boolean {
    return this.fields.length === 0
  }

  /** ARGV: the header, then the sections as one argument. */
  args (): Array<string | Buffer> {
    return [...this.header, this.fields.toBuffer()]
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
    let pairs = 0
    for (const [member, n] of counts) {
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`count of ${label} ${JSON.stringify(member)} must be a non-negative integer, got ${n}`)
      if (n !== 0 || keepZero) pairs++
    }
    if (pairs === 0) return
    const fields = this.fields
    fields.text(op)
    fields.number(keys.length)
    for (let j = 0; j < keys.length; j++) fields.number(params[j]!)
    fields.number(pairs)
    for (const [member, n] of counts) {
      if (n === 0 && !keepZero) continue
      fields.text(member)
      fields.number(n)
    }
    for (const key of keys) this.keys.push(key)
  }

  /** SADD `members` to the set `key`, EXPIRE ttl. */
  index (key: string, members: string[], ttl: number): void {
    if (members.length === 0) return
    const fields = this.fields
    fields.text('s')
    fields.number(members.length)
    fields.number(ttl)
    for (const member of members) fields.text(member)
    this.keys.push(key)
  }

  /**
   * Rolls up one bucket: each target := ZUNIONSTORE of its children; the
   * targets live `targetTtl` s, child j lives firstChildTtl + j*childStep s
   * (deleted when <= 0). With `expectedRooms` >= 0, the roll-up (and every
   * later one) is skipped unless the index set `indexKey` has that many rooms.
   */
  rollup (indexKey: string, expectedRooms: number, targets: Array<{ target: string, children: string[] }>, targetTtl: number, firstChildTtl: number, childStep: number): void {
    const childCount = targets[0]?.children.length ?? 0
    const fields = this.fields
    fields.text('r')
    for (const n of [targets.length, childCount, targetTtl, firstChildTtl, childStep, expectedRooms]) fields.number(n)
    this.keys.push(indexKey)
    for (const { target, children } of targets) {
      if (children.length !== childCount) throw new Error('every target of a roll-up has the same number of children')
      this.keys.push(target)
      for (const child of children) this.keys.push(child)
    }
  }

  /** Records level `index`'s new mark (skipped when an earlier roll-up was). */
  mark (index: number, bucket: number): void {
    this.fields.text('m')
    this.fields.number(index)
    this.fields.number(bucket)
  }

  /** Records the latest second written. */
  last (second: number): void {
    this.fields.text('l')
    this.fields.number(second)
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

/** The index member that stands for the stream-wide counts (no room is named ''). */
export const STREAM_WIDE = ''

/**
 * Records, per pending bucket of each coarser level, what this batch writes
 * that the writer did not know of yet (its rooms, and STREAM_WIDE for the
 * stream-wide lists): the roll-up must find them even after a restart.
 * Returns what was added.
 */
function encodeIndex (encoder: BatchEncoder, k: RedisKeys, slices: CountSlice[], marks: number[] | null, state: RollupState, nowSecond: number): RollupChange['added'] {
  const added: RollupChange['added'] = []
  if (marks === null) return added
  for (let l = 1; l <= TOP_LEVEL; l++) {
    const byBucket = new Map<number, Set<string>>()
    const note = (bucket: number, member: string): void => {
      if (state.rooms[l]!.get(bucket)?.has(member) === true) return
      let fresh = byBucket.get(bucket)
      if (fresh === undefined) {
        fresh = new Set()
        byBucket.set(bucket, fresh)
      }
      fresh.add(member)
    }
    for (const slice of slices) {
      const bucket = bucketAt(l, slice.second)
      if (bucket <= marks[l]!) continue
      if (slice.words.size > 0 || slice.nicks.size > 0 || slice.rooms.size > 0 || slice.emotes.size > 0) note(bucket, STREAM_WIDE)
      for (const room of slice.roomDetail.keys()) note(bucket, room)
    }
    for (const [bucket, members] of byBucket) {
      const ttl = longDeadline(l, bucket) - nowSecond
      if (ttl <= 0) continue
      const list = [...members]
      encoder.index(k.rollupRooms(level(l).spec, bucket), list, ttl)
      added.push({ level: l, bucket, rooms: list })
    }
  }
  return added
}

/**
 * Rolls up every coarser bucket that has closed since its level's mark (at
 * most maxRollupsPerLevel with counts per flush), finest level first, and
 * moves the marks. Buckets the state knows no counts of become final
 * without work: the state knows every pending bucket up to the last second
 * written, and nothing can be later.
 */
function encodeRollups (encoder: BatchEncoder, options: EncodeOptions, state: RollupState, marks: number[] | null, added: RollupChange['added'], lastSecond: number, nowSecond: number, verifyEmpty = false): RollupChange {
  const k = options.keys
  const last = Math.max(state.last ?? Number.NEGATIVE_INFINITY, lastSecond)
  const change: RollupChange = { marks, last: Number.isFinite(last) ? last : null, added, rolled: [] }
  if (marks === null) return change
  if (change.last !== null && change.last !== state.last) encoder.last(change.last)
  const next = [...marks]
  const limit = options.maxRollupsPerLevel ?? 16
  for (let l = 1; l <= TOP_LEVEL; l++) {
    const { spec, ratio } = level(l)
    const child = level(l - 1)
    // A bucket can be final once it has ended and its children are final.
    const childrenFinalUpTo = l === 1 ? Number.POSITIVE_INFINITY : Math.floor((next[l - 1]! + 1) / ratio) - 1
    const closedUpTo = Math.min(lastClosed(l, nowSecond), childrenFinalUpTo)
    let rolled = 0
    let mark = next[l]!
    let marked = state.marks === null ? Number.NaN : mark
    while (mark < closedUpTo) {
      const bucket = mark + 1
      const members = new Set(state.rooms[l]!.get(bucket))
      for (const a of added) if (a.level === l && a.bucket === bucket) for (const room of a.rooms) members.add(room)
      if (members.size === 0) {
        // A reader catching up makes sure the worker did not write there meanwhile.
        if (verifyEmpty && change.last !== null && bucket <= bucketAt(l, change.last)) encoder.rollup(k.rollupRooms(spec, bucket), 0, [], 0, 0, 0)
        mark = bucket
        continue
      }
      if (rolled === limit) break
      const [firstChild, lastChild] = childRange(l, bucket)
      const childBuckets: number[] = []
      for (let c = firstChild; c <= lastChild; c++) childBuckets.push(c)
      const targets: Array<{ target: string, children: string[] }> = []
      for (const member of members) {
        if (member === STREAM_WIDE) {
          for (const category of ['words', 'nicks', 'rooms', 'emotes'] as const) {
            targets.push({ target: k.windowBucket(spec, category, bucket), children: childBuckets.map((c) => k.windowBucket(child.spec, category, c)) })
          }
          continue
        }
        targets.push({ target: k.roomWindowBucket(spec, bucket, member), children: childBuckets.map((c) => k.roomWindowBucket(child.spec, c, member)) })
        for (const category of ['words', 'nicks', 'emotes'] as const) {
          targets.push({ target: k.roomTopBucket(spec, category, bucket, member), children: childBuckets.map((c) => k.roomTopBucket(child.spec, category, c, member)) })
        }
      }
      const targetTtl = (l === TOP_LEVEL ? naturalDeadline(l, bucket) : longDeadline(l, bucket)) - nowSecond
      const firstChildTtl = naturalDeadline(l - 1, firstChild) - nowSecond
      encoder.rollup(k.rollupRooms(spec, bucket), members.size, targets, targetTtl, firstChildTtl, child.seconds)
      encoder.mark(l, bucket)
      change.rolled.push({ level: l, bucket })
      mark = marked = bucket
      rolled++
    }
    // (A namespace's first marks are written even when nothing was rolled up: marked is NaN then.)
    if (mark !== marked) encoder.mark(l, mark)
    next[l] = mark
  }
  change.marks = next
  return change
}

/**
 * KEYS and ARGV of lua/rollup.lua: the roll-ups due at `nowMs` with no
 * batch, for a reader that finds the writer stopped with buckets pending.
 * Null when there is nothing to do.
 */
export function encodeRollupOnly (options: Omit<EncodeOptions, 'maxTrackedWords' | 'maxTrackedPerRoom' | 'maxFailedLog' | 'leaseToken'> & { rollup: RollupState }): EncodedBatch | null {
  const { rollup: state, keys: k } = options
  if (state.marks === null) return null
  const encoder = new BatchEncoder([k.rollup], [String(TOP_LEVEL), state.marks.slice(1).join(','), state.last === null ? '' : String(state.last)])
  const change = encodeRollups(encoder, { ...options, maxTrackedWords: 1, maxTrackedPerRoom: 1, maxFailedLog: 1, leaseToken: '' }, state, state.marks, [], Number.NEGATIVE_INFINITY, Math.floor(options.nowMs / 1000), true)
  if (encoder.args.length === 3) return null
  return { keys: encoder.keys, args: encoder.args(), rollup: change }
}

/** The state after the script answered 1 for `change`. */
export function applyRollupChange (state: RollupState, change: RollupChange): void {
  state.marks = change.marks
  state.last = change.last
  for (const { level: l, bucket, rooms } of change.added) {
    let set = state.rooms[l]!.get(bucket)
    if (set === undefined) {
      set = new Set()
      state.rooms[l]!.set(bucket, set)
    }
    for (const room of rooms) set.add(room)
  }
  if (change.marks === null) return
  for (let l = 1; l <= TOP_LEVEL; l++) {
    for (const bucket of state.rooms[l]!.keys()) if (bucket <= change.marks[l]!) state.rooms[l]!.delete(bucket)
  }
}
