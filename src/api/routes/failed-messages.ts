import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { RouteDeps } from '../app.js'
import { Errors } from '../errors.js'
import { isLoopback } from '../net.js'
import { Forbidden, STORE_ROUTE_ERRORS, Unauthorized } from '../schemas/common.js'
import { DEFAULT_FAILED_LIMIT, FailedList, FailedQuery } from '../schemas/stats.js'

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i

function digest (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/**
 * The admin rule (SPEC section 5): with ADMIN_TOKEN set, `Authorization:
 * Bearer <token>` is required (compared in constant time over SHA-256
 * digests, so lengths leak nothing either); without it, loopback clients only.
 */
export function adminGuard (adminToken: string | undefined): (request: FastifyRequest) => Promise<void> {
  const expected = adminToken === undefined ? null : digest(adminToken)
  return async (request) => {
    if (expected === null) {
      if (!isLoopback(request.ip)) throw Errors.adminLoopbackOnly()
      return
    }
    const header = request.headers.authorization
    const match = header === undefined ? null : BEARER.exec(header)
    if (match?.[1] === undefined) throw Errors.adminTokenRequired('missing')
    if (!timingSafeEqual(digest(match[1]), expected)) throw Errors.adminTokenRequired('invalid')
  }
}

/** GET /stats/failedMessages (admin only). */
const failedMessagesRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { reader, config }) => {
  app.get('/stats/failedMessages', {
    onRequest: adminGuard(config.ADMIN_TOKEN),
    schema: {
      summary: 'The most recent failed messages',
      description: 'Lines or events that could not be read, newest first, with the raw text (cut at 2 KiB), the reason and the arrival time (ISO 8601). Holds raw user text: with ADMIN_TOKEN set it needs `Authorization: Bearer <ADMIN_TOKEN>` (401 otherwise); with ADMIN_TOKEN unset it answers only loopback clients (403 otherwise).',
      tags: ['admin'],
      security: [{ adminToken: [] }],
      querystring: FailedQuery,
      response: { 200: FailedList, 401: Unauthorized, 403: Forbidden, ...STORE_ROUTE_ERRORS }
    }
  }, async (request) => {
    const failed = await reader.failedMessages(request.query.limit ?? DEFAULT_FAILED_LIMIT)
    return failed.map((f) => ({ raw: f.raw, reason: f.reason, at: new Date(f.at).toISOString() }))
  })
}

export default failedMessagesRoutes
