import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Errors } from '../errors.js'
import { clientKey } from '../net.js'
import { SeriesBudget } from '../series-budget.js'
import { LIMITED_ON_STORE_READ } from '../plugins/rate-limit.js'
import { NotModified, STORE_ROUTE_ERRORS } from '../schemas/common.js'
import {
  DEFAULT_RATE_WINDOW_SECONDS, DEFAULT_SERIES_WINDOW, MAX_SECOND_SERIES_WINDOW, StatsBody, StatsQuery, Timeseries, TimeseriesQuery
} from '../schemas/stats.js'
import { seriesPoints } from '../services/stats-bodies.js'
import { CACHING_DESCRIPTION, sendSharedAnswer, statsCacheControl } from '../shared-answer.js'

/** GET /stats and GET /stats/timeseries. */
const statsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const budget = new SeriesBudget(app.config.SERIES_POINTS_PER_MINUTE)
  const cacheControl = statsCacheControl(app.config.API_MAX_AGE_SECONDS)
  app.get('/stats', {
    config: LIMITED_ON_STORE_READ,
    schema: {
      summary: 'Global counters and the message rate',
      description: 'Total chat messages, failed messages, system events by command, the first and last write times (ISO 8601, or null) and the mean messages per second over the last `window` complete seconds (the second being filled is left out). ' + CACHING_DESCRIPTION,
      tags: ['stats'],
      querystring: StatsQuery,
      response: { 200: StatsBody, 304: NotModified, ...STORE_ROUTE_ERRORS }
    }
  }, async (request, reply) => {
    const body = await app.statsReader.stats(request.query.window ?? DEFAULT_RATE_WINDOW_SECONDS, app.storeReadAdmission(request, reply))
    return await sendSharedAnswer(request, reply, body, cacheControl, '', body)
  })

  app.get('/stats/timeseries', {
    schema: {
      summary: 'Messages per second or per minute',
      description: `Chat messages per interval over the last \`window\` seconds, oldest first, zero-filled, \`t\` in epoch ms; the last point is the interval being filled. At 1s resolution the window is at most ${MAX_SECOND_SERIES_WINDOW} s (per-second counts are kept a day), at 1m at most 7 days. Each client may fetch SERIES_POINTS_PER_MINUTE points a minute (default 500,000; a day at 1s is 86,400): beyond that, 429 with Retry-After. Large answers are gzip-compressed when the client accepts it.`,
      tags: ['stats'],
      querystring: TimeseriesQuery,
      response: { 200: Timeseries, ...STORE_ROUTE_ERRORS }
    }
  }, async (request) => {
    const resolution = request.query.resolution ?? '1s'
    const window = request.query.window ?? DEFAULT_SERIES_WINDOW
    if (resolution === '1s' && window > MAX_SECOND_SERIES_WINDOW) {
      throw Errors.invalidParameter('querystring/window', `must be <= ${MAX_SECOND_SERIES_WINDOW} when resolution is 1s`)
    }
    const retryAfterSeconds = budget.charge(clientKey(request.ip), seriesPoints(resolution, window))
    if (retryAfterSeconds !== null) throw Errors.seriesBudgetSpent(budget.pointsPerMinute, retryAfterSeconds)
    return await app.statsReader.series(resolution, window)
  })
}

export default statsRoutes
