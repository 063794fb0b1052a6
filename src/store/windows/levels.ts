import { bucketTtlSeconds, WINDOW_SPECS, type WindowSpec } from '../windows.js'

/**
 * The window buckets as a chain of levels, finest first (1 s, 5 s, 15 s,
 * 60 s, 1440 s): each bucket of level k is `ratio` buckets of level k-1.
 * Level 0 is written from the writer's counts; a coarser bucket is *built*
 * once from its children when they are all final (see bucket-life.ts), and
 * until then readers decompose it into its children (see read-plan.ts).
 */
export interface Level {
  index: number
  spec: WindowSpec
  /** Bucket length in seconds. */
  seconds: number
  /** Buckets of level index-1 in one bucket of this level (1 for level 0). */
  ratio: number
}

/** The levels, finest first; LEVELS[i].index === i. */
export const LEVELS: readonly Level[] = (() => {
  const specs = [...WINDOW_SPECS].sort((a, b) => a.bucketSeconds - b.bucketSeconds)
  return specs.map((spec, index) => {
    const below = specs[index - 1]
    if (below !== undefined && spec.bucketSeconds % below.bucketSeconds !== 0) {
      throw new Error(`window ${spec.name}: its buckets must be whole multiples of ${below.name}'s to be built from them`)
    }
    return { index, spec, seconds: spec.bucketSeconds, ratio: below === undefined ? 1 : spec.bucketSeconds / below.bucketSeconds }
  })
})()

/** The coarsest level (24 h). */
export const TOP_LEVEL = LEVELS.length - 1

/** One stored window bucket: (level, bucket index = epoch second / level seconds). */
export interface BucketRef {
  level: number
  bucket: number
}

/** The level of a window. */
export function levelOf (spec: WindowSpec): Level {
  const found = LEVELS.find((l) => l.spec.name === spec.name)
  if (found === undefined) throw new Error(`no level for window ${spec.name}`)
  return found
}

/** The level with this index; RangeError when there is none. */
export function level (index: number): Level {
  const found = LEVELS[index]
  if (found === undefined) throw new RangeError(`no level ${index}`)
  return found
}

/** The bucket of level `index` holding an epoch second. */
export function bucketAt (index: number, epochSecond: number): number {
  return Math.floor(epochSecond / level(index).seconds)
}

/** First epoch second of a bucket. */
export function bucketStart (index: number, bucket: number): number {
  return bucket * level(index).seconds
}

/** Last epoch second of a bucket. */
export function bucketEnd (index: number, bucket: number): number {
  return (bucket + 1) * level(index).seconds - 1
}

/** The first and last bucket of level index-1 inside `bucket` of level `index` (>= 1). */
export function childRange (index: number, bucket: number): [number, number] {
  const { ratio } = level(index)
  return [bucket * ratio, bucket * ratio + ratio - 1]
}

/**
 * Epoch second from which a bucket is no longer read by its own window (the
 * Redis expiry of its values: `EXPIREAT` this second). Readers of the coarser
 * windows read built parents, never these children, once the parents exist.
 */
export function naturalDeadline (index: number, bucket: number): number {
  return bucketStart(index, bucket) + bucketTtlSeconds(level(index).spec)
}

/** True when a bucket's window no longer reads it at `nowSecond` (its values may be dropped, and are not written). */
export function isExpired (index: number, bucket: number, nowSecond: number): boolean {
  return nowSecond >= naturalDeadline(index, bucket)
}

/**
 * Epoch second until which a bucket may be needed while its parent is not
 * built (a writer that stops for hours builds the parent when it comes back):
 * the deadline of its 24 h ancestor. A Redis writer may give unbuilt
 * children this expiry and shorten it once the parent is built.
 */
export function longDeadline (index: number, bucket: number): number {
  return naturalDeadline(TOP_LEVEL, bucketAt(TOP_LEVEL, bucketStart(index, bucket)))
}
