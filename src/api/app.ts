import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyTypeProviderDefault } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { dashboardPlugin } from '../dashboard/plugin.js'
import { createLogger } from '../logger.js'
import { observeHttpRequest } from '../metrics.js'
import type { StatsStore } from '../store/types.js'
import { AnswerReplay, replayBefore } from './answer-replay.js'
import adminAuth from './auth/admin.js'
import { BODY_LIMIT_BYTES, boundedEcho, clientErrorHandler, frameworkErrorBody, frameworkErrors, MAX_PARAM_LENGTH } from './error-answers.js'
import { ApiError, errorBody, REJECTION_CODES } from './errors.js'
import compressPlugin from './plugins/compress.js'
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
import trendingRoutes from './routes/trending.js'
import clockService from './services/clock.js'
import configService from './services/config.js'
import statsReaderService from './services/stats-reader.js'
import streamSlotsService from './services/stream-slots.js'
import trendingReaderService from './services/trending-reader.js'
import workerStatusService, { type WorkerStatus } from './services/worker-status.js'
import { lazyChildLogger, levelEnabled, RequestLog } from './request-log.js'
import { trustProxySetting, trustsAProxy, type TrustProxy } from './trust-proxy.js'
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
  /** Which proxies' X-Forwarded-For to trust; default TRUST_PROXY (unset: none, so clients cannot spoof a loopback address). */
  trustProxy?: TrustProxy
  /** Where the dashboard's index.html lives; default src/dashboard. */
  dashboardDir?: string
  /** 'operations': only /health/* and /metrics (a standalone worker's port). Default 'all'. */
  routes?: 'all' | 'operations'
}

/**
 * The API as a Fastify instance, ready to `listen` or `inject` (docs/API.md).
 * Every route is typed and documented from its TypeBox schemas; store
 * reads are bounded by STORE_TIMEOUT_MS (503 after that); one error handler
 * hides 5xx internals.
 */
export async function buildApp (options: BuildAppOptions): Promise<FastifyInstance> {
  const { config, store } = options
  const trustProxy = options.trustProxy ?? trustProxySetting(config.TRUST_PROXY)
  const app = Fastify({
    loggerInstance: (options.logger ?? createLogger(config)) as FastifyBaseLogger,
    logController: new RequestLog(),
    // request.log's pino child only when a line is written (most requests write none).
    childLoggerFactory: lazyChildLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // A hop count as Fastify applies it (its types leave numbers out): the `hop` nearest addresses are proxies.
    trustProxy: typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Every answer, the framework's own included, in the API's error shape with nothing unbounded echoed.
    frameworkErrors,
    clientErrorHandler,
    schemaErrorFormatter: formatValidationError,
    // Live streams would otherwise hold close() open.
    forceCloseConnections: true
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(strictValidatorCompiler)

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    if ('validation' in err && err.validation !== undefined) {
      return reply.code(400).send(errorBody(400, err.message, 'CS_INVALID_PARAMETER'))
    }
    if (err instanceof ApiError) {
      // Capacity refusals are the client's volume, not a fault: the request log sums them up.
      if (err.statusCode >= 500 && !REJECTION_CODES.has(err.code)) request.log.warn({ err }, err.message)
      return reply.code(err.statusCode).headers(err.headers).send(errorBody(err.statusCode, err.message, err.code))
    }
    const body = frameworkErrorBody(err)
    if (body.statusCode >= 500) request.log.error({ err }, 'request failed')
    return reply.code(body.statusCode).send(body)
  })

  // Callback style, as the hooks on every request are: an async hook costs a promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the URL: unknown paths share one label.
    observeHttpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
    done()
  })

  await app.register(helmetPlugin)
  await app.register(compressPlugin)
  await app.register(corsPlugin, { config })
  await app.register(rateLimitPlugin, { config })
  await app.register(swaggerPlugin)

  // Unknown paths count against the rate limit too, so scanning is throttled.
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, async (request, reply) => {
    return await reply.code(404).send(errorBody(404, `Route ${request.method}:${boundedEcho(request.url.split('?')[0] ?? '')} not found`, 'CS_NOT_FOUND'))
  })

  const answerReplay = new AnswerReplay({ clock: () => app.clock(), quiet: () => !levelEnabled(app.log, 'debug') })
  app.decorate('answerReplay', answerReplay)
  app.addHook('preClose', (done) => {
    answerReplay.close()
    done()
  })

  // Services: decorations of the instance that the routes use (app.statsReader, app.clock, ...).
  await app.register(configService, { config })
  await app.register(clockService, { clock: options.clock })
  await app.register(workerStatusService, { status: options.workerStatus })
  await app.register(statsReaderService, { store })
  await app.register(streamSlotsService)
  await app.register(trendingReaderService, { store })
  await app.register(adminAuth, { behindProxy: trustsAProxy(trustProxy) })

  if (options.routes !== 'operations') {
    await app.register(statsRoutes)
    await app.register(topRoutes)
    await app.register(roomRoutes)
    await app.register(trendingRoutes)
    await app.register(failedMessagesRoutes)
    await app.register(streamRoutes)
    await app.register(dashboardPlugin, { publicDir: options.dashboardDir })
  }
  await app.register(healthRoutes)
  await app.register(metricsRoutes)

  await app.ready()
  // Answers of shared reads replayed to identical requests before Fastify (AnswerReplay); Fastify answers once closing starts.
  replayBefore(app.server, answerReplay)
  // Callers see a plain FastifyInstance; the TypeBox provider only matters inside the routes.
  return app.withTypeProvider<FastifyTypeProviderDefault>()
}
