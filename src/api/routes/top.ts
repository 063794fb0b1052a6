import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import type { Category, WindowName } from '../../store/types.js'
import type { RouteDeps } from '../app.js'
import { DEFAULT_LIMIT, STORE_ROUTE_ERRORS } from '../schemas/common.js'
import { EmoteList, NickList, NicksQuery, PlainTopQuery, RoomList, WordList, WordsQuery } from '../schemas/stats.js'

/**
 * Says which window an answer covers and, for a sliding window, when it was
 * computed (all-time answers change with every flush, so no date is given).
 */
export function setWindowHeaders (reply: FastifyReply, window: WindowName, nowMs: number): void {
  reply.header('x-stats-window', window)
  if (window !== 'all') reply.header('last-modified', new Date(nowMs).toUTCString())
}

const ORDER = 'Sorted by count descending, ties by value ascending in code-point order (the byte order of UTF-8).'
const WINDOWS = '`window` is all time (default) or the last 1m, 5m, 15m, 1h or 24h up to now, including the bucket being filled (buckets of 1/60 of the window); windowed answers carry Last-Modified, every answer X-Stats-Window.'

const TOP_DOCS: Record<Category, { summary: string, what: string }> = {
  words: { summary: 'Top words', what: 'Most used words of chat messages (NFC, lower-cased, edge punctuation stripped). `stopwords=exclude` leaves out common words of major languages and still returns `limit` entries when that many others exist.' },
  nicks: { summary: 'Top nicks', what: 'Nicks that sent the most chat messages. `bots=exclude` leaves out known chat bots (case-insensitive) and still returns `limit` entries when that many others exist.' },
  rooms: { summary: 'Top rooms', what: 'Rooms with the most chat messages.' },
  emotes: { summary: 'Top emotes', what: 'Most used emotes (from the `emotes` tag, verbatim).' }
}

function describe (category: Category): { summary: string, description: string, tags: string[] } {
  const { summary, what } = TOP_DOCS[category]
  return { summary, description: `${what} ${ORDER} ${WINDOWS}`, tags: ['top'] }
}

/** GET /stats/words, /stats/nicks, /stats/rooms, /stats/emotes. */
const topRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { reader, clock }) => {
  app.get('/stats/words', {
    schema: { ...describe('words'), querystring: WordsQuery, response: { 200: WordList, ...STORE_ROUTE_ERRORS } }
  }, async (request, reply) => {
    const window = request.query.window ?? 'all'
    const list = await reader.top('words', { window, limit: request.query.limit ?? DEFAULT_LIMIT, stopwords: request.query.stopwords })
    setWindowHeaders(reply, window, clock())
    return list
  })

  app.get('/stats/nicks', {
    schema: { ...describe('nicks'), querystring: NicksQuery, response: { 200: NickList, ...STORE_ROUTE_ERRORS } }
  }, async (request, reply) => {
    const window = request.query.window ?? 'all'
    const list = await reader.top('nicks', { window, limit: request.query.limit ?? DEFAULT_LIMIT, bots: request.query.bots })
    setWindowHeaders(reply, window, clock())
    return list
  })

  app.get('/stats/rooms', {
    schema: { ...describe('rooms'), querystring: PlainTopQuery, response: { 200: RoomList, ...STORE_ROUTE_ERRORS } }
  }, async (request, reply) => {
    const window = request.query.window ?? 'all'
    const list = await reader.top('rooms', { window, limit: request.query.limit ?? DEFAULT_LIMIT })
    setWindowHeaders(reply, window, clock())
    return list
  })

  app.get('/stats/emotes', {
    schema: { ...describe('emotes'), querystring: PlainTopQuery, response: { 200: EmoteList, ...STORE_ROUTE_ERRORS } }
  }, async (request, reply) => {
    const window = request.query.window ?? 'all'
    const list = await reader.top('emotes', { window, limit: request.query.limit ?? DEFAULT_LIMIT })
    setWindowHeaders(reply, window, clock())
    return list
  })
}

export default topRoutes
