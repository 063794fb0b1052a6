import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { type Batch, LeaseLostError, type Position, type StatsStore, StoreBehindError } from '../store/types.js'
import type { BackPressure } from './back-pressure.js'
import { DEFAULT_MAX_EVENT_COMMANDS } from '../model/event-commands.js'
import { type Counting, createCounting, type TakenBatch } from './counting.js'
import type { StreamPosition } from './stream-position.js'

/** How long the final flush on stop keeps trying before it gives up. */
const FINAL_FLUSH_MS = 8000

export interface FlushPipelineOptions {
  store: StatsStore
  /** The worker lease's token: the store refuses a flush without the lease. */
  leaseToken: string
  logger: Logger
  clock: () => number
  /** FLUSH_INTERVAL_MS. */
  flushIntervalMs: number
  /** True while this worker holds the lease and ingests. */
  isActive: () => boolean
  /** The store refused a flush for the lease: see WorkerLease.recover. */
  onLeaseRefused: () => Promise<void>
  /** The store is behind what this worker committed (it lost writes): see Worker.storeWentBack. */
  onStoreBehind: () => Promise<void>
  onFlush?: ((durationMs: number, batch: Batch) => void) | undefined
  onStoreError?: ((err: unknown) => void) | undefined
  /** MAX_NAME_BYTES (default 64). */
  maxNameBytes?: number | undefined
  /** MAX_EVENT_COMMANDS (default 64). */
  maxEventCommands?: number | undefined
  /** Count in a thread of its own (COUNTING_THREAD; see counting.ts). Default false. */
  countingThread?: boolean | undefined
}

interface CutBatch {
  taken: Promise<TakenBatch>
  /** Its counter updates once it has been handed back (until then the counting's handingOverUpdates holds them). */
  updates: number
  /** The stream ordinal of its last event. */
  ordinal: number
}

/**
 * Counts events into the next batch and sends batches to the store, one at
 * a time, every FLUSH_INTERVAL_MS. A batch whose outcome is unknown (an
 * error, a timeout) is resent as it is until it commits: the store answers
 * 'duplicate' when the first attempt did commit, so nothing counts twice.
 */
export class FlushPipeline {
  /** Counts the events since the last batch was taken. */
  readonly counting: Counting
  /** The last position this worker committed. */
  committed: Position = { sequence: 0, lastEventId: null }
  /** The store's message total as of `committed`: what it must still hold (a rollback below it lost the difference). */
  storeMessages = 0
  /**
   * Whether the next batch asks the store to still hold `committed`
   * (Batch.previousSequence). Not right after starting or rebasing on a
   * position without an event id: a stream without ids resumes above every
   * part of a sharded store (resumePlanOf), and a part a crash left behind
   * must take what comes next, not refuse it as a store that went back (the
   * worker retried such a batch forever). Asked again from the first commit.
   */
  private askStoreHolds = true
  /** Rollbacks and lost messages found but not yet recorded in the store: the next batch carries them. */
  private unreported = { rollbacks: 0, messagesLost: 0 }
  private readonly options: FlushPipelineOptions
  private backPressure: BackPressure | null = null
  private position: StreamPosition | null = null
  /** Batches ended at a commit point, sent before the builder's counts. */
  private cut: CutBatch[] = []
  /** A batch sent to the store whose outcome is unknown: resent as is until it commits. */
  private unconfirmed: Batch | null = null
  private unconfirmedUpdates = 0
  /** An attempt to send the unconfirmed batch had an unknown outcome (it may be in the store). */
  private unconfirmedMayHaveCommitted = false
  private timer: NodeJS.Timeout | null = null
  private tick: (() => void) | null = null
  private flushing: Promise<void> | null = null
  /** Moves on with each dropUncommitted(): a batch taken before it is not sent. */
  private generation = 0
  /**
   * MAX_EVENT_COMMANDS: the counting holds the system-event commands
   * counted, the store's on start() plus those taken in since
   * (docs/COUNTING.md#system-event-commands).
   */
  readonly maxEventCommands: number

  constructor (options: FlushPipelineOptions) {
    this.options = options
    this.maxEventCommands = options.maxEventCommands ?? DEFAULT_MAX_EVENT_COMMANDS
    this.counting = createCounting(options.countingThread === true, { clock: options.clock, maxNameBytes: options.maxNameBytes, maxEventCommands: this.maxEventCommands }, options.logger)
    // What the counting thread counted is known now: a reader held back by its backlog looks again.
    this.counting.onCounted = () => { this.backPressure?.wakeReaders() }
  }

