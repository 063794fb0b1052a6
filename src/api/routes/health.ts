import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Errors } from '../errors.js'
import { ServiceUnavailable, TooManyRequests } from '../schemas/common.js'

const Live = Type.Object({ status: Type.Literal('ok') }, { examples: [{ status: 'ok' }] })

const Ready = Type.Object({
  status: Type.Literal('ready'),
  store: Type.Literal('ok'),
  worker: Type.Union([
    Type.Object({
      connected: Type.Boolean(),
      role: Type.Enum(['active', 'standby', 'none']),
      stalledForMs: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'How long the connected stream has delivered nothing countable, once past STREAM_STALL_MS (then the answer is 503); else null' }))
    }),
    Type.Null()
  ], { description: 'The in-process worker, or null when the API runs alone' })
}, { examples: [{ status: 'ready', store: 'ok', worker: { connected: true, role: 'active', stalledForMs: null } }] })

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
      description: 'Answers 200 when the store answers a ping within STORE_TIMEOUT_MS and, when a worker runs in this process, it is connected to the stream or standing by, and the stream has delivered something countable (a chat message or system event) within STREAM_STALL_MS; else 503 with the reason (CS_WORKER_NOT_READY, CS_STREAM_STALLED). Not rate-limited from loopback.',
      tags: ['health'],
      response: { 200: Ready, 429: TooManyRequests, 503: ServiceUnavailable }
    }
  }, async () => {
    await app.statsReader.ping()
    const worker = app.workerStatus()
    if (worker !== null && !worker.connected && worker.role !== 'standby') throw Errors.workerNotReady(worker.role)
    // Connected is not enough: a stream of failed lines only (an unreadable encoding, a wrong format) counts nothing.
    if (worker?.stalledForMs != null && worker.role === 'active') throw Errors.streamStalled(worker.stalledForMs)
    return { status: 'ready' as const, store: 'ok' as const, worker }
  })
}

export default healthRoutes
