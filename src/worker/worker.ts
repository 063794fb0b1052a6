import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { ChunkSource } from '../ingest/sources.js'
import type { Batch, ResumePlan, StatsStore } from '../store/types.js'
import { BackPressure } from './back-pressure.js'
import type { BatchBuilder } from './batch-builder.js'
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
  /** Called with each progress sample (a terminal progress bar, metrics). */
  onProgress?: (progress: WorkerProgress) => void
  /** Observability hooks (metrics). */
  hooks?: WorkerHooks
}

export interface WorkerHooks {
  onFlush?: (durationMs: number, batch: Batch) => void
  onStoreError?: (err: unknown) => void
  onReconnect?: () => void
  onConnected?: (connected: boolean) => void
}

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
      onLost: () => this.loseLease()
    })
    this.pipeline = new FlushPipeline({
      store: this.store,
      leaseToken: this.lease.token,
      logger: this.log,
      clock: this.clock,
      flushIntervalMs: options.flushIntervalMs ?? 250,
      isActive,
      onLeaseRefused: async () => await this.lease.recover(),
      onFlush: this.hooks.onFlush,
      onStoreError
    })
    this.backPressure = new BackPressure({
      maxPendingUpdates: options.maxPendingUpdates ?? 2_000_000,
      logger: this.log,
      pendingUpdates: () => this.pipeline.pendingUpdates,
      countingUpdates: () => this.pipeline.builder.pendingUpdates,
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
        onEvent: (data, id) => { this.pipeline.builder.addEvent(data, id); this.moveStreamPosition(id) },
        onFailure: (raw, reason, id) => { this.pipeline.builder.addFailure(raw, reason, id); this.moveStreamPosition(id) },
        onSkipped: (_type, id) => { this.pipeline.builder.addSkipped(id); this.moveStreamPosition(id) }
      },
      resumeFrom: () => this.position?.lastEventId ?? null,
      keepReading,
      mustPause: () => this.backPressure.mustPauseReading(),
      waitForDrain: async () => await this.backPressure.waitForDrain(keepReading),
      onReconnect: this.hooks.onReconnect,
      onConnected: this.hooks.onConnected,
      countedEvents: () => this.pipeline.builder.tally.messages + this.pipeline.builder.tally.system,
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
  get tally (): BatchBuilder['tally'] {
    return this.pipeline.builder.tally
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
        } finally {
          stopRenewing()
        }
        if (this.source.kind === 'file' || this.stopping) break
      }
    } finally {
      clearInterval(progressTimer)
      await this.pipeline.finalFlush()
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
    for (;;) {
      try {
        plan = await this.readResumePlan()
        break
      } catch (err) {
        this.hooks.onStoreError?.(err)
        this.log.warn({ err }, 'store unreachable while reading the position; retrying')
        await sleep(500)
        if (this.stopping) return false
      }
    }
    this.position = new StreamPosition(plan, this.log)
    this.role = 'active'
    this.log.info({ position: plan.from.lastEventId, sequence: plan.from.sequence }, 'active: ingesting from the committed position')
    this.pipeline.start(plan.from, this.position, this.backPressure)
    return true
  }

  private async readResumePlan (): Promise<ResumePlan> {
    if (this.store.resumePlan !== undefined) return await this.store.resumePlan()
    return { from: await this.store.position(), commitPoints: [] }
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
