import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { ApiError } from '../errors.js'
import { clientKey, isLoopback } from '../net.js'

/**
 * RATE_LIMIT_MAX requests per minute per client: its address (behind a
 * trusted proxy, the one X-Forwarded-For gives), an IPv6 one by its /64.
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
}, { name: 'rate-limit' })
