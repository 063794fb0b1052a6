import type { EventTally } from './batch-builder.js'

export interface WorkerProgress {
  eventsPerSecond: number
  messages: number
  system: number
  failed: number
  skipped: number
  /** Share of the input read, 0..1, when the size is known (a file). */
  fraction: number | null
  pendingUpdates: number
}

/** What a progress sample is made of, read from the worker when it is taken. */
export interface ProgressSource {
  tally: EventTally
  bytesRead: number
  totalBytes: number | null
  pendingUpdates: number
}

/** Turns successive samples of the worker's counters into progress reports with an event rate. */
export class ProgressMeter {
  private last = { at: 0, events: 0 }

  constructor (private readonly clock: () => number) {}

  /** The progress now; the rate is over the time since the previous sample (0 for the first). */
  sample ({ tally, bytesRead, totalBytes, pendingUpdates }: ProgressSource): WorkerProgress {
    const now = this.clock()
    const events = tally.messages + tally.system + tally.failed + tally.skipped
    const elapsed = (now - this.last.at) / 1000
    const eventsPerSecond = this.last.at === 0 || elapsed <= 0 ? 0 : Math.round((events - this.last.events) / elapsed)
    this.last = { at: now, events }
    return {
      eventsPerSecond,
      messages: tally.messages,
      system: tally.system,
      failed: tally.failed,
      skipped: tally.skipped,
      fraction: totalBytes !== null && totalBytes > 0 ? Math.min(1, bytesRead / totalBytes) : null,
      pendingUpdates
    }
  }
}
