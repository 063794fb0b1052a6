import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { ChunkSource } from '../ingest/sources.js'
import type { Batch, Position, ResumePlan, StatsStore } from '../store/types.js'
import { BackPressure, type PauseCause } from './back-pressure.js'
import { CaptureReplay } from './capture-replay.js'
import type { EventTally } from './batch-builder.js'
import { FlushPipeline } from './flush-pipeline.js'
import { WorkerLease } from './lease.js'
import { ProgressMeter, type WorkerProgress } from './progress.js'
import { StreamPosition } from './stream-position.js'
import { StreamReader } from './stream-reader.js'

export type { WorkerProgress } from './progress.js'

export interface WorkerOptions {
  store: StatsStore
  source: ChunkSource
  logger: Logger
  /** FLUSH_INTERVAL_MS, default 250. */
  flushIntervalMs?: number
  /** MAX_EVENT_BYTES, default 64 KiB. */
  maxEventBytes?: number
  /** MAX_NAME_BYTES: a chat message with a longer nick or room fails, a longer emote is skipped. Default 64. */
  maxNameBytes?: number
  /** MAX_EVENT_COMMANDS: a system event with a new command once this many are counted fails. Default 64. */
  maxEventCommands?: number
  /** MAX_PENDING_UPDATES: above this many unflushed counter updates the worker stops reading. Default 2,000,000. */
  maxPendingUpdates?: number
  /** LEASE_TTL_MS; the lease keeps one active worker per namespace. Default 10 s. */
  leaseTtlMs?: number
  /** Silence with no byte from the interface before reconnecting. Default 60 s. */
  idleTimeoutMs?: number
  /** STREAM_STALL_MS: a connection delivering nothing countable this long is reported stalled. Default 60 s. */
  streamStallMs?: number
  /** How often a progress line is logged. Default 5 s. */
  progressIntervalMs?: number
  /** The worker's clock (epoch ms). Default Date.now. */
  clock?: () => number
  /** Parse and count events in a thread of their own (COUNTING_THREAD; src/worker/counting.ts). Default false. */
  countingThread?: boolean
  /** Called with each progress sample (a terminal progress bar, metrics). */
  onProgress?: (progress: WorkerProgress) => void
  /** Observability hooks (metrics). */
  hooks?: WorkerHooks
  /** A capture (`worker --file`): count it all on top of the store even when the store cannot tell what of it is committed. */
  append?: boolean
}

export interface WorkerHooks {
  onFlush?: (durationMs: number, batch: Batch) => void
  onStoreError?: (err: unknown) => void
  onReconnect?: () => void
  onConnected?: (connected: boolean) => void
  /** The store was found behind what this worker committed; `messagesLost` are gone for good (0 when replayed). */
  onStoreRollback?: (messagesLost: number) => void
}

/** How often a store that refuses every flush as behind, while its position is not, is logged (storeDisagrees). */
const DISAGREEMENT_REPORT_MS = 60_000

export type WorkerRole = 'starting' | 'standby' | 'active' | 'stopped'

/**
 * Reads the stream, counts, and flushes to the store: one atomic write per
 * flush with the stream position, so a restart resumes exactly where the
 * committed counts end. Reconnects forever with back-off; stops reading
 * while the store is down and too much is pending; holds a lease so only
 * one worker per namespace ingests. Each of those jobs is its own module;
 * this class runs them in order and passes events between them.
 */
export class Worker {
  private readonly store: StatsStore
  private readonly source: ChunkSource
  private readonly log: Logger
  private readonly clock: () => number
  private readonly hooks: WorkerHooks
  private readonly progressIntervalMs: number
  private readonly onProgress: ((progress: WorkerProgress) => void) | undefined
  private readonly lease: WorkerLease
  private readonly pipeline: FlushPipeline
  private readonly backPressure: BackPressure
  private readonly reader: StreamReader
  private readonly progress: ProgressMeter
  /** Where the worker is in the stream; replaced on each activation. */
  private position: StreamPosition | null = null
  /** A capture read from its start: what of it the store already holds is skipped. */
  private replay: CaptureReplay | null = null
  private readonly append: boolean
  /** Set while the worker handles a store that went back. */
  private rollback: Promise<void> | null = null
  /** Flushes refused as behind while the store's position was not (storeDisagrees): since which commit, how many, and when last logged. */
  private readonly disagreement = { committed: -1, refusals: 0, reportedAt: -Infinity }
  /** A capture must be read again from the store's position (it went back). */
  private readAgain = false
  private stopping = false
  private stopped: Promise<void> | null = null

