import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CATEGORIES, type Category, type WindowName } from '../../store/types.js'
import { LIMITED_ON_STORE_READ } from '../plugins/rate-limit.js'
import { DEFAULT_LIMIT, NotModified, STORE_ROUTE_ERRORS, withWindowedAnswerHeaders, type FilterMode } from '../schemas/common.js'
import { TOP_LIST_SCHEMAS, TOP_QUERY_SCHEMAS } from '../schemas/stats.js'
import { CACHING_DESCRIPTION, sendSharedAnswer, statsCacheControl } from '../shared-answer.js'
import { setWindowHeaders } from '../window-headers.js'

const ORDER = 'Sorted by count descending, ties by value ascending in code-point order (the byte order of UTF-8).'
const WINDOWS = '`window` is all time (default) or the last 1m, 5m, 15m, 1h or 24h up to now, including the bucket being filled (buckets of 1/60 of the window); windowed answers carry Last-Modified, every answer X-Stats-Window and X-Stats-Max-Error (0 while exact).'

/** Each top list's route: its summary and what it counts (the query and response schemas come from schemas/stats.ts). */
const TOP_ROUTES: Record<Category, { summary: string, what: string }> = {
  words: { summary: 'Top words', what: 'Most used words of chat messages (NFC, lower-cased, edge punctuation stripped). `stopwords=exclude` leaves out common words of major languages and still returns `limit` entries when that many others exist.' },
  nicks: { summary: 'Top nicks', what: 'Nicks that sent the most chat messages. `bots=exclude` leaves out known chat bots (case-insensitive) and still returns `limit` entries when that many others exist.' },
  rooms: { summary: 'Top rooms', what: 'Rooms with the most chat messages.' },
  emotes: { summary: 'Top emotes', what: 'Most used emotes (from the `emotes` tag, verbatim).' }
}

/** Every top-list query; each route's schema admits only the filters of its category. */
interface TopListQuery {
  window?: WindowName | undefined
  limit?: number | undefined
  stopwords?: FilterMode | undefined
  bots?: FilterMode | undefined
}

/** GET /stats/words, /stats/nicks, /stats/rooms, /stats/emotes: one route per category, all alike. */
const topRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const cacheControl = statsCacheControl(app.config.API_MAX_AGE_SECONDS)
  for (const category of CATEGORIES) {
    const { summary, what } = TOP_ROUTES[category]
    app.get(`/stats/${category}`, {
      config: LIMITED_ON_STORE_READ,
      schema: {
        summary,
        description: `${what} ${ORDER} ${WINDOWS} ${CACHING_DESCRIPTION}`,
        tags: ['top'],
        querystring: TOP_QUERY_SCHEMAS[category],
        response: { 200: withWindowedAnswerHeaders(TOP_LIST_SCHEMAS[category]), 304: NotModified, ...STORE_ROUTE_ERRORS }
      }
    }, async (request, reply) => {
      const query: TopListQuery = request.query
      const window = query.window ?? 'all'
      const answer = await app.statsReader.top(category, { window, limit: query.limit ?? DEFAULT_LIMIT, stopwords: query.stopwords, bots: query.bots }, app.storeReadAdmission(request, reply))
      setWindowHeaders(reply, window, app.clock(), answer.maxError)
      return await sendSharedAnswer(request, reply, answer.items, cacheControl, String(answer.maxError), answer)
    })
  }
}

export default topRoutes
