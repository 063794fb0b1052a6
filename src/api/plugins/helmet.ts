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
 * The headers of the API's own answers (JSON, the live stream, the metrics
 * text): the ones that protect a response that is not a document, as OWASP's
 * REST Security Cheat Sheet lists them. No resource of any kind (`default-src
 * 'none'`), never framed, not sniffed, not readable cross-origin without CORS,
 * HTTPS remembered. The other seven of HELMET_OPTIONS govern what a page does
 * (its referrers, DNS prefetching, opener, agent cluster, XSS auditor, IE
 * downloads, Flash policies) and say nothing to a client of JSON: left out,
 * they were about 400 of the 912 bytes of headers of a shared answer.
 */
export const API_HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: 'deny' },
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false
}

/** Route patterns of the pages (the dashboard, Swagger UI): they get HELMET_OPTIONS' headers, every other answer API_HELMET_OPTIONS'. */
export function isDocumentRoute (routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && (routeUrl === '/' || routeUrl.startsWith('/dashboard/') || routeUrl.startsWith('/documentation'))
}

/**
 * Security headers on every answer, errors, 404s and the live stream
 * included: helmet's with HELMET_OPTIONS on the pages (isDocumentRoute),
 * API_HELMET_OPTIONS' on everything else. Set in `onRequest`, so hooks and
 * routes that come later see them (Swagger UI relaxes its own pages' CSP).
 */
export default fp(async (app) => {
  const documentHeaders = securityHeaders(HELMET_OPTIONS)
  const apiHeaders = securityHeaders(API_HELMET_OPTIONS)
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(isDocumentRoute(request.routeOptions.url) ? documentHeaders : apiHeaders)
    done()
  })
}, { name: 'helmet' })
