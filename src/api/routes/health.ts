import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Errors } from '../errors.js'
import { ServiceUnavailable, TooManyRequests } from '../schemas/common.js'

const Live = Type.Object({ status: Type.Literal('ok') }, { examples: [{ status: 'ok' }] })

const Ready = Type.Object({
  status: Type.Literal('ready'),
  store: Type.Literal('ok'),
  worker: Type.Union([
    Type.Object({ connected: Type.Boolean(), role: Type.Enum(['active', 'standby', 'none']) }),
    Type.Null()
  ], { description: 'The in-process worker, or null when the API runs alone' })
}, { examples: [{ status: 'ready', store: 'ok', worker: { connected: true, role: 'active' } }] })

/** GET /health/live and GET /health/ready. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health/live', {
    schema: {
      summary: 'Liveness',
      description: 'Answers 200 while the process serves HTTP; touches nothing else. Not rate-limited from loopback.',
      tags: ['health'],
      response: { 200: Live, 429: TooManyRequests }
    }
  }, async () => ({ status: 'ok' as const }))

  app.get('/health/ready', {
    schema: {
      summary: 'Readiness',
      description: 'Answers 200 when the store answers a ping within STORE_TIMEOUT_MS and, when a worker runs in this process, it is connected to the stream or standing by; else 503 with the reason. Not rate-limited from loopback.',
      tags: ['health'],
      response: { 200: Ready, 429: TooManyRequests, 503: ServiceUnavailable }
    }
  }, async () => {
    await app.statsReader.ping()
    const worker = app.workerStatus()
    if (worker !== null && !worker.connected && worker.role !== 'standby') throw Errors.workerNotReady(worker.role)
    return { status: 'ready' as const, store: 'ok' as const, worker }
  })
}

export default healthRoutes
