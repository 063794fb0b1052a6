import fp from 'fastify-plugin'
import type { Config } from '../../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The validated configuration the API was built with. */
    config: Config
  }
}

/** Decorates the instance with `config`, validated by the entry point (src/config.ts). */
export default fp<{ config: Config }>(async (app, { config }) => {
  app.decorate('config', config)
}, { name: 'config' })
