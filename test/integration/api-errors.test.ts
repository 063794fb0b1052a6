import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { MAX_ECHO_CHARS } from '../../src/api/error-answers.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

/**
 * Issue 18, item 6: every error answer, the framework's and Node's own
 * included, is the documented `{ statusCode, error, message, code }` and
 * never echoes unbounded input.
 */

/** The longest error body any of these answers may have: the shape plus a bounded echo. */
const MAX_ERROR_BODY_BYTES = 400

async function api (t: TestContext): Promise<FastifyInstance> {
  const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  const app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000' }, null), store })
  t.after(async () => {
    await app.close()
    await store.close()
  })
  return app
}

/** The documented shape, with the standard text for the status, and a short body. */
function assertErrorShape (status: number, raw: string, headers: Record<string, unknown>, code: string, statusText: string): void {
  assert.match(String(headers['content-type']), /^application\/json/)
  assert.ok(Buffer.byteLength(raw) <= MAX_ERROR_BODY_BYTES, `${Buffer.byteLength(raw)} bytes: ${raw.slice(0, 200)}`)
  const body = JSON.parse(raw) as Record<string, unknown>
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
  assert.equal(body.statusCode, status)
  assert.equal(body.error, statusText)
  assert.equal(body.code, code)
  assert.equal(typeof body.message, 'string')
}

/** Sends raw bytes to the listening API and returns the raw answer. */
async function rawRequest (app: FastifyInstance, bytes: string): Promise<string> {
  const address = app.server.address()
  assert.ok(address !== null && typeof address === 'object')
  const socket = connect(address.port, '127.0.0.1')
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write(bytes)
  await once(socket, 'close')
  return text
}

describe('framework errors in the API\'s error shape', () => {
  it('414 for a 10 KB room name, without the name', async (t) => {
    const app = await api(t)
    const res = await app.inject({ url: `/stats/rooms/%23${'r'.repeat(10_000)}` })
    assert.equal(res.statusCode, 414)
    assertErrorShape(414, res.body, res.headers, 'CS_URL_TOO_LONG', 'URI Too Long')
    assert.ok(!res.body.includes('rrrrrrrrrr'))
  })

  it('404 for an unknown 6 KB path echoes at most the first characters', async (t) => {
    const app = await api(t)
    const res = await app.inject({ url: `/${'x/'.repeat(3000)}?q=${'y'.repeat(3000)}` })
    assert.equal(res.statusCode, 404)
    assertErrorShape(404, res.body, res.headers, 'CS_NOT_FOUND', 'Not Found')
    const message = (JSON.parse(res.body) as { message: string }).message
    assert.ok(message.length < MAX_ECHO_CHARS + 80, message)
    assert.ok(!res.body.includes('yyy'))
  })

  it('400 for a bad URL encoding, 400 for bad JSON, 413 for a large body', async (t) => {
    const app = await api(t)
    const badUrl = await app.inject({ url: `/stats/rooms/%E0%A4%A${'z'.repeat(150)}` })
    assert.equal(badUrl.statusCode, 400)
    assertErrorShape(400, badUrl.body, badUrl.headers, 'CS_BAD_URL', 'Bad Request')
    assert.ok(!badUrl.body.includes('zzz'))

    const badJson = await app.inject({ method: 'POST', url: '/stats', headers: { 'content-type': 'application/json' }, payload: `{${'"a":'.repeat(200)}` })
    assert.equal(badJson.statusCode, 400)
    assertErrorShape(400, badJson.body, badJson.headers, 'CS_INVALID_BODY', 'Bad Request')

    const large = await app.inject({ method: 'POST', url: '/stats', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ a: 'b'.repeat(5000) }) })
    assert.equal(large.statusCode, 413)
    assertErrorShape(413, large.body, large.headers, 'CS_BODY_TOO_LARGE', 'Payload Too Large')

    // An unknown media type on a route that takes none is simply not found, with the path bounded as above.
    const media = await app.inject({ method: 'POST', url: '/stats', headers: { 'content-type': `application/${'x'.repeat(500)}` }, payload: 'abc' })
    assert.equal(media.statusCode, 404)
    assertErrorShape(404, media.body, media.headers, 'CS_NOT_FOUND', 'Not Found')
    assert.ok(!media.body.includes('xxxxx'))
  })

  it('Node\'s own refusals over a real socket: 431 for 20 KB of headers, 400 for a malformed request, in the same shape', { timeout: 20_000 }, async (t) => {
    const app = await api(t)
    await app.listen({ host: '127.0.0.1', port: 0 })
    const parse = (answer: string): { status: number, headers: Record<string, string>, body: string } => {
      const [head = '', body = ''] = answer.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
      return { status: Number(statusLine.split(' ')[1]), headers, body }
    }

    const huge = parse(await rawRequest(app, `GET /stats/rooms/%23${'h'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`))
    assert.equal(huge.status, 431)
    assertErrorShape(431, huge.body, huge.headers, 'CS_HEADERS_TOO_LARGE', 'Request Header Fields Too Large')

    const malformed = parse(await rawRequest(app, `GE\u0001T / HTTP/1.1\r\nHost: ${'m'.repeat(300)}\r\n\r\n`))
    assert.equal(malformed.status, 400)
    assertErrorShape(400, malformed.body, malformed.headers, 'CS_BAD_REQUEST', 'Bad Request')
    assert.ok(!malformed.body.includes('mmm'))
  })
})
