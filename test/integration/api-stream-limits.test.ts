import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, it, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { MAX_DISTINCT_SNAPSHOTS } from '../../src/api/services/stream-slots.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

/**
 * Issue 18, item 1: one client must not take every live-stream slot. Real
 * sockets on loopback; other clients come from other 127.x addresses.
 */

interface OpenStream {
  status: number
  headers: http.IncomingHttpHeaders
  /** Everything received so far. */
  text: () => string
  /** Resolves when the server ends the response. */
  ended: Promise<void>
  close: () => void
}

async function openStream (app: FastifyInstance, path: string, from = '127.0.0.1', method = 'GET'): Promise<OpenStream> {
  const address = app.server.address()
  assert.ok(address !== null && typeof address === 'object')
  return await new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: address.port, path, method, localAddress: from, agent: false }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      const ended = new Promise<void>((resolveEnd) => {
        response.on('end', resolveEnd)
        response.on('close', resolveEnd)
      })
      response.on('data', (chunk: string) => { text += chunk })
      response.on('error', () => {})
      resolve({ status: response.statusCode ?? 0, headers: response.headers, text: () => text, ended, close: () => request.destroy() })
    })
    request.on('error', (err) => { if (!request.destroyed) reject(err) })
    request.end()
  })
}

async function listen (t: TestContext, settings: Record<string, string> = {}): Promise<FastifyInstance> {
  const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000', ...settings }, null)
  const app = await buildApp({ config, store })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.after(async () => {
    await app.close()
    await store.close()
  })
  return app
}

async function waitFor (what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('live-stream slots', () => {
  it('one client holds at most STREAMS_PER_CLIENT streams (429); other clients are still served', { timeout: 30_000 }, async (t) => {
    const app = await listen(t, { STREAMS_PER_CLIENT: '3' })
    const mine = await Promise.all([1, 2, 3].map(async () => await openStream(app, '/stats/stream')))
    t.after(() => { for (const stream of mine) stream.close() })
    for (const stream of mine) assert.equal(stream.status, 200)
    const refused = await openStream(app, '/stats/stream')
    assert.equal(refused.status, 429)
    await refused.ended
    const body = JSON.parse(refused.text()) as { statusCode: number, error: string, code: string }
    assert.deepEqual([body.statusCode, body.error, body.code], [429, 'Too Many Requests', 'CS_TOO_MANY_STREAMS_PER_CLIENT'])
    assert.equal(refused.headers['retry-after'], '5')

    const other = await openStream(app, '/stats/stream', '127.0.0.2')
    t.after(() => { other.close() })
    assert.equal(other.status, 200)
    assert.equal(app.streamSlots.open, 4)
    assert.equal(app.streamSlots.heldBy('127.0.0.1'), 3)

    // Closing one gives the slot back.
    mine[0]!.close()
    await waitFor('the slot to be released', () => app.streamSlots.heldBy('127.0.0.1') === 2)
    const again = await openStream(app, '/stats/stream')
    t.after(() => { again.close() })
    assert.equal(again.status, 200)
  })

  it('a stream ends after STREAM_LIFETIME_MS with event: reconnect, and its slot is free again', { timeout: 30_000 }, async (t) => {
    const app = await listen(t, { STREAM_LIFETIME_MS: '1000', STREAMS_PER_CLIENT: '1' })
    const started = Date.now()
    const stream = await openStream(app, '/stats/stream')
    t.after(() => { stream.close() })
    assert.equal(stream.status, 200)
    assert.equal(app.streamSlots.open, 1)
    await stream.ended
    const lived = Date.now() - started
    // 90 % to 100 % of the lifetime; the upper bound only guards against "never".
    assert.ok(lived >= 850 && lived < 10_000, `the stream lived ${lived} ms`)
    assert.match(stream.text(), /event: stats\n/)
    assert.match(stream.text(), /event: reconnect\ndata: \{"reason":"[^"]+"\}\n\n$/)
    assert.equal(app.streamSlots.open, 0)
    // The client's one slot is its own again.
    const next = await openStream(app, '/stats/stream')
    t.after(() => { next.close() })
    assert.equal(next.status, 200)
  })

  it('HEAD answers the stream\'s headers, ends at once and holds no slot', { timeout: 30_000 }, async (t) => {
    const app = await listen(t, { STREAMS_PER_CLIENT: '1' })
    const heads = await Promise.all([1, 2, 3, 4, 5].map(async () => await openStream(app, '/stats/stream', '127.0.0.1', 'HEAD')))
    for (const head of heads) {
      assert.equal(head.status, 200)
      assert.match(String(head.headers['content-type']), /^text\/event-stream/)
      await head.ended
      assert.equal(head.text(), '')
    }
    assert.equal(app.streamSlots.open, 0)
    // A bad parameter is still a 400 for HEAD.
    assert.equal((await app.inject({ method: 'HEAD', url: '/stats/stream?limit=0' })).statusCode, 400)
    const get = await openStream(app, '/stats/stream')
    t.after(() => { get.close() })
    assert.equal(get.status, 200)
  })

  it(`at most ${MAX_DISTINCT_SNAPSHOTS} different parameter sets at once: a new one gets 503, one already served is shared`, { timeout: 60_000 }, async (t) => {
    const app = await listen(t, { STREAMS_PER_CLIENT: String(MAX_DISTINCT_SNAPSHOTS + 10) })
    const streams: OpenStream[] = []
    t.after(() => { for (const stream of streams) stream.close() })
    for (let i = 1; i <= MAX_DISTINCT_SNAPSHOTS; i++) {
      const stream = await openStream(app, `/stats/stream?rateWindow=${i}`)
      streams.push(stream)
      assert.equal(stream.status, 200, `rateWindow=${i}`)
    }
    assert.equal(app.streamSlots.distinctSnapshots, MAX_DISTINCT_SNAPSHOTS)
    const fresh = await openStream(app, `/stats/stream?rateWindow=${MAX_DISTINCT_SNAPSHOTS + 1}`, '127.0.0.3')
    assert.equal(fresh.status, 503)
    await fresh.ended
    assert.equal((JSON.parse(fresh.text()) as { code: string }).code, 'CS_TOO_MANY_STREAM_VARIANTS')
    const shared = await openStream(app, '/stats/stream?rateWindow=7', '127.0.0.3')
    streams.push(shared)
    assert.equal(shared.status, 200)
    assert.equal(app.streamSlots.distinctSnapshots, MAX_DISTINCT_SNAPSHOTS)
  })
})
