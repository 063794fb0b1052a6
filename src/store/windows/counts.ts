/** Adds `by` to `key` of a count map. */
export function addCount<K> (counts: Map<K, number>, key: K, by: number): void {
  counts.set(key, (counts.get(key) ?? 0) + by)
}

/** Adds every count of `from` into `into` (zero and negative counts are skipped); forEach for the reason in model/counts.ts. */
export function addCounts<K> (into: Map<K, number>, from: ReadonlyMap<K, number>): void {
  from.forEach((by, key) => { if (by > 0) into.set(key, (into.get(key) ?? 0) + by) })
}
