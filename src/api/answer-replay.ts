import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { observeHttpRequest } from '../metrics.js'
import { COMPRESS_MIN_BYTES } from './plugins/compress.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Answers of shared reads replayed before Fastify (AnswerReplay); sendSharedAnswer keeps them. */
    answerReplay: AnswerReplay
  }
}

/** At most this many URLs are replayed at once; past it, new answers are not kept (expired ones are dropped first). */
export const MAX_REPLAYED_URLS = 256

/** Headers a replayed answer never repeats: the rate limiter's count belongs to the request that read the store. */
const NOT_REPLAYED = /^x-ratelimit-/

/** Request headers that make an answer depend on more than the URL: such requests take the whole way through Fastify. */
const CONDITIONAL_HEADERS = ['if-none-match', 'origin', 'content-length', 'transfer-encoding', 'expect'] as const

interface Replayed {
  /** The route pattern, for the request metric. */
  route: string
  headers: Record<string, string | number | string[]>
  body: Buffer
  /** True while the answer is still what the route would send (StatsReader.isShared). */
  current: () => boolean
  /** Windowed answers carry Last-Modified, set per request from the clock as the route sets it. */
  lastModified: boolean
}

export interface AnswerReplayOptions {
  /** Epoch ms, for Last-Modified (the route's clock). */
  clock: () => number
  /** False while a request's lines would be logged at its level (debug): those requests take the route, which writes them. */
  quiet: () => boolean
}

/**
 * Answers of shared reads replayed at the HTTP server, before Fastify: a
 * GET whose URL was answered by a shared-answer route (sendSharedAnswer),
 * while that answer is still the one an identical request would be given
 * without a store read (younger than API_CACHE_MS, or the previous answer
 * while a newer read is in flight, within API_STALE_MS; StatsReader.isShared), gets
 * the same status, headers and bytes again, without routing, hooks,
 * validation or the handler. Everything those would add is the same for
 * every such request: the security headers and CORS headers (set before
 * the route ran), the window headers, ETag, Cache-Control; Last-Modified is
 * set from the clock as the route sets it; the rate-limit headers are left
 * out (a shared answer is not charged, README.md#limits-per-client), and
 * the request is counted in the HTTP metric under its route. A request the
 * answer could differ for takes the whole way: a conditional one
 * (If-None-Match: 304), a CORS one (Origin), one with a body, any method
 * but GET, and any while the server is closing or the request log writes
 * a line per request. Answers large enough to be compressed are not kept.
 */
export class AnswerReplay {
  private readonly byUrl = new Map<string, Replayed>()
  private closing = false
  private lastModifiedSecond = Number.NaN
  private lastModifiedText = ''

  constructor (private readonly options: AnswerReplayOptions) {}

  /** Stops replaying (the server is closing: Fastify's own path answers and closes connections). */
  close (): void {
    this.closing = true
    this.byUrl.clear()
  }

  /**
   * Keeps what `reply` is about to send for `request`'s URL: `body` with the
   * reply's headers so far, while `current()` holds. Only plain GETs that
   * could be replayed are kept.
   */
  keep (request: FastifyRequest, reply: FastifyReply, body: Buffer, current: () => boolean): void {
    if (this.closing || request.method !== 'GET' || !replayable(request.raw) || !this.options.quiet()) return
    const url = request.raw.url
    // Larger answers may be gzip-compressed for clients that accept it (plugins/compress.ts): never replayed.
    if (url === undefined || reply.statusCode !== 200 || reply.hasHeader('content-encoding') || body.length >= COMPRESS_MIN_BYTES) return
    const headers: Record<string, string | number | string[]> = {}
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined && !NOT_REPLAYED.test(name)) headers[name] = value
    }
    headers['content-length'] = String(body.length)
    if (this.byUrl.size >= MAX_REPLAYED_URLS && !this.byUrl.has(url)) {
      for (const [key, entry] of this.byUrl) if (!entry.current()) this.byUrl.delete(key)
      if (this.byUrl.size >= MAX_REPLAYED_URLS) return
    }
    this.byUrl.set(url, { route: request.routeOptions.url ?? 'unmatched', headers, body, current, lastModified: 'last-modified' in headers })
  }

  /** Answers `req` from a kept answer and returns true, or returns false (nothing written): the request goes to Fastify. */
  serve (req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' || this.closing) return false
    const entry = this.byUrl.get(req.url ?? '')
    if (entry === undefined) return false
    if (!entry.current()) {
      this.byUrl.delete(req.url ?? '')
      return false
    }
    if (!replayable(req) || !this.options.quiet()) return false
    const started = performance.now()
    let headers = entry.headers
    if (entry.lastModified) headers = { ...headers, 'last-modified': this.httpDate() }
    res.writeHead(200, headers)
    res.end(entry.body)
    observeHttpRequest('GET', entry.route, 200, (performance.now() - started) / 1000)
    return true
  }

  /** The clock's time as an HTTP date, formatted once a second. */
  private httpDate (): string {
    const now = this.options.clock()
    const second = Math.floor(now / 1000)
    if (second !== this.lastModifiedSecond) {
      this.lastModifiedSecond = second
      this.lastModifiedText = new Date(now).toUTCString()
    }
    return this.lastModifiedText
  }
}

function replayable (req: IncomingMessage): boolean {
  const headers = req.headers
  for (const name of CONDITIONAL_HEADERS) if (headers[name] !== undefined) return false
  return true
}

/**
 * Puts `replay` in front of the server's request handler (Fastify's): a
 * request it answers never reaches Fastify. The handler stays Fastify's own,
 * with every server setting Fastify made.
 */
export function replayBefore (server: Server, replay: AnswerReplay): void {
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  if (handlers.length !== 1) throw new Error(`expected one request handler on the API server, found ${handlers.length}`)
  const handler = handlers[0]!
  server.removeListener('request', handler)
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!replay.serve(req, res)) handler(req, res)
  })
}
