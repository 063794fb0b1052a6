/** Called before a request starts a store read of its own (the rate limiter's check); throws to refuse it. */
export type Admit = () => Promise<void>

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

  /**
   * `work()`, or the shared result of an identical `key` started less than
   * `ttlMs` ago. `admit` is awaited before this call starts a read of its
   * own (never when it shares one): a rejection there (e.g. the rate
   * limiter's 429) ends the call and starts nothing.
   */
  async run<T> (key: string, work: () => Promise<T>, ttlMs = this.defaultTtlMs, admit?: Admit): Promise<T> {
    if (ttlMs === 0) {
      if (admit !== undefined) await admit()
      return await work()
    }
    const shared = this.shared<T>(key)
    if (shared !== undefined) return await shared
    if (admit !== undefined) {
      await admit()
      // An identical read may have started while admit ran.
      const started = this.shared<T>(key)
      if (started !== undefined) return await started
    }
    const result = work()
    this.entries.set(key, { expiresAt: performance.now() + ttlMs, result })
    result.catch(() => { if (this.entries.get(key)?.result === result) this.entries.delete(key) })
    return await result
  }

  /** The live shared result of `key`, if any (expired entries are swept first, at most every SWEEP_INTERVAL_MS). */
  private shared<T> (key: string): Promise<T> | undefined {
    const now = performance.now()
    if (now - this.sweptAt >= SWEEP_INTERVAL_MS) {
      for (const [k, entry] of this.entries) if (now >= entry.expiresAt) this.entries.delete(k)
      this.sweptAt = now
    }
    const found = this.entries.get(key)
    return found !== undefined && now < found.expiresAt ? found.result as Promise<T> : undefined
  }
}
