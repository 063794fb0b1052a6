import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { setStreamClients } from '../../metrics.js'
import { ApiError, errorBody, Errors } from '../errors.js'
import { BadRequest, DEFAULT_LIMIT, ServiceUnavailable, TooManyRequests } from '../schemas/common.js'
import { DEFAULT_RATE_WINDOW_SECONDS, StreamQuery } from '../schemas/stats.js'

/** Interval between snapshots. */
export const SNAPSHOT_INTERVAL_MS = 1000
/** A comment line this often keeps proxies from closing an idle-looking connection. */
export const KEEP_ALIVE_INTERVAL_MS = 15_000
/** Live streams served at once; each costs a timer and (shared) store reads every second. */
export const MAX_STREAMS = 1000
/** A client that lets this much pile up unread is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024

const EXAMPLE_EVENT = 'event: stats\ndata: {"stats":{"messagesPerSecond":412.3,...},"top":{"words":[...],...},"maxError":{"words":0,...},"series":[...],"worker":null,"at":1641241341776}\n\n'

/** GET /stats/stream: a snapshot as an SSE `stats` event now and every second after. */
const streamRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const open = new Set<{ stop: () => void, response: ServerResponse }>()

  // Open streams never finish by themselves: end them so close() can complete.
  app.addHook('preClose', async () => {
    for (const stream of [...open]) {
      stream.stop()
      stream.response.end()
    }
  })

  app.get('/stats/stream', {
    schema: {
      summary: 'Live statistics (Server-Sent Events)',
      description: 'A `text/event-stream`: at once and then every second an `event: stats` whose data is a JSON snapshot `{ stats, top: { words, nicks, rooms, emotes }, maxError, series, room?, worker, at }`: `stats` is the GET /stats body (its averaging window is `rateWindow`), `top` the four top lists for `window`, `limit`, `stopwords` and `bots`, `maxError` how far from exact each list can be (`{ words, nicks, rooms, emotes, room? }`, the X-Stats-Max-Error of each; 0 = exact), `series` the last 300 s at 1 s resolution, `room` the drill-down of `?room=` (null while unknown), `worker` the in-process worker or null, `at` epoch ms. A store failure sends `event: error` with a JSON error body and the stream goes on; a `:` comment line every 15 s keeps the connection open.',
      tags: ['stream'],
      querystring: StreamQuery,
      response: {
        200: {
          description: 'The event stream',
          content: { 'text/event-stream': { schema: Type.String({ examples: [EXAMPLE_EVENT] }) } }
        },
        400: BadRequest,
        429: TooManyRequests,
        503: ServiceUnavailable
      }
    }
  }, async (request, reply) => {
    if (open.size >= MAX_STREAMS) throw Errors.tooManyStreams(MAX_STREAMS)
    const { query } = request
    const params = {
      window: query.window ?? 'all',
      limit: query.limit ?? DEFAULT_LIMIT,
      stopwords: query.stopwords,
      bots: query.bots,
      rateWindow: query.rateWindow ?? DEFAULT_RATE_WINDOW_SECONDS,
      room: query.room
    }

    const response = reply.raw
    reply.hijack()
    // Hijacked replies skip Fastify's send: carry over the headers hooks set (helmet, CORS, rate limit).
    const inherited: Record<string, string | number | string[]> = {}
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) inherited[name] = value
    response.writeHead(200, {
      ...inherited,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Tells nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no'
    })
    response.write('retry: 2000\n: connected\n\n')

    let closed = false
    let inFlight = false
    const write = (text: string): void => {
      if (closed) return
      if (response.writableLength > MAX_BUFFERED_BYTES) {
        request.log.warn('live stream client is not reading: closing its stream')
        stop()
        response.destroy()
        return
      }
      response.write(text)
    }
    const sendSnapshot = async (): Promise<void> => {
      if (inFlight || closed) return
      inFlight = true
      try {
        const snapshot = await app.statsReader.snapshot(params, app.workerStatus())
        write(`event: stats\ndata: ${JSON.stringify(snapshot)}\n\n`)
      } catch (err) {
        const apiError = err instanceof ApiError ? err : null
        if (apiError === null) request.log.error({ err }, 'live snapshot failed')
        const body = apiError === null
          ? errorBody(500, 'Internal Server Error', 'CS_INTERNAL')
          : errorBody(apiError.statusCode, apiError.message, apiError.code)
        write(`event: error\ndata: ${JSON.stringify(body)}\n\n`)
      } finally {
        inFlight = false
      }
    }
    const tick = (): void => { void sendSnapshot() }
    const snapshotTimer = setInterval(tick, SNAPSHOT_INTERVAL_MS)
    const keepAliveTimer = setInterval(() => { write(': keep-alive\n\n') }, KEEP_ALIVE_INTERVAL_MS)
    const stream = { stop: () => {}, response }
    const stop = (): void => {
      if (closed) return
      closed = true
      clearInterval(snapshotTimer)
      clearInterval(keepAliveTimer)
      open.delete(stream)
      setStreamClients(open.size)
    }
    stream.stop = stop
    open.add(stream)
    setStreamClients(open.size)
    response.on('close', stop)
    tick()
  })
}

export default streamRoutes
