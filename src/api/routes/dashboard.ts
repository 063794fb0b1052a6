import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'

/** src/dashboard, whether running from src/ (tsx) or dist/src/ (built; src/dashboard ships beside dist). */
function defaultDashboardDir (): string | null {
  for (const relative of ['../../dashboard/', '../../../../src/dashboard/']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url))
    if (existsSync(`${dir}index.html`)) return dir
  }
  return null
}

/**
 * GET / serves the dashboard (src/dashboard/index.html and its assets) when
 * it exists. Placeholder hook: the dashboard's owner fills this file in.
 */
const dashboardRoutes: FastifyPluginAsync<{ dashboardDir?: string | undefined }> = async (app, options) => {
  const root = options.dashboardDir ?? defaultDashboardDir()
  if (root === null || !existsSync(`${root.replace(/\/?$/, '/')}index.html`)) {
    app.log.warn('no dashboard found (src/dashboard/index.html): GET / is not served')
    return
  }
  // No wildcard: unknown paths keep the API's JSON 404.
  await app.register(fastifyStatic, { root, prefix: '/', wildcard: false, index: ['index.html'] })
}

export default dashboardRoutes
