import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { Backoff } from '../ingest/backoff.js'
import type { ChunkSource, StreamConnection } from '../ingest/sources.js'
import { StreamParser, type StreamSink } from '../ingest/stream-parser.js'

export interface StreamReaderOptions {
  source: ChunkSource
  logger: Logger
  clock: () => number
  /** MAX_EVENT_BYTES. */
  maxEventBytes: number
  /** Silence with no byte from the interface before reconnecting. */
  idleTimeoutMs: number
  /** What each event, failed line and skipped event goes to. */
  events: Pick<StreamSink, 'onEvent' | 'onFailure' | 'onSkipped'>
  /** Where the next connection resumes (Last-Event-ID). */
  resumeFrom: () => string | null
  /** True while reading should go on (active, not stopping). */
  keepReading: () => boolean
  /** True when the reader must wait for the store before the next chunk. */
  mustPause: () => boolean
  /** Resolves when reading may go on. */
  waitForDrain: () => Promise<void>
  onReconnect?: (() => void) | undefined
  onConnected?: ((connected: boolean) => void) | undefined
  /**
   * Events counted so far (chat messages and system events), cumulative:
   * how the reader tells a stream that delivers from one that only sends
   * failed lines or keep-alives. Without it every parsed event counts.
   */
  countedEvents?: (() => number) | undefined
  /** STREAM_STALL_MS: how long a connection may deliver nothing countable before it is reported stalled. Default 60 s. */
  stallAfterMs?: number | undefined
}

/**
 * Least time from opening a connection that delivered to dialling the next.
 * The back-off starts again from 100 ms after such a connection, so an
 * interface that sends `retry: 0` and one event, then closes, would otherwise
 * be dialled about 11 times a second. One second bounds that loop to 1/s and
 * leaves a connection that lived longer (a cut after minutes) to resume at
 * once. Failed attempts need no floor: their back-off doubles.
 */
export const MIN_RECONNECT_INTERVAL_MS = 1000

/**
 * Reads the chat stream into the parser: reconnects forever with back-off
 * (a file is read once), reconnects after idleTimeoutMs of silence, and
 * waits between chunks while back-pressure says so.
 */
export class StreamReader {
  connected = false
  reconnects = 0
  bytesRead = 0
  /** The size of the input when known (a file). */
  totalBytes: number | null = null
  private readonly options: StreamReaderOptions
  private connection: StreamConnection | null = null
  /** When the open connection was made, or the last event counted on it, whichever is later (epoch ms). */
  private countedAt = 0
  private lastCounted = 0
  private parsedEvents = 0

  constructor (options: StreamReaderOptions) {
    this.options = options
  }

  /** Closes the open connection, if any: read() then returns or reconnects. */
  close (): void {
    this.connection?.close()
  }

  /**
   * How long the open connection has gone without delivering a countable
   * event (a chat message or a system event): since it opened, or since the
   * last one. 0 while disconnected. Failed lines and keep-alives do not count.
   */
  msWithoutCounted (): number {
    if (!this.connected) return 0
    this.noteCounted()
    return Math.max(0, this.options.clock() - this.countedAt)
  }

  /**
   * How long the open connection has delivered nothing countable, once that
   * is at least STREAM_STALL_MS (readiness fails then); null otherwise.
   */
  stalledForMs (): number | null {
    const ms = this.msWithoutCounted()
    return ms >= this.stallAfterMs ? ms : null
  }

  private get stallAfterMs (): number {
    return this.options.stallAfterMs ?? 60_000
  }

  /** Events counted so far: the worker's count when given, else every parsed event. */
  private counted (): number {
    return this.options.countedEvents?.() ?? this.parsedEvents
  }

  /** Moves countedAt to now when something was counted since the last look; true when it was. */
  private noteCounted (): boolean {
    const counted = this.counted()
    if (counted === this.lastCounted) return false
    this.lastCounted = counted
    this.countedAt = this.options.clock()
    return true
  }

