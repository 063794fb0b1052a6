import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** "Now" in epoch ms for every read and header: Date.now, or the store's clock in tests. */
    clock: () => number
  }
}

/** Decorates the instance with `clock` (default Date.now). */
export default fp<{ clock?: (() => number) | undefined }>(async (app, options) => {
  app.decorate('clock', options.clock ?? Date.now)
}, { name: 'clock' })
