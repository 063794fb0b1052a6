import type { FastifyBaseLogger } from 'fastify'
import { ApiError, errorBody } from '../errors.js'

/** One live-stream client as a feed sees it: it takes whole SSE frames. */
export interface FeedClient {
  /** Writes `frame` to the client (or drops the client when it is too far behind). */
  send: (frame: Buffer) => void
}

export interface LiveFeedsOptions<P> {
  /** The snapshot a feed sends for `params`, already a plain JSON-able object. */
  snapshot: (params: P) => Promise<unknown>
  /** Between two snapshots of a feed. */
  intervalMs: number
  /** Between two keep-alive comments to every client. */
  keepAliveMs: number
  log: FastifyBaseLogger
}

interface Feed<P> {
  params: P
  clients: Set<FeedClient>
  timer: NodeJS.Timeout
  /** The newest frame and when it was made (performance.now()). */
  last: { frame: Buffer, at: number } | null
  /** The frame being made, shared by every client that waits for it. */
  pending: Promise<Buffer> | null
}

const KEEP_ALIVE_FRAME = Buffer.from(': keep-alive\n\n')

/**
 * The live stream's fan-out: one feed per distinct parameter set, each with
 * one timer that makes one snapshot per tick, serializes it once into an SSE
 * frame and writes that same Buffer to every client of the feed. So N
 * dashboards cost one set of store reads and one JSON.stringify per tick,
 * not N; a client that joins gets the feed's latest frame at once (or waits
 * for the one being made).
 */
export class LiveFeeds<P> {
  private readonly feeds = new Map<string, Feed<P>>()
  private readonly keepAliveTimer: NodeJS.Timeout

  constructor (private readonly options: LiveFeedsOptions<P>) {
    this.keepAliveTimer = setInterval(() => {
      for (const feed of this.feeds.values()) for (const client of feed.clients) client.send(KEEP_ALIVE_FRAME)
    }, options.keepAliveMs)
    this.keepAliveTimer.unref()
  }

  /** Feeds running (distinct parameter sets with at least one client). */
  get size (): number { return this.feeds.size }

  /** Clients of the feed `key`. */
  clientsOf (key: string): number { return this.feeds.get(key)?.clients.size ?? 0 }

  /** Adds `client` to the feed `key` (started for `params` if new) and sends it the latest frame; returns how to leave. */
  join (key: string, params: P, client: FeedClient): () => void {
    let feed = this.feeds.get(key)
    if (feed === undefined) {
      const created: Feed<P> = { params, clients: new Set(), timer: setInterval(() => { void this.tick(created) }, this.options.intervalMs), last: null, pending: null }
      feed = created
      this.feeds.set(key, feed)
    }
    feed.clients.add(client)
    const joined = feed
    const fresh = joined.last !== null && performance.now() - joined.last.at < this.options.intervalMs
    if (fresh) client.send(joined.last!.frame)
    else void this.frame(joined).then((frame) => { if (joined.clients.has(client)) client.send(frame) })
    return () => {
      if (!joined.clients.delete(client) || joined.clients.size > 0) return
      clearInterval(joined.timer)
      if (this.feeds.get(key) === joined) this.feeds.delete(key)
    }
  }

  /** Stops every feed (their clients are ended by the caller). */
  close (): void {
    clearInterval(this.keepAliveTimer)
    for (const feed of this.feeds.values()) clearInterval(feed.timer)
    this.feeds.clear()
  }

  private async tick (feed: Feed<P>): Promise<void> {
    // A snapshot still being made (a slow store) is not asked for twice.
    if (feed.pending !== null) return
    const frame = await this.frame(feed)
    for (const client of feed.clients) client.send(frame)
  }

  /** The frame being made, or a new one: a `stats` event, or an `error` event when the snapshot failed. */
  private async frame (feed: Feed<P>): Promise<Buffer> {
    feed.pending ??= (async () => {
      let text: string
      try {
        text = `event: stats\ndata: ${JSON.stringify(await this.options.snapshot(feed.params))}\n\n`
      } catch (err) {
        const apiError = err instanceof ApiError ? err : null
        if (apiError === null) this.options.log.error({ err }, 'live snapshot failed')
        const body = apiError === null ? errorBody(500, 'Internal Server Error', 'CS_INTERNAL') : errorBody(apiError.statusCode, apiError.message, apiError.code)
        text = `event: error\ndata: ${JSON.stringify(body)}\n\n`
      }
      const frame = Buffer.from(text, 'utf8')
      feed.last = { frame, at: performance.now() }
      feed.pending = null
      return frame
    })()
    return await feed.pending
  }
}
