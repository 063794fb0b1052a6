import { ranksBefore, selectTop } from '../top-order.js'
import type { TopEntry } from '../types.js'

export { ranksBefore, selectTop } from '../top-order.js'

/** Initial number of leading entries a cache keeps; it grows when `exclude` needs more. */
export const INITIAL_TOP_CAPACITY = 256

/**
 * The leading entries of a count map in top-list order, kept exact as the map
 * changes, so a top-N read costs O(N) instead of a pass over a map that may
 * hold a million members.
 *
 * Invariant while valid: `entries` are the first `entries.length` members in
 * order; when `complete` they are all members, otherwise every other member
 * ranks after the last entry. Increments keep that cheaply (a member outside
 * can only enter by beating the last entry); a decrement that pushes an entry
 * out of reach just drops it. The owner reports every change of the map.
 */
export class TopCache {
  private entries: TopEntry[] = []
  private complete = false
  private valid = false
  private capacity: number

  constructor (private readonly counts: ReadonlyMap<string, number>, initialCapacity = INITIAL_TOP_CAPACITY) {
    this.capacity = Math.max(1, initialCapacity)
  }

  /** Forget the entries; the next read recomputes them. */
  invalidate (): void {
    this.valid = false
    this.entries = []
    this.complete = false
  }

  /** A member's count went from `oldCount` (0: new member) up to `newCount`. */
  increased (value: string, oldCount: number, newCount: number): void {
    if (!this.valid) return
    if (oldCount > 0 && this.holds(oldCount, value)) {
      const i = this.indexOf(oldCount, value)
      if (i < 0) return this.invalidate()
      const entry = this.entries[i] as TopEntry
      entry.count = newCount
      let j = i
      while (j > 0) {
        const previous = this.entries[j - 1] as TopEntry
        if (!ranksBefore(newCount, value, previous.count, previous.value)) break
        this.entries[j] = previous
        j--
      }
      this.entries[j] = entry
      return
    }
    this.offer(value, newCount)
  }

  /** A member's count went from `oldCount` down to `newCount` (0: the member is gone). */
  decreased (value: string, oldCount: number, newCount: number): void {
    if (!this.valid || !this.holds(oldCount, value)) return
    const i = this.indexOf(oldCount, value)
    if (i < 0) return this.invalidate()
    this.entries.splice(i, 1)
    if (newCount > 0) this.offer(value, newCount)
    if (!this.complete && this.entries.length === 0) this.invalidate()
  }

  /** The first `limit` members for which `exclude` is not true, in top-list order (copies). */
  read (limit: number, exclude?: (value: string) => boolean): TopEntry[] {
    for (;;) {
      if (!this.valid) this.rebuild()
      const out: TopEntry[] = []
      for (const entry of this.entries) {
        if (exclude?.(entry.value) === true) continue
        out.push({ value: entry.value, count: entry.count })
        if (out.length === limit) return out
      }
      if (this.complete) return out
      // Too few kept to answer: keep more from now on (excluded values crowd the head of word lists).
      if (this.entries.length >= this.capacity || exclude !== undefined) this.capacity *= 4
      this.invalidate()
    }
  }

  /** Entries kept right now (for tests and sizing). */
  get size (): number {
    return this.entries.length
  }

  private rebuild (): void {
    this.entries = selectTop(this.counts, this.capacity)
    this.complete = this.counts.size <= this.capacity
    this.valid = true
  }

  /** Whether the member with this rank is among the entries. */
  private holds (count: number, value: string): boolean {
    if (this.complete) return true
    const last = this.entries[this.entries.length - 1]
    return last !== undefined && !ranksBefore(last.count, last.value, count, value)
  }

  /** Offers a member that is not among the entries. */
  private offer (value: string, count: number): void {
    if (!this.complete) {
      const last = this.entries[this.entries.length - 1]
      if (last === undefined) return this.invalidate()
      if (!ranksBefore(count, value, last.count, last.value)) return
    }
    this.entries.splice(this.insertionPoint(count, value), 0, { value, count })
    if (this.entries.length > this.capacity) {
      this.entries.pop()
      this.complete = false
    }
  }

  /** First index whose entry ranks after (count, value). */
  private insertionPoint (count: number, value: string): number {
    let lo = 0
    let hi = this.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const e = this.entries[mid] as TopEntry
      if (ranksBefore(e.count, e.value, count, value) || (e.count === count && e.value === value)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private indexOf (count: number, value: string): number {
    const i = this.insertionPoint(count, value) - 1
    const e = this.entries[i]
    return e !== undefined && e.value === value && e.count === count ? i : -1
  }
}
