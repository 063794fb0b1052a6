import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Errors } from '../errors.js'
import { isLoopback } from '../net.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** An `onRequest` hook for admin-only routes: the rule of adminGuard with ADMIN_TOKEN from `config`. */
    requireAdmin: (request: FastifyRequest) => Promise<void>
  }
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i

function digest (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/**
 * The admin rule (README.md#securing-the-admin-route): with ADMIN_TOKEN set, `Authorization:
 * Bearer <token>` is required (compared in constant time over SHA-256
 * digests, so lengths leak nothing either); without it, loopback clients
 * only, and nobody when a proxy is trusted (`behindProxy`): the client
 * address then comes from a header, and a proxy on loopback would make
 * every user look local.
 */
export function adminGuard (adminToken: string | undefined, behindProxy = false): (request: FastifyRequest) => Promise<void> {
  const expected = adminToken === undefined ? null : digest(adminToken)
  return async (request) => {
    if (expected === null) {
      if (behindProxy) throw Errors.adminTokenNeededBehindProxy()
      if (!isLoopback(request.ip)) throw Errors.adminLoopbackOnly()
      return
    }
    const header = request.headers.authorization
    const match = header === undefined ? null : BEARER.exec(header)
    if (match?.[1] === undefined) throw Errors.adminTokenRequired('missing')
    if (!timingSafeEqual(digest(match[1]), expected)) throw Errors.adminTokenRequired('invalid')
  }
}

/** Decorates the instance with `requireAdmin`, for `onRequest` of admin routes; `behindProxy`: TRUST_PROXY trusts a proxy. */
export default fp<{ behindProxy: boolean }>(async (app, { behindProxy }) => {
  if (behindProxy && app.config.ADMIN_TOKEN === undefined) {
    app.log.warn('TRUST_PROXY is set but ADMIN_TOKEN is not: /stats/failedMessages answers 403 to everyone')
  }
  app.decorate('requireAdmin', adminGuard(app.config.ADMIN_TOKEN, behindProxy))
}, { name: 'admin-auth', dependencies: ['config'] })