  /** Unflushed counter updates held: being counted, cut, and sent but unconfirmed. */
  get pendingUpdates (): number {
    let cut = 0
    for (const { updates } of this.cut) cut += updates
    return this.counting.pendingUpdates + this.counting.handingOverUpdates + this.unconfirmedUpdates + cut
  }

  /** True when everything counted is committed. */
  get drained (): boolean {
    return this.unconfirmed === null && this.cut.length === 0 && this.counting.isEmpty
  }

  /**
   * Starts from a committed position (on becoming active): flushes every
   * FLUSH_INTERVAL_MS from now on. `storeCommands`: the system-event
   * commands the store holds (its `Totals.events`), read with the position.
   * Nothing uncommitted is held here (a first start, or after
   * dropUncommitted), so the commands counted are exactly the store's.
   */
  start (committed: Position, storeMessages: number, storeCommands: Iterable<string>, position: StreamPosition, backPressure: BackPressure): void {
    this.committed = committed
    this.askStoreHolds = committed.lastEventId !== null
    this.counting.resetCommands(storeCommands)
    this.storeMessages = storeMessages
    this.position = position
    this.backPressure = backPressure
    this.cut = []
    this.stop()
    this.flushing = null
    const tick = (): void => {
      const startedAt = performance.now()
      const flushing = this.flush().then(() => {}).finally(() => {
        // A restart (start() again) while this flush ran has its own timer: this one ends here.
        if (this.tick !== tick) return
        this.flushing = null
        // Ticks keep the interval from start to start: a flush's own time does not delay the next one (freshness).
        const wait = Math.max(0, this.options.flushIntervalMs - (performance.now() - startedAt))
        if (this.timer !== null) this.timer = setTimeout(tick, wait)
      })
      this.flushing = flushing
    }
    this.tick = tick
    this.timer = setTimeout(tick, this.options.flushIntervalMs)
  }

