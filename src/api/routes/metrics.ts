import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { METRICS_CONTENT_TYPE, renderMetrics } from '../../metrics.js'
import { TooManyRequests } from '../schemas/common.js'

/** GET /metrics, the Prometheus text exposition of src/metrics.ts. */
const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      description: 'Ingest counters (events by outcome, failed messages, reconnects, flush duration and size, pending updates), store errors, HTTP request durations by route and status, and process metrics, in the Prometheus text format.',
      tags: ['health'],
      response: {
        200: {
          description: 'Prometheus text format 0.0.4',
          content: { 'text/plain': { schema: Type.String({ examples: ['chat_stats_ingest_events_total{outcome="message"} 1284112\n'] }) } }
        },
        429: TooManyRequests
      }
    }
  }, async (_request, reply) => {
    const text = await renderMetrics()
    return await reply.type(METRICS_CONTENT_TYPE).send(text)
  })
}

export default metricsRoutes
