import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** An answer body serialized once, and the entity tag of what it sends. */
interface SerializedAnswer {
  json: string
  etag: string
  /** The bytes of `json`, made when first replayed (AnswerReplay). */
  bytes?: Buffer
}

/**
 * Serialized answers by the body object they came from. Identical reads
 * within API_CACHE_MS share one body object (StatsReader), so a body is
 * serialized (by the route's response schema) and hashed once per shared
 * read, not once per request. Weak keys: an entry lives as long as the read
 * that made it is shared.
 */
const serialized = new WeakMap<object, SerializedAnswer>()

/** Said in the OpenAPI description of every route that answers through sendSharedAnswer. */
export const CACHING_DESCRIPTION = 'Answers carry an ETag and `Cache-Control: public, max-age=API_MAX_AGE_SECONDS` (default 1 s): a request whose If-None-Match names the current ETag gets a 304 with no body.'

/** The Cache-Control of statistics answers: shared caches may keep them `maxAgeSeconds`; 0: revalidate every time. */
export function statsCacheControl (maxAgeSeconds: number): string {
  return maxAgeSeconds === 0 ? 'no-cache' : `public, max-age=${maxAgeSeconds}`
}

/**
 * True when an If-None-Match header names `etag` (or is `*`). Comparison is
 * weak, as RFC 9110 asks for If-None-Match: `W/"x"` and `"x"` match.
 */
export function matchesEtag (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined || ifNoneMatch === '') return false
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim()
    if (tag === '*') return true
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === opaque) return true
  }
  return false
}

/**
 * Sends a statistics body that may be shared by many requests: serialized
 * once per body object, with a weak ETag over the bytes and `variant` (what
 * the headers say about it, e.g. X-Stats-Max-Error), and `cacheControl`, so
 * a reverse proxy or CDN can absorb a crowd. A request whose If-None-Match
 * names the ETag gets a 304 with no body. `shared`: the StatsReader answer
 * `body` comes from; while it is what an identical request would share
 * (StatsReader.isShared), the server replays this answer to requests for
 * the same URL without running the route again (AnswerReplay).
 */
export async function sendSharedAnswer (request: FastifyRequest, reply: FastifyReply, body: object, cacheControl: string, variant = '', shared?: object): Promise<FastifyReply> {
  let answer = serialized.get(body)
  if (answer === undefined) {
    // The route's own response serializer: what it sends is what its schema says.
    const json = String(reply.serialize(body))
    const etag = `W/"${createHash('sha1').update(json).update('\0').update(variant).digest('base64url')}"`
    answer = { json, etag }
    serialized.set(body, answer)
  }
  reply.header('etag', answer.etag).header('cache-control', cacheControl)
  if (matchesEtag(request.headers['if-none-match'], answer.etag)) return await reply.code(304).send()
  reply.type('application/json; charset=utf-8')
  const server = request.server
  if (shared !== undefined && server.hasDecorator('answerReplay')) {
    answer.bytes ??= Buffer.from(answer.json)
    server.answerReplay.keep(request, reply, answer.bytes, () => server.statsReader.isShared(shared))
  }
  return await reply.send(answer.json)
}
