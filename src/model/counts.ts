/**
 * Count maps (a word, a nick, a room... to how many times it was seen): the
 * one place that adds counts together. Pure: no I/O.
 */

/** Adds `by` (default 1) to the count of `key`. */
export function incrementCount<K> (counts: Map<K, number>, key: K, by = 1): void {
  const n = counts.get(key)
  counts.set(key, n === undefined ? by : n + by)
}

/**
 * Adds every count of `from` into `into`; `from` is left as it was. With
 * forEach, not for-of: for-of's [key, value] pairs are an array each,
 * garbage the young generation collects (BENCHMARKS.md, "Earlier: the flush path
 * allocates less").
 */
export function addCounts<K> (into: Map<K, number>, from: ReadonlyMap<K, number>): void {
  from.forEach((n, key) => { incrementCount(into, key, n) })
}
