import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { Backoff } from '../ingest/backoff.js'
import type { ChunkSource, StreamConnection } from '../ingest/sources.js'
import { StreamParser } from '../ingest/stream-parser.js'
import { type Batch, LeaseLostError, type Position, type StatsStore } from '../store/types.js'
import { BatchBuilder } from './batch-builder.js'

export interface WorkerOptions {
  store: StatsStore
  source: ChunkSource
  logger: Logger
  /** FLUSH_INTERVAL_MS, default 250. */
  flushIntervalMs?: number
  /** MAX_EVENT_BYTES, default 64 KiB. */
  maxEventBytes?: number
  /** MAX_PENDING_UPDATES: above this many unflushed counter updates the worker stops reading. */
  maxPendingUpdates?: number
  /** LEASE_TTL_MS; the lease keeps one active worker per namespace. Default 10 s. */
  leaseTtlMs?: number
  /** Silence with no byte from the interface before reconnecting. Default 60 s. */
  idleTimeoutMs?: number
  /** How often a progress line is logged. Default 5 s. */
  progressIntervalMs?: number
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

export type WorkerRole = 'starting' | 'standby' | 'active' | 'stopped'

/**
 * While the store keeps up, the worker reads ahead of it by at most about
 * this much store time (measured from recent flushes), so a flush, and the
 * final flush on SIGTERM, stays short even when the stream is faster than
 * the store. MAX_PENDING_UPDATES bounds what is held while the store is down.
 */
const READ_AHEAD_MS = 1000
/** Read-ahead allowed whatever the measured store speed, so batches stay big enough to be efficient. */
const MIN_READ_AHEAD_UPDATES = 50_000

/**
 * Reads the stream, counts, and flushes to the store: one atomic write per
 * flush with the stream position, so a restart resumes exactly where the
 * committed counts end. Reconnects forever with back-off; stops reading
 * while the store is down and too much is pending; holds a lease so only
 * one worker per namespace ingests.
 */
export class Worker {
  private readonly store: StatsStore
  private readonly source: ChunkSource
  private readonly log: Logger
  private readonly flushIntervalMs: number
  private readonly maxEventBytes: number
  private readonly maxPendingUpdates: number
  private readonly leaseTtlMs: number
  private readonly idleTimeoutMs: number
  private readonly progressIntervalMs: number
  private readonly clock: () => number
  private readonly hooks: WorkerHooks
  private readonly onProgress: ((progress: WorkerProgress) => void) | undefined

  private readonly leaseToken = randomUUID()
  private builder: BatchBuilder
  /** A batch sent to the store whose outcome is unknown: resent as is until it commits. */
  private unconfirmed: Batch | null = null
  private unconfirmedUpdates = 0
  private committedSequence = 0
  /** The stream position committed with committedSequence. */
  private committedEventId: string | null = null
  /** Set while the worker tries to take back a lease that lapsed under it. */
  private leaseRecovery: Promise<void> | null = null
  /** The id of the last event handed to the builder: where a reconnection resumes. */
  private lastProcessedId: string | null = null
  /**
   * The stream ordinal of the last event handed to the builder: the committed
   * sequence it resumed from plus one per new event id. A batch's sequence is
   * the ordinal of its last event, so sequences follow the stream: shards
   * that committed the same event have the same sequence, and the lowest
   * sequence is the lowest position (what a sharded store's catch-up needs).
   */
  private ordinal = 0
  /**
   * Catching up after a crash on a sharded store (SPEC section 7): the shards
   * that receive the events being replayed (null: all), and the shards ahead,
   * by the sequence they committed, which join once that ordinal is passed.
   */
  private liveShards: number[] | null = null
  private shardsAhead: Map<number, Array<{ shard: number, lastEventId: string | null }>> | null = null
  /** Batches cut where a shard joined, sent before the builder's counts, with the ordinal of their last event. */
  private sealed: Array<{ batch: Batch, updates: number, ordinal: number }> = []

