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
}

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

  constructor (options: StreamReaderOptions) {
    this.options = options
  }

  /** Closes the open connection, if any: read() then returns or reconnects. */
  close (): void {
    this.connection?.close()
  }

  /** Reads until the file ends, or while keepReading() for a stream. A file that cannot be read throws. */
  async read (): Promise<void> {
    const { source, logger: log, keepReading } = this.options
    const backoff = new Backoff()
    let retryMs = 0
    while (keepReading()) {
      let connection: StreamConnection
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
      let sawEvent = false
      const parser = new StreamParser({
        onEvent: (data, id) => { sawEvent = true; events.onEvent(data, id) },
        onFailure: (raw, reason, id) => { sawEvent = true; events.onFailure(raw, reason, id) },
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
      if (sawEvent) backoff.reset()
      const delay = Math.max(retryMs, backoff.next())
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
    this.setConnected(true)
    log.info({ source: this.options.source.label, lastEventId: this.options.resumeFrom() }, 'connected to the chat stream')
    let lastChunkAt = clock()
    let waiting = false
    const idleTimer = setInterval(() => {
      if (!waiting && clock() - lastChunkAt > idleTimeoutMs) {
        log.warn({ idleMs: idleTimeoutMs }, 'no data from the chat interface: reconnecting')
        connection.close()
      }
    }, Math.min(1000, idleTimeoutMs))
    idleTimer.unref()
    try {
      for await (const chunk of connection.chunks) {
        lastChunkAt = clock()
        this.bytesRead += chunk.length
        parser.push(chunk)
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
