import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'

export interface DashboardOptions {
  /** The folder holding index.html, app.js and styles.css; default `public/` beside this module (src/ under tsx, dist/src/ when built). */
  publicDir?: string | undefined
}

/** URL prefix of the page's own assets and of the vendored uPlot files. */
export const DASHBOARD_PREFIX = '/dashboard/'
const UPLOT_PREFIX = `${DASHBOARD_PREFIX}vendor/uplot/`
/** The only uPlot files the page loads. */
const UPLOT_FILES = new Set(['/uPlot.esm.js', '/uPlot.min.css'])

/** uplot/dist inside node_modules, found the way Node resolves the package. */
function uplotDistDir (): string {
  const require = createRequire(import.meta.url)
  return dirname(require.resolve('uplot'))
}

/**
 * The live dashboard: `GET /` is the page, `/dashboard/*` its script and
 * styles, `/dashboard/vendor/uplot/*` the chart library from node_modules, so
 * nothing comes from a CDN (the API's CSP allows 'self' only). None of these
 * routes appear in the OpenAPI document. Register it once on the API's root
 * instance: `await app.register(dashboardPlugin)`.
 */
export const dashboardPlugin = fp<DashboardOptions>(async (app, options) => {
  const publicDir = options.publicDir ?? fileURLToPath(new URL('./public/', import.meta.url))
  if (!existsSync(join(publicDir, 'index.html'))) {
    throw new Error(`dashboard: no index.html in ${publicDir}`)
  }

  // A child context, so the static plugins' reply decorators stay out of the API's instance.
  await app.register(async (scope) => {
    await scope.register(fastifyStatic, {
      root: publicDir,
      prefix: DASHBOARD_PREFIX,
      // One route per file found at start, so unknown paths keep the API's JSON 404.
      wildcard: false,
      index: false,
      // The page changes with each release: always revalidate (ETag), never serve a stale script.
      cacheControl: false,
      setHeaders: (res) => { res.setHeader('cache-control', 'no-cache') }
    })
    await scope.register(fastifyStatic, {
      root: uplotDistDir(),
      prefix: UPLOT_PREFIX,
      wildcard: false,
      index: false,
      decorateReply: false,
      // uplot/dist also holds CJS, IIFE and typings builds the page never loads.
      globIgnore: ['*.cjs.js', '*.iife.js', '*.iife.min.js', '*.d.ts'],
      allowedPath: (pathName) => UPLOT_FILES.has(pathName),
      maxAge: '1h'
    })
    scope.get('/', { schema: { hide: true } }, async (_request, reply) => {
      reply.header('cache-control', 'no-cache')
      return await reply.sendFile('index.html')
    })
  })
}, { name: 'dashboard', fastify: '5.x' })

export default dashboardPlugin