  private stopping = false
  private stopped: Promise<void> | null = null
  private connection: StreamConnection | null = null
  private flushTimer: NodeJS.Timeout | null = null
  private flushTick: (() => void) | null = null
  private flushing: Promise<void> | null = null
  private drainWaiters: Array<() => void> = []
  /** Counter updates the store applies per ms, from recent flushes; null until one has been measured. */
  private storeUpdatesPerMs: number | null = null
  /** False after a failed flush, until one succeeds: then only MAX_PENDING_UPDATES bounds reading. */
  private storeAnswering = true
  private bytesRead = 0
  private totalBytes: number | null = null

  role: WorkerRole = 'starting'
  connected = false
  reconnects = 0

  constructor (options: WorkerOptions) {
    this.store = options.store
    this.source = options.source
    this.log = options.logger
    this.flushIntervalMs = options.flushIntervalMs ?? 250
    this.maxEventBytes = options.maxEventBytes ?? 65536
    this.maxPendingUpdates = options.maxPendingUpdates ?? 2_000_000
    this.leaseTtlMs = options.leaseTtlMs ?? 10_000
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000
    this.progressIntervalMs = options.progressIntervalMs ?? 5000
    this.clock = options.clock ?? Date.now
    this.hooks = options.hooks ?? {}
    this.onProgress = options.onProgress
    this.builder = new BatchBuilder(this.clock)
  }

  /** Unflushed counter updates held in memory. */
  get pendingUpdates (): number {
    let sealed = 0
    for (const { updates } of this.sealed) sealed += updates
    return this.builder.pendingUpdates + this.unconfirmedUpdates + sealed
  }