  role: WorkerRole = 'starting'

  constructor (options: WorkerOptions) {
    this.store = options.store
    this.source = options.source
    this.log = options.logger
    this.clock = options.clock ?? Date.now
    this.hooks = options.hooks ?? {}
    this.progressIntervalMs = options.progressIntervalMs ?? 5000
    this.onProgress = options.onProgress
    this.append = options.append === true
    this.progress = new ProgressMeter(this.clock)
    const isActive = (): boolean => this.role === 'active'
    const onStoreError = (err: unknown): void => this.hooks.onStoreError?.(err)
    this.lease = new WorkerLease({
      store: this.store,
      ttlMs: options.leaseTtlMs ?? 10_000,
      logger: this.log,
      onStoreError,
      onStandby: () => { this.role = 'standby' },
      isActive,
      isOwnPosition: (position) => this.pipeline.isOwnPosition(position),
      onLost: () => this.loseLease(),
      committedSequence: () => this.pipeline.committed.sequence,
      onStoreBehind: async () => await this.storeWentBack()
    })
    this.pipeline = new FlushPipeline({
      store: this.store,
      leaseToken: this.lease.token,
      logger: this.log,
      clock: this.clock,
      flushIntervalMs: options.flushIntervalMs ?? 250,
      maxNameBytes: options.maxNameBytes,
      maxEventCommands: options.maxEventCommands,
      countingThread: options.countingThread,
      isActive,
      onLeaseRefused: async () => await this.lease.recover(),
      onStoreBehind: async () => await this.storeWentBack(),
      onFlush: this.hooks.onFlush,
      onStoreError
    })
    this.backPressure = new BackPressure({
      maxPendingUpdates: options.maxPendingUpdates ?? 2_000_000,
      logger: this.log,
      pendingUpdates: () => this.pipeline.pendingUpdates,
      countingUpdates: () => this.pipeline.counting.pendingUpdates,
      countingBacklogChars: () => this.pipeline.counting.backlogChars,
      countingBacklogUpdates: () => this.pipeline.counting.backlogUpdates,
      flushNow: () => this.pipeline.flushNow()
    })
    const keepReading = (): boolean => !this.stopping && this.role === 'active'
    this.reader = new StreamReader({
      source: this.source,
      logger: this.log,
      clock: this.clock,
      maxEventBytes: options.maxEventBytes ?? 65536,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      events: {
        onEvent: (data, id) => { if (this.admit(id)) { this.pipeline.counting.addEvent(data, id); this.moveStreamPosition(id) } },
        onFailure: (raw, reason, id) => { if (this.admit(id)) { this.pipeline.counting.addFailure(raw, reason, id); this.moveStreamPosition(id) } },
        onSkipped: (_type, id) => { if (this.admit(id)) { this.pipeline.counting.addSkipped(id); this.moveStreamPosition(id) } }
      },
      resumeFrom: () => this.position?.lastEventId ?? null,
      keepReading,
      mustPause: () => this.backPressure.mustPauseReading(),
      waitForDrain: async () => await this.backPressure.waitForDrain(keepReading),
      onReconnect: this.hooks.onReconnect,
      onConnected: this.hooks.onConnected,
      countedEvents: () => { const { messages, system } = this.pipeline.counting.tally; return messages + system },
      stallAfterMs: options.streamStallMs
    })
  }

  /** True while connected to the chat stream. */
  get connected (): boolean {
    return this.reader.connected
  }

  /** Milliseconds the connected stream has delivered nothing countable, once past STREAM_STALL_MS; else null. */
  get stalledForMs (): number | null {
    return this.reader.stalledForMs()
  }

  /** Milliseconds the connected stream has delivered nothing countable (0 while disconnected). */
  get msWithoutCounted (): number {
    return this.reader.msWithoutCounted()
  }

  /** How many times the stream was reconnected (or a connection retried). */
  get reconnects (): number {
    return this.reader.reconnects
  }

  /** Unflushed counter updates held in memory. */
  get pendingUpdates (): number {
    return this.pipeline.pendingUpdates
  }

  /** Events read by this process, by outcome. */
  get tally (): EventTally {
    return this.pipeline.counting.tally
  }

