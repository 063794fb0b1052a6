/** Adds `by` to `key` of a count map. */
export function addCount<K> (counts: Map<K, number>, key: K, by: number): void {
  counts.set(key, (counts.get(key) ?? 0) + by)
}

/** Adds every count of `from` into `into` (zero and negative counts are skipped); forEach for the reason in model/counts.ts. */
export function addCounts<K> (into: Map<K, number>, from: ReadonlyMap<K, number>): void {
  from.forEach((by, key) => { if (by > 0) into.set(key, (into.get(key) ?? 0) + by) })
}

/** One map (itself, no copy), or the sum of several (one per slice of a batch) in the order their members are first seen. */
export function sumCounts<K> (parts: ReadonlyArray<ReadonlyMap<K, number>>): ReadonlyMap<K, number> {
  if (parts.length === 1) return parts[0]!
  const sum = new Map(parts[0])
  for (let p = 1; p < parts.length; p++) addCounts(sum, parts[p]!)
  return sum
}
