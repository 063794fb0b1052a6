import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Errors } from '../errors.js'
import { LIMITED_ON_STORE_READ } from '../plugins/rate-limit.js'
import { DEFAULT_LIMIT, NotFound, NotModified, STORE_ROUTE_ERRORS, withWindowedAnswerHeaders } from '../schemas/common.js'
import { RoomBody, RoomParams, RoomQuery } from '../schemas/stats.js'
import { CACHING_DESCRIPTION, sendSharedAnswer, statsCacheControl } from '../shared-answer.js'
import { setWindowHeaders } from '../window-headers.js'

/** GET /stats/rooms/:room, one room's drill-down. */
const roomRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const cacheControl = statsCacheControl(app.config.API_MAX_AGE_SECONDS)
  app.get('/stats/rooms/:room', {
    config: LIMITED_ON_STORE_READ,
    schema: {
      summary: 'One room\'s drill-down',
      description: 'Messages, message rate, top words, nicks and emotes, and moderation events (CLEARCHAT, CLEARMSG, ...) by command of one room, all time or over a window. The room is given as counted, `#` URL-encoded: `/stats/rooms/%23forsen`. messagesPerSecond is messages / window seconds (while the room was first seen more recently than the window, / the seconds since firstSeenAt, at least 1), or for `all` the rate over the last minute; firstSeenAt is when the room\'s drill-down detail starts (null when unknown: then the seconds since the stream started stand in for it while the room has no older message). Takes the top-list parameters, `stopwords` for its words and `bots` for its nicks. Answers carry X-Stats-Window, Last-Modified for a sliding window, and X-Stats-Max-Error: the largest bound of its three lists (0 while exact). A room never seen is a 404. ' + CACHING_DESCRIPTION,
      tags: ['rooms'],
      params: RoomParams,
      querystring: RoomQuery,
      response: { 200: withWindowedAnswerHeaders(RoomBody), 304: NotModified, 404: NotFound, ...STORE_ROUTE_ERRORS }
    }
  }, async (request, reply) => {
    const { room } = request.params
    const window = request.query.window ?? 'all'
    const answer = await app.statsReader.room(room, {
      window,
      limit: request.query.limit ?? DEFAULT_LIMIT,
      stopwords: request.query.stopwords,
      bots: request.query.bots
    }, app.storeReadAdmission(request, reply))
    if (answer === null) throw Errors.roomNotFound(room)
    setWindowHeaders(reply, window, app.clock(), answer.maxError)
    return await sendSharedAnswer(request, reply, answer.body, cacheControl, String(answer.maxError), answer)
  })
}

export default roomRoutes
