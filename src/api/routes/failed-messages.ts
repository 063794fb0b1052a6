import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Forbidden, STORE_ROUTE_ERRORS, Unauthorized } from '../schemas/common.js'
import { DEFAULT_FAILED_LIMIT, FailedList, FailedQuery } from '../schemas/stats.js'

/** GET /stats/failedMessages (admin only). */
const failedMessagesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/stats/failedMessages', {
    onRequest: app.requireAdmin,
    schema: {
      summary: 'The most recent failed messages',
      description: 'Lines or events that could not be read, newest first, with the raw text (cut at 2 KiB), the reason and the arrival time (ISO 8601). Holds raw user text: with ADMIN_TOKEN set it needs `Authorization: Bearer <ADMIN_TOKEN>` (401 otherwise); with ADMIN_TOKEN unset it answers only loopback clients (403 otherwise).',
      tags: ['admin'],
      security: [{ adminToken: [] }],
      querystring: FailedQuery,
      response: { 200: FailedList, 401: Unauthorized, 403: Forbidden, ...STORE_ROUTE_ERRORS }
    }
  }, async (request) => {
    const failed = await app.statsReader.failedMessages(request.query.limit ?? DEFAULT_FAILED_LIMIT)
    return failed.map((f) => ({ raw: f.raw, reason: f.reason, at: new Date(f.at).toISOString() }))
  })
}

export default failedMessagesRoutes
