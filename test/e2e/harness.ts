import type { FastifyInstance } from 'fastify'
import { buildApp, type WorkerStatus } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import { httpSource } from '../../src/ingest/sources.js'
import { createLogger } from '../../src/logger.js'
import { profileShape, startSimulator, type SimulatorHandle } from '../../src/simulator/index.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { StatsStore } from '../../src/store/types.js'
import { Worker } from '../../src/worker/worker.js'

/**
 * The whole product in one process, as `chat-stats start` wires it:
 * simulator -> worker -> embedded store -> API (with the dashboard) on an
 * ephemeral loopback port. Store, worker and API share one clock that a test
 * can move forward, so windowed answers are decided by the test, not by how
 * long the run took.
 */
export interface Stack {
  /** http://127.0.0.1:port (no trailing slash). */
  baseUrl: string
  /** The shared clock, epoch ms. */
  clock: () => number
  /** Moves the shared clock forward by `ms` from now on. */
  advanceClock: (ms: number) => void
  /** Stops the worker (final flush) and the simulator: the store holds everything counted and changes no more. */
  freeze: () => Promise<void>
  /** Closes the API server (live streams end, new connections are refused); the store stays open. */
  stopApi: () => Promise<void>
  /** Starts the API again on the same port and store. */
  startApi: () => Promise<void>
  /** Closes the store under the running API: every read fails from now on (the API answers 503). */
  closeStore: () => Promise<void>
  /** Live streams the API holds open now. */
  openStreams: () => number
  /** GET a JSON path of the API. */
  getJson: <T>(path: string) => Promise<T>
  close: () => Promise<void>
}

export interface StackOptions {
  seed: number
  /** Simulator events per second. */
  rate: number
  /** Settings over the harness's own (e.g. STREAM_LIFETIME_MS). */
  config?: Record<string, string>
  /** Writes into the store before the worker starts (past chat, say), on the shared clock. */
  preload?: (store: StatsStore, clock: () => number) => Promise<void>
}

export async function startStack (options: StackOptions): Promise<Stack> {
  let skewMs = 0
  const clock = (): number => Date.now() + skewMs
  const config = loadConfig({ LOG_LEVEL: 'silent', NODE_ENV: 'test', RATE_LIMIT_MAX: '100000', ...options.config }, null)
  const logger = createLogger(config)

  const store = new MemoryStore({ clock, maxTrackedWords: 100_000, maxTrackedPerRoom: 10_000, snapshotPath: null })
  await store.open()
  await options.preload?.(store, clock)
  let simulator: SimulatorHandle | null = await startSimulator({ seed: options.seed, rate: options.rate, port: 0, host: '127.0.0.1', shape: profileShape('live') })
  const worker = new Worker({ store, source: httpSource(simulator.url, 'sim'), logger, clock, flushIntervalMs: 100 })
  const running = worker.run()
  const workerStatus = (): WorkerStatus => ({
    connected: worker.connected,
    role: worker.role === 'active' ? 'active' : worker.role === 'standby' ? 'standby' : 'none'
  })

  let app: FastifyInstance | null = null
  let port = 0
  const startApi = async (): Promise<void> => {
    const next = await buildApp({ config, store, logger, clock, workerStatus })
    await next.listen({ host: '127.0.0.1', port })
    const address = next.server.address()
    if (address === null || typeof address === 'string') throw new Error('the API did not listen on a TCP port')
    port = address.port
    app = next
  }
  const stopApi = async (): Promise<void> => {
    const current = app
    app = null
    await current?.close()
  }
  await startApi()
  const baseUrl = `http://127.0.0.1:${port}`

  const freeze = async (): Promise<void> => {
    await worker.stop()
    await running
    await simulator?.close()
    simulator = null
  }

  return {
    baseUrl,
    clock,
    advanceClock: (ms) => { skewMs += ms },
    freeze,
    stopApi,
    startApi,
    closeStore: async () => { await store.close() },
    openStreams: () => app?.streamSlots.open ?? 0,
    getJson: async <T>(path: string): Promise<T> => {
      const response = await fetch(`${baseUrl}${path}`)
      if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`)
      return await response.json() as T
    },
    close: async () => {
      await freeze()
      await stopApi()
      await store.close()
    }
  }
}
