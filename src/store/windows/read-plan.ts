import type { WindowName } from '../types.js'
import { windowSpec } from '../windows.js'
import { bucketAt, type BucketRef, bucketStart, childRange, levelOf } from './levels.js'

/**
 * The stored buckets a window answer merges at `nowMs` (design: "Reads"):
 * the 60 buckets of the window's level ending with the current one, each
 * read as itself when built (bucket <= marks[level]) and otherwise as its
 * children, recursively down to 1 s buckets (written directly). At most
 * about 60 + 24 + 4 + 3 + 5 values for the 24 h window, oldest first.
 * Children read in place of an unbuilt parent are listed even past their
 * own window's expiry (a store keeps them until the parent is built, or
 * lets them expire later: see longDeadline).
 *
 * @param marks the last built bucket of each level (BucketLife.marks(), or the store's persisted marks)
 */
export function windowPlan (window: Exclude<WindowName, 'all'>, nowMs: number, marks: readonly number[]): BucketRef[] {
  const spec = windowSpec(window)
  const top = levelOf(spec)
  const nowSecond = Math.floor(nowMs / 1000)
  const current = bucketAt(top.index, nowSecond)
  const out: BucketRef[] = []
  for (let bucket = current - spec.buckets + 1; bucket <= current; bucket++) addBucket(out, top.index, bucket, marks, nowSecond)
  return out
}

function addBucket (out: BucketRef[], level: number, bucket: number, marks: readonly number[], nowSecond: number): void {
  // The future children of the current bucket hold nothing yet.
  if (bucketStart(level, bucket) > nowSecond) return
  if (level === 0 || bucket <= (marks[level] ?? Number.NEGATIVE_INFINITY)) {
    out.push({ level, bucket })
    return
  }
  const [first, last] = childRange(level, bucket)
  for (let child = first; child <= last; child++) addBucket(out, level - 1, child, marks, nowSecond)
}
