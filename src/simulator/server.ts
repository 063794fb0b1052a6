import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { burstGenerator, burstProblem, type Burst } from './burst.js'
import { DEFAULT_SHAPE, generateEvent } from './generator.js'
import type { StreamShape } from './shape.js'

/**
 * The simulator's HTTP face: any GET path serves the firehose of one seed as
 * `text/event-stream`, resuming after the `Last-Event-ID` request header.
 * Each connection is independent; pacing is a token bucket per connection and
 * generation stops while the socket is full, so a slow reader costs no memory.
 */

/** The part of a pino logger the simulator uses. */
export interface SimulatorLogger {
  info: (object: object, message: string) => void
  warn: (object: object, message: string) => void
  debug: (object: object, message: string) => void
}

export interface SimulatorOptions {
  /** Seed of the run, 0..2^32-1. */
  seed: number
  /** Events per second on each connection; 0 = as fast as the client reads. */
  rate: number
  /** Total events; the response ends after event `count`. Default: never-ending. */
  count?: number | undefined
  /** Port to listen on; 0 = an ephemeral port. */
  port: number
  /** Address to listen on. Default 127.0.0.1. */
  host?: string | undefined
  logger?: SimulatorLogger | undefined
  /** The profile's pools and clock (profiles.ts); default: the default profile. */
  shape?: StreamShape | undefined
  /**
   * Fault injection for reliability tests: after this many events on a
   * connection, send half of the next event and destroy the socket.
   */
  cutAfterEvents?: number | undefined
  /** A word or emote flooding one room for a run of events (burst.ts). */
  burst?: Burst | undefined
}

export interface SimulatorStats {
  /** Open event-stream responses. */
  connections: number
  /** Events handed to sockets, over all connections so far. */
  eventsWritten: number
  /** Bytes handed to sockets, over all connections so far. */
  bytesWritten: number
  /** The highest event index handed to a socket so far (0: none): how far into the stream any client got. */
  highestEventWritten: number
}

export interface SimulatorHandle {
  /** `http://host:port/` */
  url: string
  port: number
  stats: () => SimulatorStats
  /** Ends every response and closes the server. */
  close: () => Promise<void>
}

/** Bad simulator options; the message names the option. */
export class SimulatorOptionError extends Error {
  readonly code = 'CS_SIMULATOR_OPTION'
  constructor (readonly option: string, message: string) {
    super(`${option} ${message}`)
    this.name = 'SimulatorOptionError'
  }
}

/** Events per write: small enough to pace smoothly, big enough that a write is not per event. */
const MAX_EVENTS_PER_WRITE = 128
/** Bytes per write when unpaced. */
const MAX_BYTES_PER_WRITE = 64 * 1024
const TICK_MS = 10
/** Tokens the bucket holds: 100 ms of events, so a late timer catches up without a burst. */
const BUCKET_SECONDS = 0.1
/** Unpaced writes in one go before yielding to the event loop, even if the socket keeps accepting. */
const WRITES_BEFORE_YIELD = 16
/** How long close() lets ended responses drain before cutting their connections. */
const CLOSE_GRACE_MS = 1000

export function checkSimulatorOptions (options: SimulatorOptions): void {
  const { seed, rate, count, port, cutAfterEvents } = options
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new SimulatorOptionError('seed', `must be an integer from 0 to 4294967295 (got ${seed})`)
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) throw new SimulatorOptionError('rate', `must be a number of events per second, 0 or more (got ${rate})`)
  if (count !== undefined && (!Number.isSafeInteger(count) || count < 0)) throw new SimulatorOptionError('count', `must be a whole number of events, 0 or more (got ${count})`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SimulatorOptionError('port', `must be an integer from 0 to 65535 (got ${port})`)
  if (cutAfterEvents !== undefined && (!Number.isSafeInteger(cutAfterEvents) || cutAfterEvents < 0)) {
    throw new SimulatorOptionError('cutAfterEvents', `must be a whole number, 0 or more (got ${cutAfterEvents})`)
  }
  if (options.burst !== undefined) {
    const problem = burstProblem(options.burst, options.shape ?? DEFAULT_SHAPE)
    if (problem !== null) throw new SimulatorOptionError('burst', problem)
  }
}

