import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { StatsStore } from '../store/types.js'
import { buildApp, type WorkerStatus } from './app.js'
import type { TrustProxy } from './trust-proxy.js'

export interface StartApiServerOptions {
  config: Config
  store: StatsStore
  logger: Logger
  workerStatus?: () => WorkerStatus
  /** Which proxies' X-Forwarded-For to trust; default TRUST_PROXY. */
  trustProxy?: TrustProxy
  /** 'operations': only /health/* and /metrics (a standalone worker). Default 'all'. */
  routes?: 'all' | 'operations'
  /** Port to listen on instead of NODE_PORT. */
  port?: number
}

export interface ApiServer {
  app: FastifyInstance
  /** The address listened on, e.g. http://127.0.0.1:3000. */
  address: string
  /** Stops accepting connections, ends live streams, waits for answers in flight. Idempotent. Does not close the store. */
  close: () => Promise<void>
}

/** Builds the API and listens on NODE_HOST:NODE_PORT (or `port`). */
export async function startApiServer (options: StartApiServerOptions): Promise<ApiServer> {
  const app = await buildApp({
    config: options.config,
    store: options.store,
    logger: options.logger,
    workerStatus: options.workerStatus,
    trustProxy: options.trustProxy,
    routes: options.routes
  })
  let address: string
  try {
    address = await app.listen({ host: options.config.NODE_HOST, port: options.port ?? options.config.NODE_PORT })
  } catch (err) {
    await app.close()
    throw err
  }
  let closing: Promise<void> | null = null
  return {
    app,
    address,
    close: async () => {
      closing ??= app.close()
      await closing
    }
  }
}
