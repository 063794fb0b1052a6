import type { TopEntry } from '../types.js'
import { TopCache } from './top-cache.js'

const NEEDS_KEY = /[\uD800-\uFFFF]/

/**
 * A string whose UTF-16 order (JS `<`) is the code-point order of `value`:
 * surrogates move above U+E000..U+FFFF. Most values need no change.
 */
export function codePointKey (value: string): string {
  if (!NEEDS_KEY.test(value)) return value
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i)
    out += String.fromCharCode(unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit)
  }
  return out
}

export interface KeyedEntry extends TopEntry {
  key: string
}

/** Ascending order of a Redis sorted set: count asc, then value asc in byte (code-point) order. */
function keyedAscending (a: KeyedEntry, b: KeyedEntry): number {
  return a.count - b.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
}

/** Rearranges `keys` so its first `k` are the `k` lowest (in any order); Hoare quickselect. */
function selectLowestKeys (keys: string[], k: number): void {
  let lo = 0
  let hi = keys.length - 1
  while (hi > lo) {
    const pivot = keys[lo + Math.floor(Math.random() * (hi - lo + 1))] as string
    let i = lo
    let j = hi
    while (i <= j) {
      while ((keys[i] as string) < pivot) i++
      while ((keys[j] as string) > pivot) j--
      if (i <= j) {
        const t = keys[i] as string
        keys[i] = keys[j] as string
        keys[j] = t
        i++
        j--
      }
    }
    if (k - 1 <= j) hi = j
    else if (k - 1 >= i) lo = i
    else return
  }
}

/** Counts at or above this share one histogram slot. */
const HISTOGRAM_SLOTS = 4096

/**
 * The `k` lowest members, in no particular order. A histogram of counts
 * finds the count at which the cut falls; members below it are all taken and
 * only the members with exactly that count are told apart by value (a
 * quickselect with native string comparison on code-point keys), so a
 * million members that mostly share a count cost two passes and no sort.
 */
function lowestUnordered (counts: ReadonlyMap<string, number>, k: number): KeyedEntry[] {
  const out: KeyedEntry[] = []
  if (k <= 0) return out
  if (counts.size <= k) {
    counts.forEach((count, value) => { out.push({ value, count, key: codePointKey(value) }) })
    return out
  }
  const histogram = new Float64Array(HISTOGRAM_SLOTS + 1)
  // forEach: notably faster than for..of over a big Map's entries.
  counts.forEach((count) => {
    const slot = count < HISTOGRAM_SLOTS ? count : HISTOGRAM_SLOTS
    histogram[slot] = (histogram[slot] as number) + 1
  })
  let cut = 1
  let below = 0
  for (; cut < HISTOGRAM_SLOTS; cut++) {
    const atCut = histogram[cut] as number
    if (below + atCut >= k) break
    below += atCut
  }
  if (cut === HISTOGRAM_SLOTS) {
    // The cut lies among counts the histogram does not tell apart: order all of them.
    counts.forEach((count, value) => { out.push({ value, count, key: codePointKey(value) }) })
    return out.sort(keyedAscending).slice(0, k)
  }
  // The members at the cut, as keys; a value differs from its key only when it holds U+D800..U+FFFF.
  const tied: string[] = []
  const valueOfKey = new Map<string, string>()
  counts.forEach((count, value) => {
    if (count < cut) {
      out.push({ value, count, key: codePointKey(value) })
    } else if (count === cut) {
      const key = codePointKey(value)
      if (key !== value) valueOfKey.set(key, value)
      tied.push(key)
    }
  })
  const needed = k - out.length
  if (needed < tied.length) selectLowestKeys(tied, needed)
  for (let i = 0; i < needed; i++) {
    const key = tied[i] as string
    out.push({ value: valueOfKey.get(key) ?? key, count: cut, key })
  }
  return out
}

/** The `k` lowest members in ascending order (Redis's ZRANGE 0 k-1). */
export function selectLowest (counts: ReadonlyMap<string, number>, k: number): TopEntry[] {
  return lowestUnordered(counts, k).sort(keyedAscending).map(({ value, count }) => ({ value, count }))
}

function siftDown (heap: KeyedEntry[], start: number, entry: KeyedEntry): void {
  const n = heap.length
  let i = start
  for (;;) {
    const left = 2 * i + 1
    if (left >= n) break
    const right = left + 1
    let child = left
    if (right < n && keyedAscending(heap[right] as KeyedEntry, heap[left] as KeyedEntry) < 0) child = right
    const c = heap[child] as KeyedEntry
    if (keyedAscending(c, entry) >= 0) break
    heap[i] = c
    i = child
  }
  heap[i] = entry
}

/** Pushes onto a min-heap in ascending order. */
function heapPush (heap: KeyedEntry[], entry: KeyedEntry): void {
  let i = heap.length
  heap.push(entry)
  while (i > 0) {
    const parent = (i - 1) >> 1
    const p = heap[parent] as KeyedEntry
    if (keyedAscending(p, entry) <= 0) break
    heap[i] = p
    i = parent
  }
  heap[i] = entry
}

