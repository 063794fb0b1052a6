import { STATUS_CODES } from 'node:http'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyTypeProviderDefault } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { dashboardPlugin } from '../dashboard/plugin.js'
import { createLogger } from '../logger.js'
import { observeHttpRequest } from '../metrics.js'
import type { StatsStore } from '../store/types.js'
import adminAuth from './auth/admin.js'
import { ApiError, errorBody } from './errors.js'
import corsPlugin from './plugins/cors.js'
import helmetPlugin from './plugins/helmet.js'
import rateLimitPlugin from './plugins/rate-limit.js'
import swaggerPlugin from './plugins/swagger.js'
import failedMessagesRoutes from './routes/failed-messages.js'
import healthRoutes from './routes/health.js'
import metricsRoutes from './routes/metrics.js'
import roomRoutes from './routes/rooms.js'
import statsRoutes from './routes/stats.js'
import streamRoutes from './routes/stream.js'
import topRoutes from './routes/top.js'
import clockService from './services/clock.js'
import configService from './services/config.js'
import statsReaderService from './services/stats-reader.js'
import workerStatusService, { type WorkerStatus } from './services/worker-status.js'
import { formatValidationError, strictValidatorCompiler } from './validation.js'

export type { WorkerStatus } from './services/worker-status.js'

export interface BuildAppOptions {
  config: Config
  store: StatsStore
  /** Defaults to createLogger(config). */
  logger?: Logger
  /** Epoch ms; default Date.now. Pass the store's clock in tests. */
  clock?: () => number
  /** The in-process worker's state (`chat-stats start`); absent when the API runs alone. */
  workerStatus?: () => WorkerStatus
  /** Trust X-Forwarded-For (behind a reverse proxy); default false, so clients cannot spoof a loopback address. */
  trustProxy?: boolean
  /** Where the dashboard's index.html lives; default src/dashboard. */
  dashboardDir?: string
  /** 'operations': only /health/* and /metrics (a standalone worker's port). Default 'all'. */
  routes?: 'all' | 'operations'
}

/** A GET-only API: no request needs a body. */
const BODY_LIMIT_BYTES = 1024

/**
 * The API as a Fastify instance, ready to `listen` or `inject` (SPEC section
 * 2). Every route is typed and documented from its TypeBox schemas; store
 * reads are bounded by STORE_TIMEOUT_MS (503 after that); one error handler
 * hides 5xx internals.
 */
export async function buildApp (options: BuildAppOptions): Promise<FastifyInstance> {
  const { config, store } = options
  const app = Fastify({
    loggerInstance: (options.logger ?? createLogger(config)) as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: options.trustProxy ?? false,
    // Room names are short; longer params are refused before any store work.
    routerOptions: { maxParamLength: 200 },
    schemaErrorFormatter: formatValidationError,
    // Live streams would otherwise hold close() open.
    forceCloseConnections: true
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(strictValidatorCompiler)

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    if ('validation' in err && err.validation !== undefined) {
      return reply.code(400).send(errorBody(400, err.message, 'CS_INVALID_PARAMETER'))
    }
    const statusCode = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    if (err instanceof ApiError) {
      if (statusCode >= 500) request.log.warn({ err }, err.message)
      return reply.code(statusCode).headers(err.headers).send(errorBody(statusCode, err.message, err.code))
    }
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed')
      return reply.code(statusCode).send(errorBody(statusCode, STATUS_CODES[statusCode] ?? 'Internal Server Error'))
    }
    return reply.code(statusCode).send(errorBody(statusCode, err.message, err.code))
  })

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the URL: unknown paths share one label.
    observeHttpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
  })

  await app.register(helmetPlugin)
  await app.register(corsPlugin, { config })
  await app.register(rateLimitPlugin, { config })
  await app.register(swaggerPlugin)

  // Unknown paths count against the rate limit too, so scanning is throttled.
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, async (request, reply) => {
    return await reply.code(404).send(errorBody(404, `Route ${request.method}:${request.url.split('?')[0] ?? ''} not found`, 'CS_NOT_FOUND'))
  })

  // Services: decorations of the instance that the routes use (app.statsReader, app.clock, ...).
  await app.register(configService, { config })
  await app.register(clockService, { clock: options.clock })
  await app.register(workerStatusService, { status: options.workerStatus })
  await app.register(statsReaderService, { store })
  await app.register(adminAuth)

  if (options.routes !== 'operations') {
    await app.register(statsRoutes)
    await app.register(topRoutes)
    await app.register(roomRoutes)
    await app.register(failedMessagesRoutes)
    await app.register(streamRoutes)
    await app.register(dashboardPlugin, { publicDir: options.dashboardDir })
  }
  await app.register(healthRoutes)
  await app.register(metricsRoutes)

  await app.ready()
  // Callers see a plain FastifyInstance; the TypeBox provider only matters inside the routes.
  return app.withTypeProvider<FastifyTypeProviderDefault>()
}