  get tally (): BatchBuilder['tally'] {
    return this.builder.tally
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
        const renewTimer = this.keepLease()
        try {
          await this.ingest()
        } finally {
          clearInterval(renewTimer)
        }
        if (this.source.kind === 'file' || this.stopping) break
      }
    } finally {
      clearInterval(progressTimer)
      this.stopFlushTimer()
      await this.finalFlush()
      if (this.role === 'active') await this.store.releaseLease(this.leaseToken).catch(() => {})
      this.role = 'stopped'
      this.setConnected(false)
      this.reportProgress()
    }
  }

  /** Stops reading, flushes what was counted, and resolves when run() has finished. */
  async stop (): Promise<void> {
    this.stopping = true
    this.connection?.close()
    this.wakeReaders()
    this.stopped ??= new Promise((resolve) => {
      const check = (): void => { if (this.role === 'stopped') resolve(); else setTimeout(check, 20) }
      check()
    })
    await this.stopped
  }

  /** Waits for the lease (standby while another worker holds it), then loads the committed position. */
  private async becomeActive (): Promise<boolean> {
    let announced = false
    while (!this.stopping) {
      try {
        if (await this.store.acquireLease(this.leaseToken, this.leaseTtlMs)) break
        if (!announced) this.log.info('another worker holds the lease for this namespace: standing by')
        announced = true
        this.role = 'standby'
      } catch (err) {
        this.hooks.onStoreError?.(err)
        this.log.warn({ err }, 'store unreachable while taking the lease; retrying')
      }
      await sleep(Math.max(100, Math.floor(this.leaseTtlMs / 4)))
    }
    if (this.stopping) return false
    for (;;) {
      try {
        const positions = this.store.shardPositions !== undefined ? await this.store.shardPositions() : [await this.store.position()]
        // Resume from the lowest position (sequences follow the stream: see ordinal).
        const lowest = positions.reduce((a, b) => b.sequence < a.sequence ? b : a)
        this.committedEventId = lowest.lastEventId
        this.lastProcessedId = lowest.lastEventId
        this.committedSequence = this.planCatchUp(positions, lowest)
        this.ordinal = this.committedSequence
        break
      } catch (err) {
        this.hooks.onStoreError?.(err)
        this.log.warn({ err }, 'store unreachable while reading the position; retrying')
        await sleep(500)
        if (this.stopping) return false
      }
    }
    this.role = 'active'
    this.log.info({ position: this.lastProcessedId, sequence: this.committedSequence }, 'active: ingesting from the committed position')
    this.startFlushTimer()
    return true
  }

  /**
   * Shards that committed past the resume point get no replayed event until
   * the stream is past their own committed one. Returns the live shards'
   * committed sequence. A stream without ids cannot be resumed exactly: then
   * every shard is live.
   */
  private planCatchUp (positions: Position[], lowest: Position): number {
    this.sealed = []
    this.liveShards = null
    this.shardsAhead = null
    if (lowest.lastEventId === null) return Math.max(...positions.map((p) => p.sequence))
    const ahead = new Map<number, Array<{ shard: number, lastEventId: string | null }>>()
    const live: number[] = []
    positions.forEach((p, shard) => {
      if (p.sequence === lowest.sequence) live.push(shard)
      else ahead.set(p.sequence, [...(ahead.get(p.sequence) ?? []), { shard, lastEventId: p.lastEventId }])
    })
    if (ahead.size === 0) return lowest.sequence
    this.liveShards = live
    this.shardsAhead = ahead
    this.log.warn({ resumeFrom: lowest.lastEventId, sequence: lowest.sequence, live, ahead: Object.fromEntries(ahead) }, 'shards committed at different positions (a crash mid-flush): replaying to the shards behind only')
    return lowest.sequence
  }

  /** After an event with a new id: a shard that committed this ordinal receives the events from the next one on. */
  private passEvent (id: string): void {
    const joining = this.shardsAhead?.get(this.ordinal)
    if (joining === undefined) return
    const mismatch = joining.filter((j) => j.lastEventId !== id)
    if (mismatch.length > 0) this.log.error({ ordinal: this.ordinal, id, committed: mismatch }, 'the replayed stream differs from what the shards committed: counts of these shards may be inexact')
    if (!this.builder.isEmpty) {
      const updates = this.builder.pendingUpdates
      const batch = this.builder.take(0)
      batch.shards = [...this.liveShards!]
      this.sealed.push({ batch, updates, ordinal: this.ordinal })
    }
    this.liveShards!.push(...joining.map((j) => j.shard))
    this.shardsAhead!.delete(this.ordinal)
    if (this.shardsAhead!.size === 0) {
      this.log.info('every shard has caught up')
      this.liveShards = null
      this.shardsAhead = null
    }
  }

  private keepLease (): NodeJS.Timeout {
    const timer = setInterval(() => {
      this.store.renewLease(this.leaseToken, this.leaseTtlMs).then((held) => {
        if (!held) void this.recoverLease()
      }, (err: unknown) => {
        this.hooks.onStoreError?.(err)
        this.log.warn({ err }, 'lease renewal failed; retrying')
      })
    }, Math.max(50, Math.floor(this.leaseTtlMs / 3)))
    timer.unref()
    return timer
  }

  /**
   * The lease lapsed under this worker: a renewal or a flush was refused.
   * Usually nobody else wanted it (a flush longer than LEASE_TTL_MS held up
   * the renewals): then take it back and carry on with the counts in memory,
   * provided the store's position shows that nothing else was committed in
   * between. Otherwise another worker has taken over, and this one drops
   * what it has not committed.
   */
  private async recoverLease (): Promise<void> {
    if (this.role !== 'active') return
    this.leaseRecovery ??= (async () => {
      try {
        if (await this.store.acquireLease(this.leaseToken, this.leaseTtlMs)) {
          const position = await this.store.position()
          if (this.role !== 'active') return
          if (this.isOwnPosition(position.sequence, position.lastEventId)) {
            this.log.warn({ sequence: position.sequence, leaseTtlMs: this.leaseTtlMs }, 'the worker lease had lapsed (store slower than LEASE_TTL_MS?); took it back: nothing else was committed meanwhile')
            return
          }
          this.log.warn({ sequence: position.sequence, lastEventId: position.lastEventId }, 'another worker committed while the lease had lapsed')
        }
      } catch (err) {
        // Cannot tell now: keep the counts; the next refused renewal or flush tries again.
        this.hooks.onStoreError?.(err)
        this.log.warn({ err }, 'store unreachable while taking back the lapsed lease; retrying')
        return
      }
      this.loseLease()
    })().finally(() => { this.leaseRecovery = null })
    await this.leaseRecovery
  }

  /**
   * True when the committed position is one this worker wrote: its last
   * commit, or its unconfirmed batch (a batch with the same sequence and the
   * same last event id covers the same events, whoever wrote it).
   */
  private isOwnPosition (sequence: number, lastEventId: string | null): boolean {
    if (sequence === this.committedSequence && lastEventId === this.committedEventId) return true
    const batch = this.unconfirmed
    return batch !== null && batch.lastEventId !== undefined && sequence === batch.sequence && lastEventId === batch.lastEventId
  }

  /** Another worker took over: what was not committed is theirs to count, so drop it. */
  private loseLease (): void {
    if (this.role !== 'active') return
    this.log.warn('lost the worker lease: dropping uncommitted counts and standing by')
    this.role = 'standby'
    this.stopFlushTimer()
    const tally = this.builder.tally
    this.builder = new BatchBuilder(this.clock)
    // The tally counts what this process read, dropped or not (progress and its rate must not go backwards).
    Object.assign(this.builder.tally, tally)
    this.unconfirmed = null
    this.unconfirmedUpdates = 0
    this.sealed = []
    this.connection?.close()
    this.wakeReaders()
  }

  /** Reads the stream (reconnecting with back-off) while this worker is active. */
  private async ingest (): Promise<void> {
    const backoff = new Backoff()
    let retryMs = 0
    while (!this.stopping && this.role === 'active') {
      let connection: StreamConnection
      try {
        connection = await this.source.open(this.lastProcessedId)
      } catch (err) {
        if (this.source.kind === 'file') throw err
        const delay = Math.max(retryMs, backoff.next())
        this.reconnects++
        this.hooks.onReconnect?.()
        this.log.warn({ err, delayMs: delay }, 'cannot connect to the chat interface; retrying')
        await this.pause(delay)
        continue
      }
      this.connection = connection
      this.totalBytes = connection.totalBytes
      this.setConnected(true)
      this.log.info({ source: this.source.label, lastEventId: this.lastProcessedId }, 'connected to the chat stream')
      let sawEvent = false
      const parser = new StreamParser({
        onEvent: (data, id) => { sawEvent = true; this.builder.addEvent(data, id); if (id !== '') this.passedEvent(id) },
        onFailure: (raw, reason, id) => { sawEvent = true; this.builder.addFailure(raw, reason, id); if (id !== '') this.passedEvent(id) },
        onSkipped: (_type, id) => { this.builder.addSkipped(id); if (id !== '') this.passedEvent(id) },
        onRetry: (ms) => { retryMs = Math.min(ms, 30_000) }
      }, { maxEventBytes: this.maxEventBytes, lastEventId: this.lastProcessedId ?? '' })

      let lastChunkAt = this.clock()
      let waiting = false
      const idleTimer = setInterval(() => {
        if (!waiting && this.clock() - lastChunkAt > this.idleTimeoutMs) {
          this.log.warn({ idleMs: this.idleTimeoutMs }, 'no data from the chat interface: reconnecting')
          connection.close()
        }
      }, Math.min(1000, this.idleTimeoutMs))
      idleTimer.unref()
      let error: unknown = null
      try {
        for await (const chunk of connection.chunks) {
          lastChunkAt = this.clock()
          this.bytesRead += chunk.length
          parser.push(chunk)
          if (this.mustPauseReading()) {
            waiting = true
            await this.waitForDrain()
            waiting = false
            lastChunkAt = this.clock()
          }
          if (this.stopping || this.role !== 'active') break
        }
      } catch (err) {
        error = err
      } finally {
        clearInterval(idleTimer)
        connection.close()
        this.connection = null
        this.setConnected(false)
      }
      if (this.source.kind === 'file') {
        if (error !== null) throw error
        parser.end(true)
        return
      }
      // The parser is dropped with whatever it holds, unread: the line without its end (a cut field
      // name would be a failed message, a cut `se-data` line after its `id:` would move the position
      // past an event never counted) and the event without its blank line. SSE discards both at the
      // end of a stream; the reconnection resends them from Last-Event-ID.
      if (this.stopping || this.role !== 'active') return
      if (sawEvent) backoff.reset()
      const delay = Math.max(retryMs, backoff.next())
      this.reconnects++
      this.hooks.onReconnect?.()
      this.log.warn({ err: error ?? undefined, delayMs: delay, lastEventId: this.lastProcessedId }, 'chat stream ended; reconnecting')
      await this.pause(delay)
    }
  }

  private passedEvent (id: string): void {
    // Events without an id line carry the previous id: not a new position.
    if (id !== this.lastProcessedId) this.ordinal++
    this.lastProcessedId = id
    if (this.shardsAhead !== null) this.passEvent(id)
  }

  private async pause (ms: number): Promise<void> {
    const end = this.clock() + ms
    while (!this.stopping && this.role === 'active' && this.clock() < end) await sleep(Math.min(100, end - this.clock()))
  }

  /** True when reading on would hold more than the bound: MAX_PENDING_UPDATES, or about READ_AHEAD_MS of store writes. */
  private mustPauseReading (): boolean {
    if (this.pendingUpdates > this.maxPendingUpdates) return true
    if (!this.storeAnswering) return false
    // Until a flush has been timed, the minimum: a fresh worker at a full stream must not read far ahead of a slow store.
    return this.builder.pendingUpdates > Math.max(MIN_READ_AHEAD_UPDATES, (this.storeUpdatesPerMs ?? 0) * READ_AHEAD_MS)
  }

  private async waitForDrain (): Promise<void> {
    // A pause that starts as read-ahead can turn into the MAX_PENDING_UPDATES bound when the store
    // stops answering meanwhile: the warning is checked on every wake-up, and said once per pause.
    let warned = false
    let first = true
    while (this.mustPauseReading() && !this.stopping && this.role === 'active') {
      if (this.pendingUpdates > this.maxPendingUpdates) {
        if (!warned) this.log.warn({ pendingUpdates: this.pendingUpdates, max: this.maxPendingUpdates }, 'store is behind: pausing the stream until counts are flushed')
        warned = true
      } else if (first) {
        // The usual state when the stream is faster than the store: not worth a warning.
        this.log.debug({ pendingUpdates: this.pendingUpdates }, 'reading ahead of the store: pausing the stream until the next flush')
      }
      first = false
      const woken = new Promise<void>((resolve) => { this.drainWaiters.push(resolve) })
      // Waiting for the next tick would leave the store idle; a store that does not answer is retried on the timer.
      if (this.storeAnswering) this.flushNow()
      await woken
    }
  }

  private wakeReaders (): void {
    for (const wake of this.drainWaiters.splice(0)) wake()
  }

  private startFlushTimer (): void {
    this.stopFlushTimer()
    const tick = (): void => {
      this.flushing = this.flush().then(() => {}).finally(() => {
        this.flushing = null
        if (this.flushTimer !== null) this.flushTimer = setTimeout(tick, this.flushIntervalMs)
      })
    }
    this.flushTick = tick
    this.flushTimer = setTimeout(tick, this.flushIntervalMs)
  }

  /** Runs the next flush now instead of at its tick, unless one is in flight. */
  private flushNow (): void {
    if (this.flushing !== null || this.flushTimer === null || this.flushTick === null) return
    clearTimeout(this.flushTimer)
    this.flushTick()
  }

  private stopFlushTimer (): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer)
    this.flushTimer = null
  }

  /** One flush: resend the unconfirmed batch if any, else send what was counted since. */
  private async flush (): Promise<boolean> {
    if (this.role !== 'active') return true
    if (this.unconfirmed === null) {
      const sealed = this.sealed.shift()
      if (sealed !== undefined) {
        sealed.batch.sequence = Math.max(this.committedSequence + 1, sealed.ordinal)
        this.unconfirmed = sealed.batch
        this.unconfirmedUpdates = sealed.updates
      } else {
        if (this.builder.isEmpty) return true
        this.unconfirmedUpdates = this.builder.pendingUpdates
        // Above the committed one even when no event brought a new id (a stream without ids).
        this.unconfirmed = this.builder.take(Math.max(this.committedSequence + 1, this.ordinal))
        if (this.liveShards !== null) this.unconfirmed.shards = [...this.liveShards]
      }
      // The builder is empty again: a reader paused for read-ahead may go on.
      this.wakeReaders()
    }
    const batch = this.unconfirmed
    const updates = this.unconfirmedUpdates
    const started = performance.now()
    try {
      const outcome = await this.store.applyBatch(batch, this.leaseToken)
      const durationMs = performance.now() - started
      if (outcome === 'duplicate') this.log.info({ sequence: batch.sequence }, 'flush had already committed; not counted again')
      this.committedSequence = batch.sequence
      if (batch.lastEventId !== undefined) this.committedEventId = batch.lastEventId
      this.unconfirmed = null
      this.unconfirmedUpdates = 0
      this.measureStore(updates, durationMs)
      this.storeAnswering = true
      this.hooks.onFlush?.(durationMs, batch)
      this.wakeReaders()
      return true
    } catch (err) {
      if (err instanceof LeaseLostError) {
        await this.recoverLease()
        return false
      }
      this.storeAnswering = false
      // Reading may go on up to MAX_PENDING_UPDATES while the store does not answer.
      this.wakeReaders()
      this.hooks.onStoreError?.(err)
      this.log.warn({ err, pendingUpdates: this.pendingUpdates }, 'flush failed; keeping the counts and retrying')
      return false
    }
  }

  /** Store speed from batches big enough for the round trip not to dominate; a moving average. */
  private measureStore (updates: number, durationMs: number): void {
    if (updates < 1000 || durationMs <= 0) return
    const rate = updates / durationMs
    this.storeUpdatesPerMs = this.storeUpdatesPerMs === null ? rate : (this.storeUpdatesPerMs + rate) / 2
  }

  /** On stop: flush until everything counted is committed, for a bounded time. */
  private async finalFlush (): Promise<void> {
    if (this.flushing !== null) await this.flushing
    if (this.role !== 'active') return
    const deadline = this.clock() + 8000
    while (this.clock() < deadline) {
      if (await this.flush() && this.unconfirmed === null && this.sealed.length === 0 && this.builder.isEmpty) return
      if (this.role !== 'active') return
      await sleep(100)
    }
    this.log.error({ pendingUpdates: this.pendingUpdates }, 'could not flush the last counts before stopping; the next worker resumes from the committed position')
  }

  private setConnected (connected: boolean): void {
    if (this.connected === connected) return
    this.connected = connected
    this.hooks.onConnected?.(connected)
  }

  private lastProgress = { at: 0, events: 0 }

  private reportProgress (): void {
    const now = this.clock()
    const tally = this.builder.tally
    const events = tally.messages + tally.system + tally.failed + tally.skipped
    const elapsed = (now - this.lastProgress.at) / 1000
    const eventsPerSecond = this.lastProgress.at === 0 || elapsed <= 0 ? 0 : Math.round((events - this.lastProgress.events) / elapsed)
    this.lastProgress = { at: now, events }
    const progress: WorkerProgress = {
      eventsPerSecond,
      messages: tally.messages,
      system: tally.system,
      failed: tally.failed,
      skipped: tally.skipped,
      fraction: this.totalBytes !== null && this.totalBytes > 0 ? Math.min(1, this.bytesRead / this.totalBytes) : null,
      pendingUpdates: this.pendingUpdates
    }
    this.onProgress?.(progress)
    if (this.role === 'active' || this.role === 'stopped') this.log.info(progress, 'ingest progress')
  }
}
