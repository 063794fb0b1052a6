import fp from 'fastify-plugin'

/** What the in-process worker reports (present only when API and worker share a process). */
export interface WorkerStatus {
  connected: boolean
  role: 'active' | 'standby' | 'none'
  /** How long the connected stream has delivered nothing countable, once past STREAM_STALL_MS; else null (absent: not tracked). */
  stalledForMs?: number | null
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The in-process worker's state (`chat-stats start`), or null when the API runs alone. */
    workerStatus: () => WorkerStatus | null
  }
}

/** Decorates the instance with `workerStatus`; without a `status` option it always answers null. */
export default fp<{ status?: (() => WorkerStatus) | undefined }>(async (app, options) => {
  const status = options.status
  const read: () => WorkerStatus | null = status === undefined ? () => null : () => status()
  app.decorate('workerStatus', read)
}, { name: 'worker-status' })