/** Pops the lowest entry of a min-heap in ascending order. */
function heapPop (heap: KeyedEntry[]): KeyedEntry | undefined {
  const top = heap[0]
  const last = heap.pop()
  if (top !== undefined && last !== undefined && heap.length > 0) siftDown(heap, 0, last)
  return top
}

function heapify (entries: KeyedEntry[]): KeyedEntry[] {
  for (let i = (entries.length >> 1) - 1; i >= 0; i--) siftDown(entries, i, entries[i] as KeyedEntry)
  return entries
}

/**
 * An all-time top list: counts that only grow, at most `max` members after
 * each trim, with an exact top cache for reads.
 *
 * Trimming removes exactly what `ZREMRANGEBYRANK key 0 (card-max-1)` removes.
 * To avoid a pass over a million members on every batch, a full pass keeps
 * the lowest members it finds in a min-heap (the pool) and remembers the
 * highest of them (the threshold). Counts only grow, so a member outside the
 * pool stays above the threshold unless it is new; new members at or below
 * the threshold join the pool. Trims pop the pool as recorded; an entry whose
 * count grew since is pushed back with its new count (or dropped once above
 * the threshold). As counts never fall, a popped entry whose recorded count
 * is still current is the true lowest member, so a trim costs about what it
 * removes, and a full pass happens only when the pool runs dry.
 */
export class BoundedCounts {
  readonly counts = new Map<string, number>()
  private cache: TopCache | null = null
  /** Min-heap of the lowest members as recorded; null until the first trim. */
  private pool: KeyedEntry[] | null = null
  /** Highest member of the last full pass; null when it took every member. */
  private threshold: KeyedEntry | null = null

  get size (): number {
    return this.counts.size
  }

  /**
   * Adds `by` (> 0) to a member. With `floor` (lowestIfFull, read before the
   * batch's first add), a member the list does not hold whose `by` ranks
   * below it is left out: the batch's trimTo would remove it.
   */
  add (value: string, by: number, floor: KeyedEntry | null = null): void {
    const held = this.counts.get(value)
    if (held === undefined && floor !== null && (by < floor.count || (by === floor.count && codePointKey(value) < floor.key))) return
    const old = held ?? 0
    const count = old + by
    this.counts.set(value, count)
    this.cache?.increased(value, old, count)
    if (old === 0 && this.pool !== null) this.offerToPool(value, count, codePointKey(value))
  }

  /**
   * When the list holds `max` members or more: a member that ranks at or
   * below its lowest (the pool's least entry as recorded: counts only grow,
   * so it ranks at or below every member held), else null. Read before a
   * batch's adds, it tells which new members that batch's trimTo(max) would
   * remove at once (add's `floor`), as the Redis script's full-list skip
   * does: scores only grow, so such a member ranks below every member
   * already held, and the trim removes at least as many members as the
   * batch adds.
   */
  lowestIfFull (max: number): KeyedEntry | null {
    if (this.counts.size < max || this.pool === null) return null
    return this.pool[0] ?? null
  }

  /** The first `limit` members not excluded, in top-list order. */
  top (limit: number, exclude?: (value: string) => boolean): TopEntry[] {
    this.cache ??= new TopCache(this.counts)
    return this.cache.read(limit, exclude)
  }

  /** Removes the lowest members until at most `max` remain; returns how many were removed. */
  trimTo (max: number): number {
    const excess = this.counts.size - max
    if (excess <= 0) return 0
    let removed = 0
    const pool = this.pool
    while (pool !== null && removed < excess) {
      const next = heapPop(pool)
      if (next === undefined) break
      const count = this.counts.get(next.value)
      if (count === undefined) continue
      if (count !== next.count) {
        this.offerToPool(next.value, count, next.key)
        continue
      }
      this.remove(next)
      removed++
    }
    if (removed < excess) {
      const left = excess - removed
      const size = this.counts.size
      const slack = Math.min(Math.max(1024, left * 8, Math.floor(size / 32)), size - left)
      const lowest = lowestUnordered(this.counts, left + slack)
      let highest: KeyedEntry | null = null
      for (const entry of lowest) if (highest === null || keyedAscending(entry, highest) > 0) highest = entry
      this.threshold = left + slack >= size ? null : highest
      this.pool = heapify(lowest)
      for (let i = 0; i < left; i++) this.remove(heapPop(this.pool) as KeyedEntry)
      removed += left
    }
    return removed
  }

  private offerToPool (value: string, count: number, key: string): void {
    const entry = { value, count, key }
    if (this.threshold === null || keyedAscending(entry, this.threshold) <= 0) heapPush(this.pool ?? [], entry)
  }

  private remove (entry: TopEntry): void {
    this.counts.delete(entry.value)
    this.cache?.decreased(entry.value, entry.count, 0)
  }
}
