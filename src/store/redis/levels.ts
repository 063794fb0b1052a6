import { bucketTtlSeconds, WINDOW_SPECS, type WindowSpec } from '../windows.js'

/**
 * The window buckets as a chain of levels, finest first (1 s, 5 s, 15 s,
 * 60 s, 1440 s): each bucket of level k is the sum of `ratio` buckets of
 * level k-1. The Redis store writes only level 0 per flush and builds each
 * coarser bucket once, when it closes, by ZUNIONSTORE of its children (a
 * "roll-up"): one sorted-set update per member instead of five.
 *
 * A level's buckets up to its mark are final (rolled up, or written
 * directly when late data arrives for them); later ones exist only as their
 * children, so reads decompose them (see windowKeys in redis-store.ts).
 */
export interface Level {
  index: number
  spec: WindowSpec
  /** Bucket length in seconds. */
  seconds: number
  /** Buckets of level index-1 in one bucket of this level (1 for level 0). */
  ratio: number
}

export const LEVELS: readonly Level[] = (() => {
  const specs = [...WINDOW_SPECS].sort((a, b) => a.bucketSeconds - b.bucketSeconds)
  return specs.map((spec, index) => {
    const below = specs[index - 1]
    if (below !== undefined && spec.bucketSeconds % below.bucketSeconds !== 0) {
      throw new Error(`window ${spec.name}: its buckets must be whole multiples of ${below.name}'s to be rolled up from them`)
    }
    return { index, spec, seconds: spec.bucketSeconds, ratio: below === undefined ? 1 : spec.bucketSeconds / below.bucketSeconds }
  })
})()

/** The coarsest level (24 h). */
export const TOP_LEVEL = LEVELS.length - 1

export function levelOf (spec: WindowSpec): Level {
  const level = LEVELS.find((l) => l.spec.name === spec.name)
  if (level === undefined) throw new Error(`no level for window ${spec.name}`)
  return level
}

export function level (index: number): Level {
  const found = LEVELS[index]
  if (found === undefined) throw new RangeError(`no level ${index}`)
  return found
}

/** The bucket of `level` holding an epoch second. */
export function bucketAt (index: number, epochSecond: number): number {
  return Math.floor(epochSecond / level(index).seconds)
}

/** Epoch second until which a bucket is read by its own window. */
export function naturalDeadline (index: number, bucket: number): number {
  const { seconds, spec } = level(index)
  return bucket * seconds + bucketTtlSeconds(spec)
}

/**
 * Epoch second until which a bucket may be needed while it is not rolled
 * up: every coarser window may have to read it, up to the 24 h one.
 */
export function longDeadline (index: number, bucket: number): number {
  return naturalDeadline(TOP_LEVEL, bucketAt(TOP_LEVEL, bucket * level(index).seconds))
}

/** The first and last bucket of level index-1 inside `bucket` of level `index` (>= 1). */
export function childRange (index: number, bucket: number): [number, number] {
  const { ratio } = level(index)
  return [bucket * ratio, bucket * ratio + ratio - 1]
}

/** The last bucket of a level that has ended at `epochSecond`. */
export function lastClosed (index: number, epochSecond: number): number {
  return bucketAt(index, epochSecond) - 1
}