  /** Stops the flush timer (a flush in flight finishes). */
  stop (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  /** Runs the next flush now instead of at its tick, unless one is in flight. */
  flushNow (): void {
    if (this.flushing !== null || this.timer === null || this.tick === null) return
    clearTimeout(this.timer)
    this.tick()
  }

  /** Ends the batch being counted at the stream ordinal `ordinal` (a commit point of the resume plan). */
  cutAt (ordinal: number): void {
    if (this.counting.isEmpty) return
    const cut: CutBatch = { taken: this.counting.take(0), updates: 0, ordinal }
    // Its updates move here from the counting's handingOverUpdates when it is handed back (in the same turn of the event loop).
    // Awaited by takeNextBatch, unless dropped first: then nobody waits for it.
    cut.taken.then(({ updates }) => { cut.updates = updates }, () => {})
    this.cut.push(cut)
  }

  /** The lease is lost: what was not committed is the next worker's to count. The tally goes on. */
  dropUncommitted (): void {
    this.stop()
    // The tally counts what this process read, dropped or not (progress and its rate must not go backwards).
    this.counting.drop()
    this.generation++
    this.unconfirmed = null
    this.unconfirmedUpdates = 0
    this.unconfirmedMayHaveCommitted = false
    this.cut = []
  }

  /** A store rollback was found: the next batch records it (and the messages it lost for good) in the store. */
  noteRollback (messagesLost: number): void {
    this.unreported.rollbacks++
    this.unreported.messagesLost += messagesLost
  }

  /**
   * The store went back to `position` and the stream cannot be replayed:
   * carry on from there with what is held (it was never committed, so it is
   * not lost), on top of the store's `storeMessages`. The commands counted
   * stay as they are: what is held still reaches the store, and a command
   * only the lost writes had is kept until the next start, so the store
   * holds fewer than MAX_EVENT_COMMANDS then, never more.
   */
  rebase (position: Position, storeMessages: number): void {
    this.committed = position
    this.askStoreHolds = position.lastEventId !== null
    this.storeMessages = storeMessages
  }

  /**
   * True when the committed position is one this worker wrote: its last
   * commit, or its unconfirmed batch (a batch with the same sequence and the
   * same last event id covers the same events, whoever wrote it).
   */
  isOwnPosition ({ sequence, lastEventId }: Position): boolean {
    if (sequence === this.committed.sequence && lastEventId === this.committed.lastEventId) return true
    const batch = this.unconfirmed
    return batch !== null && batch.lastEventId !== undefined && sequence === batch.sequence && lastEventId === batch.lastEventId
  }

  /** One flush: resend the unconfirmed batch if any, else send what was counted since. True when nothing is left unsent by an error. */
  async flush (): Promise<boolean> {
    if (!this.options.isActive()) return true
    if (this.unconfirmed === null && !await this.takeNextBatch()) return true
    const batch = this.unconfirmed
    if (batch === null) return true
    const updates = this.unconfirmedUpdates
    const log = this.options.logger
    const started = performance.now()
    // The store must still hold what this worker committed: it refuses the batch if it went back.
    batch.previousSequence = this.askStoreHolds ? this.committed.sequence : undefined
    // Rollbacks not yet recorded ride on this batch, unless an attempt of it may have committed
    // without them (an unknown outcome): a resend must then be the same batch.
    if (!this.unconfirmedMayHaveCommitted && this.unreported.rollbacks > 0) {
      batch.storeRollbacks = this.unreported.rollbacks
      batch.messagesLost = this.unreported.messagesLost
    }
    try {
      const outcome = await this.options.store.applyBatch(batch, this.options.leaseToken)
      const durationMs = performance.now() - started
      if (outcome === 'duplicate') log.info({ sequence: batch.sequence }, 'flush had already committed; not counted again')
      this.committed = { sequence: batch.sequence, lastEventId: batch.lastEventId ?? this.committed.lastEventId }
      for (const slice of batch.slices) this.storeMessages += slice.messages
      this.unreported.rollbacks -= batch.storeRollbacks ?? 0
      this.unreported.messagesLost -= batch.messagesLost ?? 0
      this.unconfirmed = null
      this.unconfirmedUpdates = 0
      this.unconfirmedMayHaveCommitted = false
      this.askStoreHolds = true
      this.backPressure?.storeCommitted(updates, durationMs)
      this.options.onFlush?.(durationMs, batch)
      return true
    } catch (err) {
      if (err instanceof LeaseLostError) {
        await this.options.onLeaseRefused()
        return false
      }
      if (err instanceof StoreBehindError) {
        await this.options.onStoreBehind()
        return false
      }
      this.unconfirmedMayHaveCommitted = true
      this.backPressure?.storeFailed()
      this.options.onStoreError?.(err)
      log.warn({ err, pendingUpdates: this.pendingUpdates }, 'flush failed; keeping the counts and retrying')
      return false
    }
  }

  /** On stop: flush until everything counted is committed, for a bounded time. */
  async finalFlush (): Promise<void> {
    this.stop()
    if (this.flushing !== null) await this.flushing
    if (!this.options.isActive()) return
    const deadline = this.options.clock() + FINAL_FLUSH_MS
    while (this.options.clock() < deadline) {
      if (await this.flush() && this.drained) return
      if (!this.options.isActive()) return
      await sleep(100)
    }
    this.options.logger.error({ pendingUpdates: this.pendingUpdates }, 'could not flush the last counts before stopping; the next worker resumes from the committed position')
  }

  /**
   * Makes the next batch the unconfirmed one: a cut batch first, else the
   * counts since the last one. False when there is nothing to send, or when
   * the counts were dropped (the lease lost) while the batch was on its way.
   */
  private async takeNextBatch (): Promise<boolean> {
    // Above the committed one even when no event brought a new id (a stream without ids).
    const sequenceFor = (ordinal: number): number => Math.max(this.committed.sequence + 1, ordinal)
    const generation = this.generation
    let taken: TakenBatch
    let sequence: number
    const cut = this.cut[0]
    if (cut !== undefined) {
      taken = await cut.taken
      if (generation !== this.generation) return false
      this.cut.shift()
      sequence = sequenceFor(cut.ordinal)
    } else {
      if (this.counting.isEmpty) return false
      const ordinal = this.position?.ordinal ?? 0
      sequence = sequenceFor(ordinal)
      if (this.position !== null && !this.position.maySendAs(sequence)) {
        // Wait for the stream to reach the commit point, unless that would stall reading for good.
        if (this.backPressure?.overBound !== true) return false
        this.options.logger.error({ sequence, ordinal }, 'events without new ids fill memory while a replay waits for a commit point: sending them; counts of the parts ahead may be inexact')
      }
      taken = await this.counting.take(sequence)
      if (generation !== this.generation) return false
    }
    taken.batch.sequence = sequence
    this.unconfirmed = taken.batch
    this.unconfirmedUpdates = taken.updates
    // The counting holds less again: a reader paused for read-ahead may go on.
    this.backPressure?.wakeReaders()
    return true
  }
}
