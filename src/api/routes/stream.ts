import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { recordStreamDrop, setStreamClients } from '../../metrics.js'
import { Errors } from '../errors.js'
import { clientKey } from '../net.js'
import { BadRequest, DEFAULT_LIMIT, ServiceUnavailable, TooManyRequests } from '../schemas/common.js'
import { DEFAULT_RATE_WINDOW_SECONDS, StreamQuery } from '../schemas/stats.js'
import { LiveFeeds } from '../services/live-feeds.js'
import { snapshotKey, type SnapshotParams } from '../services/stats-reader.js'
import { MAX_DISTINCT_SNAPSHOTS, MAX_STREAMS } from '../services/stream-slots.js'

/** Interval between snapshots. */
export const SNAPSHOT_INTERVAL_MS = 1000
/** A comment line this often keeps proxies from closing an idle-looking connection. */
export const KEEP_ALIVE_INTERVAL_MS = 15_000
/** Streams end between 90 % and 100 % of STREAM_LIFETIME_MS, so clients that came together do not all reconnect together. */
const LIFETIME_JITTER = 0.1
const RECONNECT_FRAME = Buffer.from(`event: reconnect\ndata: ${JSON.stringify({ reason: 'the stream reached its lifetime (STREAM_LIFETIME_MS)' })}\n\n`)

const EXAMPLE_EVENT = 'event: stats\ndata: {"stats":{"messagesPerSecond":412.3,...},"top":{"words":[...],...},"maxError":{"words":0,...},"series":[...],"worker":null,"at":1641241341776}\n\n'

/** GET /stats/stream: a snapshot as an SSE `stats` event now and every second after. */
const streamRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const open = new Set<{ stop: () => void, response: ServerResponse }>()
  const slots = app.streamSlots
  const lifetimeMs = app.config.STREAM_LIFETIME_MS
  const maxBufferedBytes = app.config.STREAM_MAX_BUFFERED_BYTES
  const feeds = new LiveFeeds<SnapshotParams>({
    snapshot: async (params) => await app.statsReader.snapshot(params, app.workerStatus()),
    intervalMs: SNAPSHOT_INTERVAL_MS,
    keepAliveMs: KEEP_ALIVE_INTERVAL_MS,
    log: app.log
  })

  // Open streams never finish by themselves: end them so close() can complete.
  app.addHook('preClose', async () => {
    feeds.close()
    for (const stream of [...open]) {
      stream.stop()
      stream.response.end()
    }
  })

  app.get('/stats/stream', {
    schema: {
      summary: 'Live statistics (Server-Sent Events)',
      description: 'A `text/event-stream`: at once and then every second an `event: stats` whose data is a JSON snapshot `{ stats, top: { words, nicks, rooms, emotes }, maxError, series, room?, worker, at }`: `stats` is the GET /stats body (its averaging window is `rateWindow`), `top` the four top lists for `window`, `limit`, `stopwords` and `bots`, `maxError` how far from exact each list can be (`{ words, nicks, rooms, emotes, room? }`, the X-Stats-Max-Error of each; 0 = exact), `series` the last 300 s at 1 s resolution, `room` the drill-down of `?room=` (null while unknown), `worker` the in-process worker or null, `at` epoch ms. A store failure sends `event: error` with a JSON error body and the stream goes on; a `:` comment line every 15 s keeps the connection open. After STREAM_LIFETIME_MS (default 10 min, less up to 10 %) the server sends `event: reconnect` and ends the stream: reconnect at once. Each client holds at most STREAMS_PER_CLIENT streams (429 beyond), and at most 50 different parameter sets are served at once (503 for a new one beyond). HEAD answers the headers and holds nothing.',
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
    // HEAD learns the headers and nothing else: it must not hold a slot (or a socket) open.
    if (request.method === 'HEAD') return await reply.type('text/event-stream; charset=utf-8').header('cache-control', 'no-cache, no-transform').send('')
    const { query } = request
    const params = {
      window: query.window ?? 'all',
      limit: query.limit ?? DEFAULT_LIMIT,
      stopwords: query.stopwords,
      bots: query.bots,
      rateWindow: query.rateWindow ?? DEFAULT_RATE_WINDOW_SECONDS,
      room: query.room
    }
    const key = snapshotKey(params)
    const slot = slots.take(clientKey(request.ip), key)
    if (slot === 'total') throw Errors.tooManyStreams(MAX_STREAMS)
    if (slot === 'client') throw Errors.tooManyStreamsForClient(slots.limits.perClient)
    if (slot === 'snapshots') throw Errors.tooManyStreamVariants(MAX_DISTINCT_SNAPSHOTS)

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
    const stream = { stop: () => {}, response }
    const client = {
      send: (frame: Buffer): void => {
        if (closed) return
        // What the socket has not taken yet stays in memory: past the bound the client is dropped, not buffered.
        if (response.writableLength > maxBufferedBytes) {
          request.log.warn({ bufferedBytes: response.writableLength }, 'live stream client is not reading: closing its stream')
          recordStreamDrop()
          stop()
          response.destroy()
          return
        }
        response.write(frame)
      }
    }
    // A slot is lent, not given: at the end of its lifetime the client is told to come back, and the slot is free again.
    const lifetimeTimer = setTimeout(() => {
      client.send(RECONNECT_FRAME)
      stop()
      response.end()
    }, Math.round(lifetimeMs * (1 - LIFETIME_JITTER * Math.random())))
    let leave = (): void => {}
    const stop = (): void => {
      if (closed) return
      closed = true
      clearTimeout(lifetimeTimer)
      leave()
      slot.release()
      open.delete(stream)
      setStreamClients(open.size)
    }
    stream.stop = stop
    open.add(stream)
    setStreamClients(open.size)
    response.on('close', stop)
    // A client that left before the listener was attached would otherwise keep its slot forever.
    if (response.socket === null || response.socket.destroyed) {
      stop()
      return
    }
    // The feed sends its latest snapshot at once, then one every second.
    leave = feeds.join(key, params, client)
  })
}

export default streamRoutes
