import { availableParallelism } from 'node:os'
import { Worker as Thread } from 'node:worker_threads'
import type { Logger } from 'pino'
import { EventCommands } from '../model/event-commands.js'
import type { Batch } from '../store/types.js'
import { BatchBuilder, type EventTally, maxUpdatesOf, sumStreamWide } from './batch-builder.js'
import { CELL, CELLS, type CountingThreadData, type FromCountingThread, type ToCountingThread } from './counting-protocol.js'

/** A batch ended by take(), with the counter updates it holds (what the back-pressure bound counts). */
export interface TakenBatch {
  batch: Batch
  updates: number
}

/**
 * Where events are counted into batches: in the worker's own thread
 * (LocalCounting, a BatchBuilder), or in a thread of their own
 * (ThreadCounting) so that parsing and counting run on another core than the
 * stream, the flush planning and the store I/O (ARCHITECTURE.md, "Counting
 * in a thread of its own"). The flush pipeline sees the same calls either
 * way; only take() has to wait for the other thread.
 */
export interface Counting {
  addEvent: (data: string, id: string) => void
  addFailure: (raw: string, reason: string, id: string) => void
  addSkipped: (id: string) => void
  /** True when nothing has been added since the last take() or drop(). */
  readonly isEmpty: boolean
  /** Counter updates held by the batch being counted (the thread's figure lags by the events still on their way to it: backlogUpdates). */
  readonly pendingUpdates: number
  /** Counter updates of batches taken and not yet handed back (0 in the worker's own thread): still held, no longer being counted. */
  readonly handingOverUpdates: number
  /** Events seen by this process, by outcome (cumulative: take() and drop() do not reset it). */
  readonly tally: EventTally
  /** Ends the batch being counted (everything added before this call) and hands it over. */
  take: (sequence: number) => Promise<TakenBatch>
  /** Forgets the batch being counted (the lease is lost); the tally goes on. */
  drop: () => void
  /** The system-event commands counted (docs/COUNTING.md#system-event-commands): starts again from the store's. */
  resetCommands: (known: Iterable<string>) => void
  /** Characters of events added and not yet counted (0 in the worker's own thread): the memory they hold on their way, bounded by COUNTING_BACKLOG_CHARS. */
  readonly backlogChars: number
  /**
   * An upper bound on the counter updates the events added and not yet
   * counted can still add (0 in the worker's own thread): the sum of their
   * maxUpdatesOf, 1 for a failure. MAX_PENDING_UPDATES counts them too.
   */
  readonly backlogUpdates: number
  /** Called each time the thread has counted more (back-pressure looks again). */
  onCounted: (() => void) | null
  /**
   * Milliseconds the counting thread has been busy since it started (its
   * event loop's active time: counting and handing batches over), or null
   * when counting runs in the worker's thread. Busy nearly all the time, it
   * is what limits ingest (chat_stats_counting_thread_busy_seconds_total).
   */
  readonly busyMs: number | null
  /** Stops the thread, if any. */
  close: () => Promise<void>
}

export interface CountingOptions {
  clock: () => number
  maxNameBytes?: number | undefined
  maxEventCommands: number
}

/** Counts in the calling thread: a BatchBuilder. */
export class LocalCounting implements Counting {
  readonly commands: EventCommands
  private readonly builder: BatchBuilder
  readonly backlogChars = 0
  readonly backlogUpdates = 0
  readonly handingOverUpdates = 0
  readonly busyMs = null
  onCounted: (() => void) | null = null

  constructor (options: CountingOptions) {
    this.commands = new EventCommands(options.maxEventCommands)
    this.builder = new BatchBuilder(options.clock, options.maxNameBytes, this.commands)
  }

  addEvent (data: string, id: string): void { this.builder.addEvent(data, id) }
  addFailure (raw: string, reason: string, id: string): void { this.builder.addFailure(raw, reason, id) }
  addSkipped (id: string): void { this.builder.addSkipped(id) }
  get isEmpty (): boolean { return this.builder.isEmpty }
  get pendingUpdates (): number { return this.builder.pendingUpdates }
  get tally (): EventTally { return this.builder.tally }

  async take (sequence: number): Promise<TakenBatch> {
    const updates = this.builder.pendingUpdates
    return { batch: this.builder.take(sequence), updates }
  }

