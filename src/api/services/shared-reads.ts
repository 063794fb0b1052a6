/** Called before a request starts a store read of its own (the rate limiter's check); throws to refuse it. */
export type Admit = () => Promise<void>

/** Expired entries are dropped at most this often (a sweep walks every entry). */
const SWEEP_INTERVAL_MS = 100

interface Entry {
  key: string
  /** When a request may no longer share this read: started + ttl. */
  expiresAt: number
  result: Promise<unknown>
  /** Set when `result` resolved. */
  value?: { answer: unknown }
  /** While `result` is in flight: the answer of the read before it, served to other requests until `until`. */
  previous?: { answer: unknown, until: number }
}

/**
 * The API's read cache (API_CACHE_MS): the result of a read, keyed by what
 * was asked, is shared with every identical read started less than a ttl
 * ago, including one still in flight. A failed read is not shared: the next
 * request tries again.
 *
 * Stale while revalidating (API_STALE_MS, as HTTP's stale-while-revalidate):
 * once a result is older than its ttl, the next request starts a new read
 * and waits for it; requests that arrive while that read is in flight get
 * the previous answer at once, for at most `staleMs` past its ttl. A store
 * that is busy (Redis running a worker's flush script) then slows the one
 * request that reads, not every request behind it; nobody waits longer for
 * the new answer than before, and no answer is served more than
 * ttl + staleMs after its read started. An in-flight read is shared past
 * its ttl too, so a slow store gets one read at a time per key, not one
 * every ttl.
 *
 * Entries live at most ttl + staleMs past their start (longer only while in
 * flight) and expired ones are swept as requests come, so the map holds
 * about the distinct requests of that span (bounded by the rate limit).
 */
export class SharedReads {
  private readonly entries = new Map<string, Entry>()
  /** The entry each object answer came from, for `isShared`. */
  private readonly entryOf = new WeakMap<object, Entry>()
  private sweptAt = 0

  /**
   * @param defaultTtlMs how long a result is shared unless `run` says otherwise; 0: never.
   * @param staleMs how long past its ttl a result may still answer requests while a new read is in flight; 0: they wait for it.
   */
  constructor (private readonly defaultTtlMs: number, private readonly staleMs = 0) {}

  /**
   * `work()`, or the shared result of an identical `key` started less than
   * `ttlMs` ago (or still in flight), or, while a newer read of `key` is in
   * flight, the previous answer within `staleMs` past its ttl. `admit` is
   * awaited before this call starts a read of its own (never when it shares
   * one): a rejection there (e.g. the rate limiter's 429) ends the call and
   * starts nothing.
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
    const now = performance.now()
    const before = this.entries.get(key)
    const entry: Entry = { key, expiresAt: now + ttlMs, result: work() }
    if (this.staleMs > 0 && before?.value !== undefined && now < before.expiresAt + this.staleMs) {
      entry.previous = { answer: before.value.answer, until: before.expiresAt + this.staleMs }
    }
    this.entries.set(key, entry)
    entry.result.then((answer) => {
      entry.value = { answer }
      entry.previous = undefined
      if (typeof answer === 'object' && answer !== null) this.entryOf.set(answer, entry)
    }, () => {
      entry.previous = undefined
      if (this.entries.get(key) === entry) this.entries.delete(key)
    })
    return await (entry.result as Promise<T>)
  }

  /**
   * True while `answer` is what an identical request would be given now
   * without a store read (what `shared` returns): the result of the current
   * read of its key, younger than its ttl, or, while a newer read of the key
   * is in flight, the previous answer within `staleMs` past its ttl. An
   * answer replayed on that condition (AnswerReplay) is the one a request
   * would have been given, with no rate-limit charge either way.
   */
  isShared (answer: object): boolean {
    const entry = this.entryOf.get(answer)
    if (entry === undefined) return false
    const current = this.entries.get(entry.key)
    if (current === undefined) return false
    const now = performance.now()
    if (current === entry) return now < entry.expiresAt
    return current.value === undefined && current.previous?.answer === answer && now < current.previous.until
  }

  /** What a request for `key` can share now: a read in flight or younger than its ttl, or the previous answer while a newer read is in flight. */
  private shared<T> (key: string): Promise<T> | undefined {
    const now = performance.now()
    if (now - this.sweptAt >= SWEEP_INTERVAL_MS) {
      for (const [k, entry] of this.entries) if (entry.value !== undefined && now >= entry.expiresAt + this.staleMs) this.entries.delete(k)
      this.sweptAt = now
    }
    const found = this.entries.get(key)
    if (found === undefined) return undefined
    if (found.value === undefined) {
      // In flight (a failed read is deleted when it fails).
      return found.previous !== undefined && now < found.previous.until ? Promise.resolve(found.previous.answer as T) : found.result as Promise<T>
    }
    return now < found.expiresAt ? found.result as Promise<T> : undefined
  }
}