  /** Milliseconds the stream reader has waited for the store or the counting thread, by cause (BackPressure.pausedMs), cumulative. */
  get readerPausedMs (): Readonly<Record<PauseCause, number>> {
    return this.backPressure.pausedMs
  }

  /** Milliseconds the counting thread has been busy (Counting.busyMs), or null without one. */
  get countingBusyMs (): number | null {
    return this.pipeline.counting.busyMs
  }

  /**
   * Runs until the stream ends (a file) or stop() is called. Resolves after
   * the final flush.
   */
  async run (): Promise<void> {
    const progressTimer = setInterval(() => this.reportProgress(), this.progressIntervalMs)
    progressTimer.unref()
    try {
      while (!this.stopping) {
        if (!await this.becomeActive()) break
        const stopRenewing = this.lease.keep()
        try {
          await this.reader.read()
        } catch (err) {
          // A refused capture was closed mid-read: the refusal below is the error to report.
          if (this.replay?.refused !== true) throw err
        } finally {
          stopRenewing()
        }
        if (this.rollback !== null) await this.rollback
        if (this.readAgain && !this.stopping) {
          this.readAgain = false
          continue
        }
        const refused = this.replay?.end() ?? null
        if (refused !== null) throw refused
        if (this.replay !== null && this.replay.alreadyCommitted > 0) this.log.info({ alreadyCommitted: this.replay.alreadyCommitted }, 'skipped the events of the capture the store had already committed')
        if (this.source.kind === 'file' || this.stopping) break
      }
    } finally {
      clearInterval(progressTimer)
      try {
        await this.pipeline.finalFlush()
      } finally {
        // The counting thread, if any, ends with the run, whatever the final flush did.
        await this.pipeline.counting.close()
      }
      if (this.role === 'active') await this.lease.release()
      this.role = 'stopped'
      this.reader.setConnected(false)
      this.reportProgress()
    }
  }

  /** Stops reading, flushes what was counted, and resolves when run() has finished. */
  async stop (): Promise<void> {
    this.stopping = true
    this.reader.close()
    this.backPressure.wakeReaders()
    this.stopped ??= new Promise((resolve) => {
      const check = (): void => { if (this.role === 'stopped') resolve(); else setTimeout(check, 20) }
      check()
    })
    await this.stopped
  }

  /** Waits for the lease (standby while another worker holds it), then resumes from the store's plan. */
  private async becomeActive (): Promise<boolean> {
    if (!await this.lease.acquire(() => this.stopping)) return false
    let plan: ResumePlan
    let storeMessages: number
    let storeCommands: string[]
    for (;;) {
      try {
        [plan, storeMessages, storeCommands] = await this.readResumePlan()
        break
      } catch (err) {
        this.hooks.onStoreError?.(err)
        this.log.warn({ err }, 'store unreachable while reading the position; retrying')
        await sleep(500)
        if (this.stopping) return false
      }
    }
    this.position = new StreamPosition(plan, this.log)
    this.replay = this.source.startsOver === true ? new CaptureReplay(plan.from, this.source.label, this.append) : null
    this.role = 'active'
    this.log.info({ position: plan.from.lastEventId, sequence: plan.from.sequence }, 'active: ingesting from the committed position')
    if (storeCommands.length >= this.pipeline.maxEventCommands) this.log.warn({ commands: storeCommands.length, maxEventCommands: this.pipeline.maxEventCommands }, 'the store holds MAX_EVENT_COMMANDS system-event commands or more: system events of any other command are failed messages')
    this.pipeline.start(plan.from, storeMessages, storeCommands, this.position, this.backPressure)
    return true
  }

  /** The store's resume plan, message total and system-event commands (docs/COUNTING.md#system-event-commands). */
  private async readResumePlan (): Promise<[ResumePlan, number, string[]]> {
    const [plan, totals] = await Promise.all([
      this.store.resumePlan !== undefined ? this.store.resumePlan() : this.store.position().then((from) => ({ from, commitPoints: [] })),
      this.store.totals()
    ])
    return [plan, totals.totalMessages, Object.keys(totals.events)]
  }

  /** False when the event is not to be counted: a capture's part the store already holds, or a refused capture. */
  private admit (id: string): boolean {
    if (this.replay === null) return true
    if (this.replay.admit(id)) return true
    if (this.replay.refused) this.reader.close()
    return false
  }

