import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { ApiError } from '../errors.js'
import { clientKey, isLoopback } from '../net.js'
import type { Admit } from '../services/shared-reads.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The rate limiter as a check the routes answered from shared reads run
     * before a store read of their own (StatsReader's and TrendingReader's
     * `admit`): it counts the request against RATE_LIMIT_MAX, sets the
     * X-RateLimit headers, and throws the 429 past the limit.
     */
    storeReadAdmission: (request: FastifyRequest, reply: FastifyReply) => Admit
  }
}

/**
 * The route `config` of the routes answered from shared reads (GET /stats,
 * the top lists, a room, trending): no rate-limit hook on every request; the
 * route charges the limiter through `storeReadAdmission` when the request
 * starts a store read (README.md#limits-per-client, ARCHITECTURE.md).
 */
export const LIMITED_ON_STORE_READ = { rateLimit: false } as const

/**
 * RATE_LIMIT_MAX requests per minute per client: its address (behind a
 * trusted proxy, the one X-Forwarded-For gives), an IPv6 one by its /64.
 * Every route counts every request, except the routes of
 * LIMITED_ON_STORE_READ, which count the requests that read the store (an
 * answer shared from a read less than API_CACHE_MS old is not counted).
 * Health checks from loopback (a container's or orchestrator's probe) are
 * never limited.
 */
export default fp<{ config: Config }>(async (app, { config }) => {
  await app.register(rateLimit, {
    global: true,
    max: config.RATE_LIMIT_MAX,
    timeWindow: 60_000,
    keyGenerator: (request) => clientKey(request.ip),
    allowList: (request) => isLoopback(request.ip) && request.url.startsWith('/health/'),
    errorResponseBuilder: (_request, context) =>
      new ApiError('CS_RATE_LIMITED', context.statusCode, `Rate limit exceeded, retry in ${context.after}`)
  })
  // The global limiter (same store, same count per client), called from the route instead of a hook.
  const check = app.rateLimit()
  app.decorate('storeReadAdmission', (request: FastifyRequest, reply: FastifyReply): Admit => async () => { await check.call(app, request, reply) })
}, { name: 'rate-limit' })