  drop (): void { this.builder.drop() }
  resetCommands (known: Iterable<string>): void { this.commands.reset(known) }
  async close (): Promise<void> {}
}

/**
 * Characters of events sent to the counting thread and not yet counted
 * past which the reader waits (up to twice as many bytes: 32 MiB). It keeps
 * a thread that falls behind (a slower core, a burst of long messages) from
 * queueing the stream in memory, and is large enough to keep the thread busy
 * while the worker's thread plans a flush (100-300 ms): 16 Mi characters is
 * about 40,000 events of the real firehose, 0.3-0.4 s of the thread's work.
 */
export const COUNTING_BACKLOG_CHARS = 16 * 1024 * 1024
/** Events sent to the thread in one message: large enough that messaging costs little per event, small enough to keep it busy. */
const EVENTS_PER_MESSAGE = 512

/**
 * Counts in a worker thread (src/worker/counting-thread.ts runs a
 * BatchBuilder there). Events go to it in order, in messages of up to
 * EVENTS_PER_MESSAGE (a message leaves at the latest on the next turn of the
 * event loop, so a slow stream is not held back); take() and drop() travel
 * in the same order, so a batch holds exactly the events added before its
 * take(). The thread publishes its tally and pending updates in shared
 * memory, which the flush pipeline and back-pressure read without waiting.
 * Arrival time (an event without tmi-sent-ts, a failed message) is the
 * worker's clock when the events left for the thread, at most one turn of
 * the event loop after they were read.
 */
export class ThreadCounting implements Counting {
  private readonly thread: Thread
  private readonly cells: Float64Array
  /** Events and failures (and skips that move the position) added since the last take() or drop(), sent or not: isEmpty. */
  private added = 0
  private outbox: string[] = []
  private outboxEvents = 0
  private outboxChars = 0
  /** The update bound of the events in the outbox (see backlogUpdates). */
  private outboxUpdateBound = 0
  private sendScheduled = false
  /** Characters of events sent to the thread (its countedChars cell catches up). */
  private sentChars = 0
  /** Their update bound (its countedUpdateBound cell catches up). */
  private sentUpdateBound = 0
  private readonly takes: Array<{ resolve: (taken: TakenBatch) => void, reject: (err: Error) => void }> = []
  private failure: Error | null = null
  private closed = false
  /** The updates of the batches received from the thread (its takenUpdates cell runs ahead by those on their way). */
  private receivedUpdates = 0
  /** busyMs as last read while the thread ran. */
  private lastBusyMs = 0
  onCounted: (() => void) | null = null

  private readonly clock: () => number

  constructor (options: CountingOptions, private readonly logger: Logger) {
    this.clock = options.clock
    const shared = new SharedArrayBuffer(CELLS * Float64Array.BYTES_PER_ELEMENT)
    this.cells = new Float64Array(shared)
    const workerData: CountingThreadData = { shared, maxNameBytes: options.maxNameBytes ?? null, maxEventCommands: options.maxEventCommands }
    // From the sources under tsx (tests, `npm run bench`), the compiled file otherwise; the thread inherits the loader.
    const entry = new URL(import.meta.url.endsWith('.ts') ? './counting-thread.ts' : './counting-thread.js', import.meta.url)
    this.thread = new Thread(entry, { workerData })
    // The worker's own work keeps the process alive; an idle thread must not.
    this.thread.unref()
    this.thread.on('message', (message: FromCountingThread) => { this.received(message) })
    this.thread.on('error', (err) => { this.fail(err) })
    this.thread.on('exit', (code) => { this.fail(new Error(`the counting thread exited (code ${code})`)) })
  }

  addEvent (data: string, id: string): void {
    this.check()
    this.outbox.push('e', data, id)
    this.queued(data.length + id.length, maxUpdatesOf(data), true)
  }

  addFailure (raw: string, reason: string, id: string): void {
    this.check()
    this.outbox.push('f', raw, reason, id)
    this.queued(raw.length + reason.length + id.length, 1, true)
  }

  addSkipped (id: string): void {
    this.check()
    this.outbox.push('s', id)
    // As in the builder: a skipped event only counts for the batch when it moves the stream position.
    this.queued(id.length, 0, id !== '')
  }

