import type { Logger } from 'pino'
import type { Position, ResumePlan } from '../store/types.js'

/**
 * Where the worker is in the stream, and the catch-up after a crash: the
 * commit points of the store's resume plan that the replay has not reached
 * yet. At each one the current batch must end, so that the parts of the
 * store that had committed up to there get only what follows (see
 * ResumePlan and ARCHITECTURE.md, "Scaling out").
 */
export class StreamPosition {
  /** The id of the last event counted: where a reconnection resumes. */
  lastEventId: string | null
  /**
   * The stream ordinal of the last event counted: the committed sequence it
   * resumed from plus one per new event id. A batch's sequence is the ordinal
   * of its last event, so sequences follow the stream: store parts that
   * committed the same event hold the same sequence.
   */
  ordinal: number
  /** Commit points still ahead, ascending by sequence. */
  private commitPoints: Position[]
  private readonly log: Logger

  constructor (plan: ResumePlan, log: Logger) {
    this.lastEventId = plan.from.lastEventId
    this.ordinal = plan.from.sequence
    this.commitPoints = plan.commitPoints.filter((p) => p.sequence > plan.from.sequence)
    this.log = log
    if (this.commitPoints.length > 0) {
      log.warn({ resumeFrom: plan.from.lastEventId, sequence: plan.from.sequence, commitPoints: this.commitPoints }, 'the store was left committed at different positions (a crash mid-flush): replaying, each batch only to the parts that lack it')
    }
  }

  /** True while the replay has commit points ahead. */
  get catchingUp (): boolean {
    return this.commitPoints.length > 0
  }

  /**
   * Moves past an event that carries `id` (an event without an id line
   * carries the previous one: not a new position). True when the stream has
   * just reached a commit point: the batch being counted must end here.
   */
  advance (id: string): boolean {
    if (id !== this.lastEventId) this.ordinal++
    this.lastEventId = id
    const point = this.commitPoints[0]
    if (point === undefined || point.sequence !== this.ordinal) return false
    this.commitPoints.shift()
    if (point.lastEventId !== id) this.log.error({ ordinal: this.ordinal, id, committed: point.lastEventId }, 'the replayed stream differs from what the store committed: counts of the parts ahead may be inexact')
    if (this.commitPoints.length === 0) this.log.info('every part of the store has caught up')
    return true
  }

  /**
   * False when a batch sent with `sequence` would claim a commit point the
   * stream has not reached (events without a new id since the last commit
   * take the next sequence up): the parts that hold that point would take it
   * as theirs. Such a batch waits for the stream to reach the point.
   */
  maySendAs (sequence: number): boolean {
    const point = this.commitPoints[0]
    return point === undefined || sequence < point.sequence || this.ordinal >= point.sequence
  }
}
