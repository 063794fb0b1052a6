import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { windowSpec } from '../../store/windows.js'
import { Errors } from '../errors.js'
import { LIMITED_ON_STORE_READ } from '../plugins/rate-limit.js'
import { DEFAULT_LIMIT, NotFound, NotModified, STORE_ROUTE_ERRORS } from '../schemas/common.js'
import { TRENDING_DESCRIPTION, TRENDING_HEADERS, TrendingBody, TrendingQuery } from '../schemas/trending.js'
import { CACHING_DESCRIPTION, sendSharedAnswer, statsCacheControl } from '../shared-answer.js'
import { setWindowHeaders } from '../window-headers.js'

/** GET /stats/trending: words or emotes rising now, stream-wide or in one room (scored by model/trending.ts). */
const trendingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const cacheControl = statsCacheControl(app.config.API_MAX_AGE_SECONDS)
  app.get('/stats/trending', {
    config: LIMITED_ON_STORE_READ,
    schema: {
      summary: 'Trending words or emotes',
      description: `${TRENDING_DESCRIPTION} ${CACHING_DESCRIPTION}`,
      tags: ['top'],
      querystring: TrendingQuery,
      response: { 200: { ...TrendingBody, headers: TRENDING_HEADERS }, 304: NotModified, 404: NotFound, ...STORE_ROUTE_ERRORS }
    }
  }, async (request, reply) => {
    const window = request.query.window ?? '5m'
    const baseline = request.query.baseline ?? '1h'
    if (windowSpec(baseline).seconds <= windowSpec(window).seconds) {
      throw Errors.invalidParameter('querystring/baseline', `must be longer than window (${window}): one of ${['5m', '15m', '1h', '24h'].filter((b) => windowSpec(b as '5m').seconds > windowSpec(window).seconds).join(', ')}`)
    }
    const { room } = request.query
    const params = { kind: request.query.kind ?? 'words', window, baseline, room, limit: request.query.limit ?? DEFAULT_LIMIT }
    const answer = await app.trendingReader.trending(params, app.storeReadAdmission(request, reply))
    if (answer === null) throw Errors.roomNotFound(room ?? '')
    setWindowHeaders(reply, window, app.clock(), answer.maxError)
    reply.header('x-stats-baseline', baseline)
    // One shared read's items are one object: serialized and hashed once, as the top lists are.
    return await sendSharedAnswer(request, reply, answer.items, cacheControl, String(answer.maxError))
  })
}

export default trendingRoutes