  get isEmpty (): boolean { return this.added === 0 }
  get pendingUpdates (): number { return this.cells[CELL.pendingUpdates] as number }

  get handingOverUpdates (): number {
    return (this.cells[CELL.takenUpdates] as number) - this.receivedUpdates
  }

  get tally (): EventTally {
    const c = this.cells
    return { messages: c[CELL.messages] as number, system: c[CELL.system] as number, failed: c[CELL.failed] as number, skipped: c[CELL.skipped] as number }
  }

  get busyMs (): number {
    if (this.failure === null) this.readBusy()
    return this.lastBusyMs
  }

  private readBusy (): void {
    // Never backwards: a thread that has exited reports 0.
    this.lastBusyMs = Math.max(this.lastBusyMs, this.thread.performance.eventLoopUtilization().active)
  }

  get backlogChars (): number {
    // A failed thread counts nothing more: the error reaches the reader with its next event.
    if (this.failure !== null) return 0
    // Events still in the outbox count too: they are on their way.
    return this.sentChars + this.outboxChars - (this.cells[CELL.countedChars] as number)
  }

  get backlogUpdates (): number {
    if (this.failure !== null) return 0
    return this.sentUpdateBound + this.outboxUpdateBound - (this.cells[CELL.countedUpdateBound] as number)
  }

  async take (sequence: number): Promise<TakenBatch> {
    this.check()
    this.send()
    this.added = 0
    const taken = new Promise<TakenBatch>((resolve, reject) => { this.takes.push({ resolve, reject }) })
    this.post({ type: 'take', sequence })
    return await taken
  }

  drop (): void {
    this.check()
    this.send()
    this.added = 0
    this.post({ type: 'drop' })
  }

  resetCommands (known: Iterable<string>): void {
    this.check()
    this.send()
    this.post({ type: 'commands', known: [...known] })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fail(new Error('the counting thread was closed'))
    await this.thread.terminate()
  }

  /** A failed or closed thread takes no more events: the error reaches whoever adds one. */
  private check (): void {
    if (this.failure !== null) throw this.failure
  }

  private queued (chars: number, updateBound: number, forBatch: boolean): void {
    if (forBatch) this.added++
    this.outboxChars += chars
    this.outboxUpdateBound += updateBound
    if (++this.outboxEvents >= EVENTS_PER_MESSAGE) {
      this.send()
    } else if (!this.sendScheduled) {
      this.sendScheduled = true
      setImmediate(() => { this.sendScheduled = false; this.send() })
    }
  }

  /** Posts the events gathered so far. */
  private send (): void {
    if (this.outboxEvents === 0 || this.failure !== null) return
    const message: ToCountingThread = { type: 'events', items: this.outbox, chars: this.outboxChars, updateBound: this.outboxUpdateBound, now: this.clock() }
    this.sentChars += this.outboxChars
    this.sentUpdateBound += this.outboxUpdateBound
    this.outbox = []
    this.outboxEvents = 0
    this.outboxChars = 0
    this.outboxUpdateBound = 0
    this.post(message)
  }

  private post (message: ToCountingThread): void {
    this.thread.postMessage(message)
  }

  private received (message: FromCountingThread): void {
    if (message.type === 'taken') {
      this.receivedUpdates += message.updates
      sumStreamWide(message.batch, message.roomless)
      this.takes.shift()?.resolve({ batch: message.batch, updates: message.updates })
    } else {
      this.onCounted?.()
    }
  }

  private fail (err: Error): void {
    if (this.failure !== null) return
    // What the thread did until now stays counted (busyMs reads no more after this).
    this.readBusy()
    this.failure = err
    if (!this.closed) this.logger.error({ err }, 'the counting thread failed')
    for (const take of this.takes.splice(0)) take.reject(err)
    this.onCounted?.()
  }
}

/** COUNTING_THREAD: 'auto' counts in a thread of its own when the machine has more than one core. */
export function useCountingThread (setting: 'auto' | 'on' | 'off'): boolean {
  return setting === 'on' || (setting === 'auto' && availableParallelism() > 1)
}

/** The counting a worker uses: a thread of its own when asked for, else in the worker's thread. */
export function createCounting (thread: boolean, options: CountingOptions, logger: Logger): Counting {
  return thread ? new ThreadCounting(options, logger) : new LocalCounting(options)
}
