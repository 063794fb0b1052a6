import Fastify from 'fastify'
import { pino } from 'pino'
import { startApiServer } from '../../src/api/server.js'
import { loadConfig } from '../../src/config.js'
import { createStore } from '../../src/runtime.js'
import { type FromParent, onParentMessage, sendToParent } from './ipc.js'

/**
 * The two HTTP servers the API figure compares: the real API (the same
 * startApiServer as `chat-stats api`, over the Redis store) and a bare
 * Fastify route returning a constant. The rate limit is lifted for the
 * bench: it would answer 429 to autocannon, which is not what is measured.
 */

async function serveApi (message: Extract<FromParent, { type: 'serve-api' }>): Promise<void> {
  const config = loadConfig({
    NODE_ENV: 'production',
    NODE_HOST: '127.0.0.1',
    NODE_PORT: '0',
    LOG_LEVEL: 'silent',
    REDIS_URL: message.redisUrl,
    REDIS_NAMESPACE: message.namespace,
    RATE_LIMIT_MAX: String(Number.MAX_SAFE_INTEGER)
  }, null)
  const logger = pino({ level: 'silent' })
  const { store } = createStore(config, logger)
  await store.open()
  const server = await startApiServer({ config, store, logger, port: 0 })
  sendToParent({ type: 'listening', url: server.address })
}

async function serveBareApi (): Promise<void> {
  const app = Fastify({ logger: false })
  const body = [{ word: 'kappa', count: 1 }]
  app.get('/constant', async () => body)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  sendToParent({ type: 'listening', url: address })
}

onParentMessage(async (message) => {
  if (message.type === 'serve-api') await serveApi(message)
  else if (message.type === 'serve-bare-api') await serveBareApi()
  else if (message.type === 'stop') process.exit(0)
})
