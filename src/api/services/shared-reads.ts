/** Expired entries are dropped at most this often (a sweep walks every entry). */
const SWEEP_INTERVAL_MS = 100

/**
 * The API's read cache (API_CACHE_MS): the result of a read, keyed by what
 * was asked, is shared with every identical read started less than a ttl
 * ago, including one still in flight. A failed read is not shared: the next
 * request tries again. Entries live at most their ttl and expired ones are
 * swept as requests come, so the map holds about the distinct requests of
 * the last ttl (bounded by the rate limit).
 */
export class SharedReads {
  private readonly entries = new Map<string, { expiresAt: number, result: Promise<unknown> }>()
  private sweptAt = 0

  /** @param defaultTtlMs how long a result is shared unless `run` says otherwise; 0: never. */
  constructor (private readonly defaultTtlMs: number) {}

  /** `work()`, or the shared result of an identical `key` started less than `ttlMs` ago. */
  async run<T> (key: string, work: () => Promise<T>, ttlMs = this.defaultTtlMs): Promise<T> {
    if (ttlMs === 0) return await work()
    const now = performance.now()
    if (now - this.sweptAt >= SWEEP_INTERVAL_MS) {
      for (const [k, entry] of this.entries) if (now >= entry.expiresAt) this.entries.delete(k)
      this.sweptAt = now
    }
    const found = this.entries.get(key)
    if (found !== undefined && now < found.expiresAt) return await (found.result as Promise<T>)
    const result = work()
    this.entries.set(key, { expiresAt: now + ttlMs, result })
    result.catch(() => { if (this.entries.get(key)?.result === result) this.entries.delete(key) })
    return await result
  }
}
