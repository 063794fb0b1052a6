import type { Logger } from 'pino'
import { COUNTING_BACKLOG_CHARS } from './counting.js'

/**
 * While the store keeps up, the worker reads ahead of it by at most about
 * this much store time (measured from recent flushes), so a flush, and the
 * final flush on SIGTERM, stays short even when the stream is faster than
 * the store. MAX_PENDING_UPDATES bounds what is held while the store is down.
 */
export const READ_AHEAD_MS = 1000
/** Read-ahead allowed whatever the measured store speed, so batches stay big enough to be efficient. */
export const MIN_READ_AHEAD_UPDATES = 50_000

export interface BackPressureOptions {
  /** MAX_PENDING_UPDATES: above this many unflushed counter updates the worker stops reading. */
  maxPendingUpdates: number
  logger: Logger
  /** Unflushed counter updates held in all: counted, cut into batches, and sent but unconfirmed. */
  pendingUpdates: () => number
  /** Of those, the ones still being counted (the next batch). */
  countingUpdates: () => number
  /** Asks for a flush now instead of at its tick. */
  flushNow: () => void
  /** Characters of events on their way to the counting thread (Counting.backlogChars): past COUNTING_BACKLOG_CHARS the reader waits; default none. */
  countingBacklogChars?: (() => number) | undefined
  /** An upper bound on the updates those events can still add (Counting.backlogUpdates), counted against MAX_PENDING_UPDATES; default none. */
  countingBacklogUpdates?: (() => number) | undefined
  /** A clock in ms for the time paused (pausedMs); default performance.now. */
  now?: (() => number) | undefined
}

/**
 * What a pause of the reader waits for: the store (MAX_PENDING_UPDATES of
 * counted updates held, half of it counted, or READ_AHEAD_MS of its writes
 * read ahead: faster writes, or a store that answers again, end it) or the
 * counting thread (events on their way to it: it ends when the thread
 * catches up). Which one a saturated worker waits for says what limits it.
 */
export type PauseCause = 'store' | 'counting'
export const PAUSE_CAUSES: readonly PauseCause[] = ['store', 'counting']

/**
 * When the reader must stop and wait for the store: beyond MAX_PENDING_UPDATES
 * always, and, while the store answers, beyond about READ_AHEAD_MS of its
 * measured write speed. Readers wait in waitForDrain until a flush (or a
 * lease loss, or stop) wakes them.
 */
export class BackPressure {
  private readonly options: BackPressureOptions
  private drainWaiters: Array<() => void> = []
  /** Counter updates the store applies per ms, from recent flushes; null until one has been measured. */
  private storeUpdatesPerMs: number | null = null
  /** False after a failed flush, until one succeeds: then only MAX_PENDING_UPDATES bounds reading. */
  private storeAnswering = true
  private readonly now: () => number
  /** Milliseconds the reader has waited in waitForDrain, by cause, cumulative (chat_stats_reader_paused_seconds_total). */
  readonly pausedMs: Record<PauseCause, number> = { store: 0, counting: 0 }

  constructor (options: BackPressureOptions) {
    this.options = options
    this.now = options.now ?? (() => performance.now())
  }

  /**
   * True when held counts may exceed MAX_PENDING_UPDATES, whatever the store
   * does: those counted, plus the most the events the counting thread has
   * not counted yet can add (so the bound holds with it too).
   */
  get overBound (): boolean {
    return this.options.pendingUpdates() + (this.options.countingBacklogUpdates?.() ?? 0) > this.options.maxPendingUpdates
  }

  /** True when reading on would hold more than the bound: MAX_PENDING_UPDATES, about READ_AHEAD_MS of store writes, or the counting thread's backlog. */
  mustPauseReading (): boolean {
    return (this.options.countingBacklogChars?.() ?? 0) > COUNTING_BACKLOG_CHARS || this.storeBound()
  }

