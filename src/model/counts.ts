/**
 * Count maps (a word, a nick, a room... to how many times it was seen). Pure:
 * no I/O.
 *
 * Code that walks a count map on a hot path uses forEach, not for-of:
 * for-of's [key, value] pairs are an array each, garbage the young
 * generation collects (BENCHMARKS.md, "Earlier: the flush path allocates
 * less").
 */

/** Adds `by` (default 1) to the count of `key`. */
export function incrementCount<K> (counts: Map<K, number>, key: K, by = 1): void {
  const n = counts.get(key)
  counts.set(key, n === undefined ? by : n + by)
}
