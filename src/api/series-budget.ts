/** The period a client's budget covers. */
const BUDGET_PERIOD_MS = 60_000

/**
 * A cost-weighted limit on GET /stats/timeseries (README.md#limits-per-client: costly
 * answers are bounded): each client may fetch `pointsPerMinute` points a
 * minute, so a day at 1 s (86,400 points, megabytes of JSON) costs as much
 * as 288 five-minute charts, while the request rate limit counts both as
 * one. Fixed one-minute periods per client, started by its first request.
 */
export class SeriesBudget {
  private readonly spent = new Map<string, { periodStart: number, points: number }>()
  private sweptAt = 0

  /** @param now monotonic ms (performance.now by default), injectable for tests. */
  constructor (readonly pointsPerMinute: number, private readonly now: () => number = () => performance.now()) {}

  /**
   * Charges `points` to `client`: null when the budget allows it, else the
   * whole seconds until the client's period ends (nothing is charged then).
   */
  charge (client: string, points: number): number | null {
    const now = this.now()
    this.sweep(now)
    let entry = this.spent.get(client)
    if (entry === undefined || now - entry.periodStart >= BUDGET_PERIOD_MS) {
      entry = { periodStart: now, points: 0 }
      this.spent.set(client, entry)
    }
    if (entry.points + points > this.pointsPerMinute) return Math.max(1, Math.ceil((entry.periodStart + BUDGET_PERIOD_MS - now) / 1000))
    entry.points += points
    return null
  }

  /** Clients with a period running (bounded by the clients seen in the last minute). */
  get clients (): number { return this.spent.size }

  private sweep (now: number): void {
    if (now - this.sweptAt < BUDGET_PERIOD_MS / 4) return
    this.sweptAt = now
    for (const [client, entry] of this.spent) if (now - entry.periodStart >= BUDGET_PERIOD_MS) this.spent.delete(client)
  }
}