  /** The store's part of mustPauseReading: MAX_PENDING_UPDATES, or about READ_AHEAD_MS of store writes. */
  private storeBound (): boolean {
    return this.overBound || this.readAheadUsed()
  }

  /** The batch being counted holds about READ_AHEAD_MS of the store's writes (never while the store does not answer). */
  private readAheadUsed (): boolean {
    if (!this.storeAnswering) return false
    // Until a flush has been timed, the minimum: a fresh worker at a full stream must not read far ahead of a slow store.
    return this.options.countingUpdates() > Math.max(MIN_READ_AHEAD_UPDATES, (this.storeUpdatesPerMs ?? 0) * READ_AHEAD_MS)
  }

  /**
   * Whether a flush now is what lets reading go on: the read-ahead is used,
   * or the counted updates are half of MAX_PENDING_UPDATES or more. Over the
   * bound mostly for the events on their way to the counting thread (charged
   * the most they can add), the reader waits for the thread instead, which
   * wakes it as it counts (an event adds several times less than its
   * charge): flushing then would only cut the batches small
   * (BENCHMARKS.md, "Earlier: the flush path allocates less, and a backlog
   * does not cut batches").
   */
  private flushLetsReadingGoOn (): boolean {
    return this.options.pendingUpdates() * 2 >= this.options.maxPendingUpdates || this.readAheadUsed()
  }

  /** Waits while mustPauseReading() and `active()` hold. */
  async waitForDrain (active: () => boolean): Promise<void> {
    const { logger: log, maxPendingUpdates } = this.options
    // A pause that starts as read-ahead can turn into the MAX_PENDING_UPDATES bound when the store
    // stops answering meanwhile: the warning is checked on every wake-up, and said once per pause.
    let warned = false
    let first = true
    while (this.mustPauseReading() && active()) {
      const pendingUpdates = this.options.pendingUpdates()
      if (pendingUpdates > maxPendingUpdates) {
        if (!warned) log.warn({ pendingUpdates, max: maxPendingUpdates }, 'store is behind: pausing the stream until counts are flushed')
        warned = true
      } else if (first) {
        // The usual state when the stream is faster than the store: not worth a warning.
        log.debug({ pendingUpdates }, 'reading ahead of the store: pausing the stream until the next flush')
      }
      first = false
      const woken = new Promise<void>((resolve) => { this.drainWaiters.push(resolve) })
      const cause = this.pauseCause()
      const pausedAt = this.now()
      // Waiting for the next tick would leave the store idle; a store that does not answer is retried on the timer.
      // (A pause for the counting thread alone ends when it catches up, not with a flush.)
      if (this.storeAnswering && cause === 'store') this.options.flushNow()
      await woken
      this.pausedMs[cause] += this.now() - pausedAt
    }
  }

  /**
   * What the pause that starts now waits for (see PauseCause): the store
   * when a flush is what lets reading go on, or when it does not answer and
   * its part of the bound holds; otherwise the counting thread's backlog.
   */
  private pauseCause (): PauseCause {
    const store = this.storeAnswering ? this.flushLetsReadingGoOn() : this.storeBound()
    return store ? 'store' : 'counting'
  }

  /** Lets waiting readers check again (after a flush, a lease loss, stop). */
  wakeReaders (): void {
    for (const wake of this.drainWaiters.splice(0)) wake()
  }

  /** A flush committed `updates` in `durationMs`: the store answers, and its speed is known better. */
  storeCommitted (updates: number, durationMs: number): void {
    this.storeAnswering = true
    // Only batches big enough for the round trip not to dominate; a moving average.
    if (updates >= 1000 && durationMs > 0) {
      const rate = updates / durationMs
      this.storeUpdatesPerMs = this.storeUpdatesPerMs === null ? rate : (this.storeUpdatesPerMs + rate) / 2
    }
    this.wakeReaders()
  }

  /** A flush failed: reading may go on up to MAX_PENDING_UPDATES while the store does not answer. */
  storeFailed (): void {
    this.storeAnswering = false
    this.wakeReaders()
  }
}
