import type { TopEntry } from './types.js'

/**
 * Top-list order (docs/API.md#top-lists): count descending, ties by value ascending
 * in code-point order, which is the byte order of UTF-8 and the order Redis
 * gives equal scores. JS `<` compares UTF-16 units, which differs for
 * characters above U+FFFF, so compare code points.
 */
export function compareValues (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (U+D800..U+DFFF) stand for code points above U+FFFF: they sort after U+E000..U+FFFF.
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    if (xs !== ys) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

/** Top-list order of two entries (for Array.prototype.sort). */
export function compareTopEntries (a: TopEntry, b: TopEntry): number {
  return b.count - a.count || compareValues(a.value, b.value)
}

/** True when (countA, valueA) comes strictly before (countB, valueB) in top-list order. */
export function ranksBefore (countA: number, valueA: string, countB: number, valueB: string): boolean {
  return countA > countB || (countA === countB && compareValues(valueA, valueB) < 0)
}

/**
 * The first `k` members of `counts` in top-list order (count desc, value asc),
 * by one pass with a bounded heap: O(n log k), no sort of the whole map.
 */
export function selectTop (counts: ReadonlyMap<string, number>, k: number): TopEntry[] {
  if (k <= 0) return []
  if (counts.size <= k) {
    const all: TopEntry[] = []
    counts.forEach((count, value) => { all.push({ value, count }) })
    return all.sort(compareTopEntries)
  }
  // Heap whose root is the entry that ranks last among those kept.
  const heap: TopEntry[] = []
  const after = (a: TopEntry, b: TopEntry): boolean => ranksBefore(b.count, b.value, a.count, a.value)
  // forEach, not for-of: no [value, count] array per member (model/counts.ts).
  counts.forEach((count, value) => {
    if (heap.length < k) {
      let i = heap.length
      const entry = { value, count }
      heap.push(entry)
      while (i > 0) {
        const parent = (i - 1) >> 1
        const p = heap[parent] as TopEntry
        if (!after(entry, p)) break
        heap[i] = p
        i = parent
      }
      heap[i] = entry
      return
    }
    const root = heap[0] as TopEntry
    // Most members lose on the count alone: keep that test cheap.
    if (count < root.count || !ranksBefore(count, value, root.count, root.value)) return
    const entry = { value, count }
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= k) break
      const right = left + 1
      let child = left
      if (right < k && after(heap[right] as TopEntry, heap[left] as TopEntry)) child = right
      const c = heap[child] as TopEntry
      if (!after(c, entry)) break
      heap[i] = c
      i = child
    }
    heap[i] = entry
  })
  return heap.sort(compareTopEntries)
}