  /**
   * The store is behind what this worker committed: it lost writes (Redis
   * restarted from an older RDB or AOF, or a replica that lagged was
   * promoted). Adding to its older counts would hide the loss. When the
   * stream can be replayed from the store's position (it has an event id),
   * drop what is held and read again from there: counts end exact. When it
   * cannot (no ids), the messages the store no longer holds are lost: count
   * them, report them (log, metrics, and the store's totals, which /stats
   * shows), and carry on from the store's position with what is held.
   */
  private async storeWentBack (): Promise<void> {
    if (this.role !== 'active') return
    this.rollback ??= (async () => {
      let plan: ResumePlan
      let storeMessages: number
      try {
        [plan, storeMessages] = await this.readResumePlan()
      } catch (err) {
        // Cannot tell now: the next flush is refused again and this runs again.
        this.hooks.onStoreError?.(err)
        this.log.warn({ err }, 'the store went back, and is unreachable now; retrying')
        return
      }
      const from = plan.from
      if (this.role !== 'active') return
      if (from.sequence >= this.pipeline.committed.sequence) {
        this.storeDisagrees(from)
        return
      }
      const missing = Math.max(0, this.pipeline.storeMessages - storeMessages)
      const facts = { committed: this.pipeline.committed, store: from, storeMessages, expectedMessages: this.pipeline.storeMessages }
      // An interface resumes after Last-Event-ID; a capture is read again and skipped up to that id.
      const canReplay = from.lastEventId !== null
      if (canReplay) {
        this.log.warn({ ...facts, messagesToReplay: missing }, 'the store is behind what this worker committed (it lost writes: restarted from an older snapshot, or a lagging replica was promoted): dropping uncommitted counts and replaying the stream from the store\'s position')
        this.pipeline.noteRollback(0)
        this.hooks.onStoreRollback?.(0)
        this.role = 'starting'
        this.readAgain = true
        this.pipeline.dropUncommitted()
        this.reader.close()
        this.backPressure.wakeReaders()
        return
      }
      this.log.warn({ ...facts, messagesLost: missing }, `the store is behind what this worker committed (it lost writes) and the stream cannot be replayed from there (no event ids): ${missing} messages counted before are lost; carrying on from the store's position`)
      this.pipeline.noteRollback(missing)
      this.hooks.onStoreRollback?.(missing)
      this.pipeline.rebase(from, storeMessages)
    })().finally(() => { this.rollback = null })
    await this.rollback
  }

  /**
   * The store refused a flush as behind what this worker committed, yet its
   * position is not behind. Once is a loss already handled (a lease renewal
   * found it first and the worker carried on from the store's position).
   * Again with nothing committed in between, the store and the worker
   * disagree on the position, and the flush is refused and retried every
   * tick: that must not go unseen, so it is logged, at most once a minute.
   */
  private storeDisagrees (store: Position): void {
    const committed = this.pipeline.committed
    const seen = this.disagreement
    if (seen.committed !== committed.sequence) {
      seen.committed = committed.sequence
      seen.refusals = 0
    }
    seen.refusals++
    const now = this.clock()
    if (seen.refusals < 2 || now - seen.reportedAt < DISAGREEMENT_REPORT_MS) return
    seen.reportedAt = now
    this.log.warn({ committed, store, refusals: seen.refusals }, 'the store refuses every flush as behind what this worker committed, yet its position is not behind: retrying, nothing is committed meanwhile (a store that is not the one this worker wrote to?)')
  }

  /** After an event (its id, '' when the stream has none): the stream position moves on, and a batch ends at a commit point. */
  private moveStreamPosition (id: string): void {
    if (id === '' || this.position === null) return
    if (this.position.advance(id)) this.pipeline.cutAt(this.position.ordinal)
  }

  /** Another worker took over: what was not committed is theirs to count, so drop it. */
  private loseLease (): void {
    if (this.role !== 'active') return
    this.log.warn('lost the worker lease: dropping uncommitted counts and standing by')
    this.role = 'standby'
    this.pipeline.dropUncommitted()
    this.reader.close()
    this.backPressure.wakeReaders()
  }

  private reportProgress (): void {
    const progress = this.progress.sample({
      tally: this.tally,
      bytesRead: this.reader.bytesRead,
      totalBytes: this.reader.totalBytes,
      pendingUpdates: this.pendingUpdates
    })
    this.onProgress?.(progress)
    if (this.role === 'active' || this.role === 'stopped') this.log.info(progress, 'ingest progress')
  }
}
