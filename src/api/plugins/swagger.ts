import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { packageVersion } from '../../version.js'

export const API_TAGS = [
  { name: 'stats', description: 'Global counters, message rate and time series' },
  { name: 'top', description: 'Top lists: words, nicks, rooms, emotes, all time or over a window' },
  { name: 'rooms', description: 'One room\'s drill-down' },
  { name: 'stream', description: 'Live snapshots over Server-Sent Events (feeds the dashboard)' },
  { name: 'admin', description: 'Raw failed messages (ADMIN_TOKEN, or loopback only when unset)' },
  { name: 'health', description: 'Liveness, readiness and Prometheus metrics' }
]

/** OpenAPI 3.1 from the route schemas, Swagger UI at /documentation, the JSON at /documentation/json. */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'chat-stats',
        description: 'Real-time statistics over a live chat firehose: message rate, top words, nicks, rooms and emotes.',
        version: packageVersion()
      },
      tags: API_TAGS,
      components: {
        securitySchemes: {
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN; when it is unset the route answers loopback clients only' }
        }
      }
    }
  })
  await app.register(swaggerUi, {
    routePrefix: '/documentation',
    // No third-party validator badge: the CSP allows images from 'self' only.
    uiConfig: { validatorUrl: null, deepLinking: true },
    // Swagger UI injects one <style> element; allow inline styles on its pages only (scripts stay 'self').
    transformStaticCSP: (header: string) => header.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
  })
}, { name: 'swagger' })
