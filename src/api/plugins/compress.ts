import { promisify } from 'node:util'
import { constants, gzip } from 'node:zlib'
import fp from 'fastify-plugin'

const gzipAsync = promisify(gzip)

/** Smaller JSON answers are sent as they are: compressing them costs more than it saves. */
export const COMPRESS_MIN_BYTES = 16 * 1024

/** True when the Accept-Encoding header accepts gzip (a `q=0` refuses it). */
function acceptsGzip (header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header ?? ''
  return text.split(',').some((part) => {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';')
    if (coding.trim() !== 'gzip' && coding.trim() !== '*') return false
    return !params.some((param) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(param))
  })
}

/**
 * gzip for large JSON answers (a long timeseries is megabytes of
 * `{"t":…,"messages":…}`, a few percent of that compressed) when the client
 * accepts it (README.md#limits-per-client: costly answers are bounded). zlib runs on
 * libuv's thread pool, so compressing does not hold up the event loop that
 * /health/live and the in-process worker share. The live stream writes its
 * own socket and is never compressed (proxies would buffer it).
 */
export default fp(async (app) => {
  // Callback style: most answers are small and leave at once, without a promise per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return done(null, payload)
    // A string of n UTF-16 units is at most 3n bytes: short ones are not measured.
    if ((typeof payload === 'string' && payload.length * 3 < COMPRESS_MIN_BYTES) || Buffer.byteLength(payload) < COMPRESS_MIN_BYTES) return done(null, payload)
    if (!String(reply.getHeader('content-type') ?? '').startsWith('application/json')) return done(null, payload)
    if (reply.hasHeader('content-encoding')) return done(null, payload)
    reply.header('vary', appendVary(reply.getHeader('vary')))
    if (!acceptsGzip(request.headers['accept-encoding'])) return done(null, payload)
    reply.header('content-encoding', 'gzip')
    reply.removeHeader('content-length')
    gzipAsync(payload, { level: constants.Z_BEST_SPEED }).then((zipped) => done(null, zipped), (err: Error) => done(err))
  })
}, { name: 'compress' })

function appendVary (current: unknown): string {
  const text = typeof current === 'string' ? current : Array.isArray(current) ? current.join(', ') : ''
  if (/(^|,)\s*accept-encoding\s*(,|$)/i.test(text)) return text
  return text === '' ? 'Accept-Encoding' : `${text}, Accept-Encoding`
}
