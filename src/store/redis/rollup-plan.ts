import type { CountSlice } from '../types.js'
import type { EncodedBatch, EncodeOptions } from './batch-encoding.js'
import type { RedisKeys } from './keys.js'
import { bucketAt, childRange, lastClosed, level, LEVELS, longDeadline, naturalDeadline, TOP_LEVEL } from './levels.js'
import { BatchEncoder } from './sections-writer.js'

/**
 * The window roll-ups a write plans (levels.ts): which pending coarser
 * buckets each flush indexes, and which closed ones it rolls up from their
 * children, with the writer's knowledge of both between flushes.
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

/** What the roll-up state becomes when the script answers 1 (applied, roll-ups complete). */
export interface RollupChange {
  marks: number[] | null
  last: number | null
  added: Array<{ level: number, bucket: number, rooms: string[] }>
  rolled: Array<{ level: number, bucket: number }>
}

/** The index member that stands for the stream-wide counts (no room is named ''). */
export const STREAM_WIDE = ''

/**
 * Records, per pending bucket of each coarser level, what this batch writes
 * that the writer did not know of yet (its rooms, and STREAM_WIDE for the
 * stream-wide lists): the roll-up must find them even after a restart.
 * Returns what was added.
 */
export function encodeIndex (encoder: BatchEncoder, k: RedisKeys, slices: CountSlice[], marks: number[] | null, state: RollupState, nowSecond: number): RollupChange['added'] {
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
export function encodeRollups (encoder: BatchEncoder, options: EncodeOptions, state: RollupState, marks: number[] | null, added: RollupChange['added'], lastSecond: number, nowSecond: number, verifyEmpty = false): RollupChange {
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
  if (encoder.isEmpty) return null
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