/**
 * Where a request resumes: the event after its `Last-Event-ID`, or event 1.
 * Returns an error message for a value that is not a position of this stream.
 */
export function resumeIndex (header: string | string[] | undefined, count: number | undefined): number | { error: string } {
  if (header === undefined) return 1
  const value = Array.isArray(header) ? header.join(',') : header
  if (value.trim() === '') return 1
  const largest = count ?? Number.MAX_SAFE_INTEGER - 1
  const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value
  if (!/^\s*\d+\s*$/.test(value)) return { error: `Last-Event-ID must be a whole number from 0 to ${largest} (got "${shown}")\n` }
  const id = Number(value.trim())
  if (!Number.isSafeInteger(id) || id > largest) return { error: `Last-Event-ID ${shown} is out of range: this stream's ids run from 1 to ${largest}\n` }
  return id + 1
}

/** Starts the simulator; resolves once it listens. */
export async function startSimulator (options: SimulatorOptions): Promise<SimulatorHandle> {
  checkSimulatorOptions(options)
  const { seed, rate, count, logger, cutAfterEvents } = options
  const shape = options.shape ?? DEFAULT_SHAPE
  const withBurst = options.burst === undefined ? null : burstGenerator(shape, options.burst)
  const eventText = withBurst === null ? (index: number) => generateEvent(seed, index, shape) : (index: number) => withBurst(seed, index).text
  const host = options.host ?? '127.0.0.1'
  const totals = { eventsWritten: 0, bytesWritten: 0, highestEventWritten: 0 }
  const streams = new Set<EventStream>()

  const server = createServer((request, response) => {
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' })
      response.end('the simulator serves its event stream to GET requests only\n')
      return
    }
    const first = resumeIndex(request.headers['last-event-id'], count)
    if (typeof first !== 'number') {
      response.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
      response.end(first.error)
      return
    }
    const stream = new EventStream({ eventText, rate, first, last: count ?? Number.MAX_SAFE_INTEGER, cutAfterEvents, totals, request, response })
    streams.add(stream)
    logger?.debug({ first, remote: request.socket.remoteAddress }, 'simulator client connected')
    stream.onDone = () => {
      streams.delete(stream)
      logger?.debug({ next: stream.next }, 'simulator client gone')
    }
    stream.start()
  })
  // Streams are long-lived: no request or idle time limit.
  server.requestTimeout = 0
  server.timeout = 0
  server.keepAliveTimeout = 5000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`
  logger?.info({ url, seed, rate, count }, `simulator serving ${url}`)

  let closing: Promise<void> | null = null
  return {
    url,
    port,
    stats: () => ({ connections: streams.size, ...totals }),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const stream of streams) stream.end()
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        // Ended responses drain and their idle connections close; a client that stopped reading is cut after a grace period.
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS)
        force.unref()
      })
      return closing
    }
  }
}

interface EventStreamOptions {
  /** The text of event `index` (the stream's own, or with a burst). */
  eventText: (index: number) => string
  rate: number
  first: number
  last: number
  cutAfterEvents: number | undefined
  totals: { eventsWritten: number, bytesWritten: number, highestEventWritten: number }
  request: IncomingMessage
  response: ServerResponse
}

/** One client's stream: events `first`..`last`, paced and back-pressured. */
class EventStream {
  next: number
  onDone: () => void = () => {}
  private readonly options: EventStreamOptions
  private readonly response: ServerResponse
  private timer: NodeJS.Timeout | null = null
  private immediate: NodeJS.Immediate | null = null
  private waitingForDrain = false
  private done = false
  private tokens = 0
  private lastRefill = 0
  private sentOnConnection = 0

  constructor (options: EventStreamOptions) {
    this.options = options
    this.response = options.response
    this.next = options.first
  }

  start (): void {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    this.response.flushHeaders()
    this.response.on('close', () => this.stop())
    this.response.on('error', () => this.stop())
    this.response.on('drain', () => {
      this.waitingForDrain = false
      this.pump()
    })
    this.lastRefill = performance.now()
    this.pump()
  }

  /** Ends the response (server shutdown). */
  end (): void {
    if (this.done) return
    this.stop()
    this.response.end()
  }

  private stop (): void {
    if (this.done) return
    this.done = true
    if (this.timer !== null) clearTimeout(this.timer)
    if (this.immediate !== null) clearImmediate(this.immediate)
    this.timer = null
    this.immediate = null
    this.onDone()
  }

  private pump (): void {
    if (this.done || this.waitingForDrain) return
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.next > this.options.last) {
      this.stop()
      this.response.end()
      return
    }
    if (this.options.rate === 0) this.pumpUnpaced()
    else this.pumpPaced()
  }

  private pumpUnpaced (): void {
    for (let writes = 0; writes < WRITES_BEFORE_YIELD; writes++) {
      if (!this.writeEvents(MAX_EVENTS_PER_WRITE, MAX_BYTES_PER_WRITE)) return
    }
    this.immediate = setImmediate(() => {
      this.immediate = null
      this.pump()
    })
  }

  private pumpPaced (): void {
    const now = performance.now()
    const { rate } = this.options
    const capacity = Math.max(1, rate * BUCKET_SECONDS)
    this.tokens = Math.min(capacity, this.tokens + (now - this.lastRefill) * rate / 1000)
    this.lastRefill = now
    for (let writes = 0; this.tokens >= 1; writes++) {
      if (writes === WRITES_BEFORE_YIELD) {
        // A rate above what one pass can generate: let other connections and I/O run, then go on.
        this.immediate = setImmediate(() => {
          this.immediate = null
          this.pump()
        })
        return
      }
      const events = Math.min(Math.floor(this.tokens), MAX_EVENTS_PER_WRITE)
      this.tokens -= events
      if (!this.writeEvents(events, Number.POSITIVE_INFINITY)) return
    }
    // Sleep until the next token, but at least a tick, so batches stay small and regular.
    const wait = Math.max(TICK_MS, Math.ceil((1 - this.tokens) * 1000 / rate))
    this.timer = setTimeout(() => {
      this.timer = null
      this.pump()
    }, Math.min(wait, 1000))
  }

  /**
   * Writes up to `maxEvents` events (fewer past `maxBytes`) in one write.
   * Returns false when the stream should not write more now: it ended, was
   * cut, or the socket is full (then it resumes on 'drain').
   */
  private writeEvents (maxEvents: number, maxBytes: number): boolean {
    const { eventText, last, cutAfterEvents, totals } = this.options
    let text = ''
    let events = 0
    let cut = false
    while (events < maxEvents && this.next <= last && text.length < maxBytes) {
      if (cutAfterEvents !== undefined && this.sentOnConnection === cutAfterEvents) {
        cut = true
        break
      }
      text += eventText(this.next)
      this.next++
      this.sentOnConnection++
      events++
    }
    let bytes = Buffer.from(text, 'utf8')
    if (cut) {
      // Half of the next event's bytes, as a dropped connection would leave it (possibly mid-character).
      const event = Buffer.from(eventText(this.next), 'utf8')
      bytes = Buffer.concat([bytes, event.subarray(0, event.length >> 1)])
    }
    if (bytes.length > 0) {
      totals.eventsWritten += events
      totals.bytesWritten += bytes.length
      totals.highestEventWritten = Math.max(totals.highestEventWritten, this.next - 1)
      if (!this.response.write(bytes)) this.waitingForDrain = true
    }
    if (cut) {
      this.stop()
      // End the socket, not the response: the client sees the body stop without its chunked terminator.
      this.response.socket?.end()
      return false
    }
    if (this.next > last) {
      this.stop()
      this.response.end()
      return false
    }
    return !this.waitingForDrain
  }
}
