import Fastify from 'fastify'
import { pino } from 'pino'
import { startApiServer } from '../../src/api/server.js'
import { loadConfig } from '../../src/config.js'
import { createStore } from '../../src/runtime.js'
import { CLUSTER_SHARDS, type FromParent, onParentMessage, sendToParent } from './ipc.js'

/**
 * The two HTTP servers the API figure compares: the real API (the same
 * startApiServer as `chat-stats api`, over the Redis store) and a bare
 * Fastify route returning a constant. The rate limit is lifted for the
 * bench: it would answer 429 to autocannon, which is not what is measured.
 */

const storeCalls = new Map<string, number>()

function report (): void {
  (globalThis as { gc?: () => void }).gc?.()
  const memory = process.memoryUsage()
  sendToParent({ type: 'report', rss: memory.rss, heapUsed: memory.heapUsed, external: memory.external, storeCalls: Object.fromEntries(storeCalls) })
}

async function serveApi (message: Extract<FromParent, { type: 'serve-api' }>): Promise<void> {
  const config = loadConfig({
    NODE_ENV: 'production',
    NODE_HOST: '127.0.0.1',
    NODE_PORT: '0',
    LOG_LEVEL: 'silent',
    ...(message.store === 'cluster' ? { REDIS_CLUSTER_NODES: message.redisUrl, STORE_SHARDS: String(CLUSTER_SHARDS) } : { REDIS_URL: message.redisUrl }),
    REDIS_NAMESPACE: message.namespace,
    RATE_LIMIT_MAX: String(Number.MAX_SAFE_INTEGER),
    // The fan-out figure opens every live-stream slot from loopback.
    STREAMS_PER_CLIENT: '1000'
  }, null)
  const logger = pino({ level: 'silent' })
  const { store: realStore } = createStore(config, logger)
  await realStore.open()
  // Store reads counted by method, so the fan-out figure can show reads per tick.
  const store = new Proxy(realStore, {
    get (target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown
      if (typeof value !== 'function' || typeof name !== 'string') return value
      return (...args: unknown[]) => {
        storeCalls.set(name, (storeCalls.get(name) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  })
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
  else if (message.type === 'report') report()
  else if (message.type === 'stop') process.exit(0)
})
