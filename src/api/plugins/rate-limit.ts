import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { ApiError } from '../errors.js'
import { isLoopback } from '../net.js'

/**
 * RATE_LIMIT_MAX requests per minute per client address. Health checks from
 * loopback (a container's or orchestrator's probe) are never limited.
 */
export default fp<{ config: Config }>(async (app, { config }) => {
  await app.register(rateLimit, {
    global: true,
    max: config.RATE_LIMIT_MAX,
    timeWindow: 60_000,
    allowList: (request) => isLoopback(request.ip) && request.url.startsWith('/health/'),
    errorResponseBuilder: (_request, context) =>
      new ApiError('CS_RATE_LIMITED', context.statusCode, `Rate limit exceeded, retry in ${context.after}`)
  })
}, { name: 'rate-limit' })
