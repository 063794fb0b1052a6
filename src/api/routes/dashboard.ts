import type { FastifyPluginAsync } from 'fastify'
import { dashboardPlugin } from '../../dashboard/plugin.js'

/** GET / and /dashboard/*: the live dashboard (src/dashboard/plugin.ts). `dashboardDir` replaces its public/ folder. */
const dashboardRoutes: FastifyPluginAsync<{ dashboardDir?: string | undefined }> = async (app, options) => {
  await app.register(dashboardPlugin, { publicDir: options.dashboardDir })
}

export default dashboardRoutes
