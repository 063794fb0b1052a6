/**
 * Exponential back-off with jitter for reconnections (docs/RELIABILITY.md#the-interface-drops-or-fails):
 * from 100 ms doubling up to 30 s; each delay is drawn uniformly from
 * [base/2, base] so a crowd of workers does not reconnect in step.
 */
export class Backoff {
  private attempt = 0

  constructor (
    private readonly minMs = 100,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random
  ) {}

  /** The delay before the next attempt. */
  next (): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** this.attempt)
    if (base < this.maxMs) this.attempt++
    return Math.round(base / 2 + this.random() * base / 2)
  }

  /** A connection worked: start again from the shortest delay. */
  reset (): void {
    this.attempt = 0
  }
}
