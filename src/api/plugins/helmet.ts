import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * The CSP lets a same-origin dashboard and Swagger UI work with no inline
 * code: scripts, styles, fonts and images from 'self', EventSource/fetch to
 * 'self'. No upgrade-insecure-requests, so the service still works when
 * reached over plain HTTP on a LAN address.
 */
export const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      scriptSrcAttr: ["'none'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"]
    }
  },
  // Same-origin resources only: nothing the dashboard loads needs CORP relaxed.
  crossOriginEmbedderPolicy: false
}

/**
 * The headers helmet's middleware sets for `options`, computed once. They
 * depend on the options only (no nonces, nothing from the request), so
 * running the middleware per request, as @fastify/helmet does, rebuilt the
 * same CSP string thousands of times a second.
 */
export function securityHeaders (options: HelmetOptions = HELMET_OPTIONS): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string | number | readonly string[]) => { headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value) },
    removeHeader: (name: string) => { Reflect.deleteProperty(headers, name.toLowerCase()) }
  }
  let failure: unknown = null
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (err?: unknown) => { failure = err ?? null })
  if (failure !== null) throw failure
  return Object.freeze(headers)
}

/**
 * Security headers (helmet's, with HELMET_OPTIONS) on every answer, errors,
 * 404s and the live stream included: set in `onRequest`, so hooks and
 * routes that come later see them (Swagger UI relaxes its own pages' CSP).
 */
export default fp(async (app) => {
  const headers = securityHeaders()
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}, { name: 'helmet' })
