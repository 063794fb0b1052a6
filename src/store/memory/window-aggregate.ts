import type { Counts, TopEntry } from '../types.js'
import { TopCache } from './top-cache.js'

/**
 * The sum of a sliding run of `width` time buckets of one statistic, kept
 * up to date as buckets are written and as the window slides, so a windowed
 * top list never re-merges 60 bucket maps: sliding subtracts the bucket that
 * leaves and adds any (future) bucket that enters.
 */
export class WindowAggregate {
  readonly counts = new Map<string, number>()
  private readonly cache = new TopCache(this.counts)
  private from = 0
  private to = -1

  /**
   * @param width buckets in the window (60)
   * @param bucketCounts the counts of one stored bucket, undefined when it holds none
   */
  constructor (private readonly width: number, private readonly bucketCounts: (bucket: number) => Counts | undefined) {}

  /** Whether writes to this bucket belong to the sum right now. */
  covers (bucket: number): boolean {
    return bucket >= this.from && bucket <= this.to
  }

  /** A write to a covered bucket. */
  add (value: string, by: number): void {
    const old = this.counts.get(value) ?? 0
    this.counts.set(value, old + by)
    this.cache.increased(value, old, old + by)
  }

  /** Makes the sum cover the `width` buckets ending with `current`. */
  slideTo (current: number): void {
    if (current === this.to) return
    const from = current - this.width + 1
    if (current < this.to || from > this.to) {
      // Backwards (a clock set back) or past the whole window: start over.
      this.cache.invalidate()
      this.counts.clear()
      for (let b = from; b <= current; b++) this.addBucket(b)
    } else {
      for (let b = this.from; b < from; b++) this.subtractBucket(b)
      for (let b = this.to + 1; b <= current; b++) this.addBucket(b)
    }
    this.from = from
    this.to = current
  }

  top (limit: number, exclude?: (value: string) => boolean): TopEntry[] {
    return this.cache.read(limit, exclude)
  }

  private addBucket (bucket: number): void {
    const counts = this.bucketCounts(bucket)
    if (counts === undefined) return
    for (const [value, by] of counts) this.add(value, by)
  }

  private subtractBucket (bucket: number): void {
    const counts = this.bucketCounts(bucket)
    if (counts === undefined) return
    for (const [value, by] of counts) {
      const old = this.counts.get(value) ?? 0
      const count = old - by
      if (count > 0) this.counts.set(value, count)
      else this.counts.delete(value)
      this.cache.decreased(value, old, Math.max(0, count))
    }
  }
}