  /** Reads until the file ends, or while keepReading() for a stream. A file that cannot be read throws. */
  async read (): Promise<void> {
    const { source, logger: log, keepReading } = this.options
    const backoff = new Backoff()
    let retryMs = 0
    while (keepReading()) {
      let connection: StreamConnection
      const attemptedAt = this.options.clock()
      const floor = (): number => MIN_RECONNECT_INTERVAL_MS - (this.options.clock() - attemptedAt)
      try {
        connection = await source.open(this.options.resumeFrom())
      } catch (err) {
        if (source.kind === 'file') throw err
        const delay = Math.max(retryMs, backoff.next())
        this.countReconnect()
        log.warn({ err, delayMs: delay }, 'cannot connect to the chat interface; retrying')
        await this.pause(delay)
        continue
      }
      const { events } = this.options
      const countedBefore = this.counted()
      const parser = new StreamParser({
        onEvent: (data, id) => { this.parsedEvents++; events.onEvent(data, id) },
        onFailure: (raw, reason, id) => { events.onFailure(raw, reason, id) },
        onSkipped: (type, id) => { events.onSkipped?.(type, id) },
        onRetry: (ms) => { retryMs = Math.min(ms, 30_000) }
        // A capture read from its start has no id before its first event (it does not resume from the store's).
      }, { maxEventBytes: this.options.maxEventBytes, lastEventId: source.startsOver === true ? '' : this.options.resumeFrom() ?? '' })
      const error = await this.readConnection(connection, parser)
      if (source.kind === 'file') {
        if (error !== null) throw error
        parser.end(true)
        return
      }
      // The parser is dropped with whatever it holds, unread: the line without its end (a cut field
      // name would be a failed message, a cut `se-data` line after its `id:` would move the position
      // past an event never counted) and the event without its blank line. SSE discards both at the
      // end of a stream; the reconnection resends them from Last-Event-ID.
      if (!keepReading()) return
      // Only a connection that delivered something countable starts the back-off again: one that
      // sends nothing but failed lines (an HTML page, a body in an unknown encoding) keeps doubling it.
      if (this.counted() > countedBefore) backoff.reset()
      const delay = Math.max(retryMs, backoff.next(), floor())
      this.countReconnect()
      log.warn({ err: error ?? undefined, delayMs: delay, lastEventId: this.options.resumeFrom() }, 'chat stream ended; reconnecting')
      await this.pause(delay)
    }
  }

  /** Reads one connection to its end (or an idle timeout, or stop); returns its error, if any. */
  private async readConnection (connection: StreamConnection, parser: StreamParser): Promise<unknown> {
    const { clock, logger: log, idleTimeoutMs } = this.options
    this.connection = connection
    this.totalBytes = connection.totalBytes
    this.lastCounted = this.counted()
    this.countedAt = clock()
    this.setConnected(true)
    log.info({ source: this.options.source.label, lastEventId: this.options.resumeFrom() }, 'connected to the chat stream')
    let lastChunkAt = clock()
    let waiting = false
    let stallReported = false
    const idleTimer = setInterval(() => {
      if (!waiting && clock() - lastChunkAt > idleTimeoutMs) {
        log.warn({ idleMs: idleTimeoutMs }, 'no data from the chat interface: reconnecting')
        connection.close()
      }
      // Bytes arrive but nothing counts (failed lines only, keep-alives only): said once per stall.
      const stalledMs = waiting ? null : this.stalledForMs()
      if (stalledMs !== null && !stallReported) {
        log.warn({ stalledMs, bytesRead: this.bytesRead }, 'the chat stream delivers nothing countable (no chat message or system event): check the interface and the failed messages')
      }
      stallReported = stalledMs !== null
    }, Math.min(1000, idleTimeoutMs, this.stallAfterMs))
    idleTimer.unref()
    try {
      for await (const chunk of connection.chunks) {
        lastChunkAt = clock()
        this.bytesRead += chunk.length
        parser.push(chunk)
        this.noteCounted()
        if (this.options.mustPause()) {
          waiting = true
          await this.options.waitForDrain()
          waiting = false
          lastChunkAt = clock()
        }
        if (!this.options.keepReading()) break
      }
      return null
    } catch (err) {
      return err
    } finally {
      clearInterval(idleTimer)
      connection.close()
      this.connection = null
      this.setConnected(false)
    }
  }

  /** Marks the stream disconnected (on stop). */
  setConnected (connected: boolean): void {
    if (this.connected === connected) return
    this.connected = connected
    this.options.onConnected?.(connected)
  }

  private countReconnect (): void {
    this.reconnects++
    this.options.onReconnect?.()
  }

  private async pause (ms: number): Promise<void> {
    const { clock, keepReading } = this.options
    const end = clock() + ms
    while (keepReading() && clock() < end) await sleep(Math.min(100, end - clock()))
  }
}
