import cors from '@fastify/cors'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'

/** The origins CORS_ORIGIN allows: `*`, or a comma-separated list; null when unset (no CORS headers at all). */
export function corsOrigins (corsOrigin: string | undefined): '*' | string[] | null {
  if (corsOrigin === undefined) return null
  const origins = corsOrigin.split(',').map((o) => o.trim()).filter((o) => o !== '')
  if (origins.length === 0) return null
  return origins.includes('*') ? '*' : origins
}

/** CORS from CORS_ORIGIN for the read-only API (GET/HEAD); unset: not registered. */
export default fp<{ config: Config }>(async (app, { config }) => {
  const origins = corsOrigins(config.CORS_ORIGIN)
  if (origins === null) return
  await app.register(cors, {
    origin: origins,
    methods: ['GET', 'HEAD', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Last-Event-ID', 'Cache-Control'],
    exposedHeaders: ['Last-Modified', 'X-Stats-Window', 'X-Stats-Max-Error', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 600
  })
}, { name: 'cors' })
