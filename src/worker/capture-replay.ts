import type { Position } from '../store/types.js'

/** `worker --file` refused: counting the capture could count events twice. One line, for the terminal. */
export class ReplayRefusedError extends Error {
  readonly code = 'CS_REPLAY_REFUSED'
  constructor (message: string) {
    super(message)
    this.name = 'ReplayRefusedError'
  }
}

/**
 * Counts each event of a capture once when it is replayed into a store that
 * already committed part of it (`worker --file` run twice, or stopped and run
 * again). A capture is read from its start, so the events up to the store's
 * committed event id are skipped. A store whose counts cannot be matched to
 * the capture (it holds a position without an id, or the capture has no ids)
 * is refused, unless `append` asks to count the whole capture on top.
 */
export class CaptureReplay {
  /** Events skipped because the store already holds them. */
  alreadyCommitted = 0
  private skipThrough: string | null
  private first = true
  private refusal: ReplayRefusedError | null = null

  constructor (private readonly from: Position, private readonly label: string, private readonly append: boolean) {
    this.skipThrough = append ? null : from.lastEventId
  }

  /** True when the event (its id, '' when it has none) is to be counted. */
  admit (id: string): boolean {
    if (this.refusal !== null) return false
    if (this.first) {
      this.first = false
      if (!this.append && this.from.sequence > 0 && (id === '' || this.from.lastEventId === null)) {
        const what = id === '' ? `${this.label} has no event ids` : `the store holds counts of a stream without event ids (sequence ${this.from.sequence})`
        this.refusal = new ReplayRefusedError(`${what}, so it cannot tell which events the store already counted: refusing to count them twice. Use a fresh store (REDIS_NAMESPACE or SNAPSHOT_PATH), or pass --append to add the whole capture to what the store holds`)
        return false
      }
    }
    if (this.skipThrough === null) return true
    this.alreadyCommitted++
    if (id === this.skipThrough) this.skipThrough = null
    return false
  }

  /** True once the replay is refused: reading stops. */
  get refused (): boolean {
    return this.refusal !== null
  }

  /** At the end of the capture: why nothing could be counted, or null. */
  end (): ReplayRefusedError | null {
    if (this.refusal !== null) return this.refusal
    if (this.skipThrough !== null) {
      return new ReplayRefusedError(`the store's committed event id ${JSON.stringify(this.skipThrough)} is not in ${this.label}: the store holds another stream's counts, so nothing was counted. Use a fresh store (REDIS_NAMESPACE or SNAPSHOT_PATH), or pass --append to add the whole capture to what the store holds`)
    }
    return null
  }
}
