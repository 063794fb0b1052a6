import assert from 'node:assert/strict'
import http from 'node:http'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { startApiServer } from '../../src/api/server.js'
import { loadConfig } from '../../src/config.js'
import { createLogger } from '../../src/logger.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

const TOKEN = 'server-test-token-0123456789abcdef'

describe('startApiServer', () => {
  it('listens on NODE_HOST:NODE_PORT, logs without secrets, and closes with open streams', { timeout: 20_000 }, async (t) => {
    const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
    await store.open()
    t.after(async () => { await store.close() })
    const config = loadConfig({
      NODE_HOST: '127.0.0.1',
      NODE_PORT: '0',
      ADMIN_TOKEN: TOKEN,
      REDIS_URL: 'redis://:server-redis-pass@127.0.0.1:1/0',
      // Request lines are logged at debug: this test checks what they carry.
      LOG_LEVEL: 'debug'
    }, null)
    const chunks: string[] = []
    const destination = new Writable({
      write (chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString('utf8'))
        done()
      }
    })
    const server = await startApiServer({ config, store, logger: createLogger(config, destination) })
    assert.match(server.address, /^http:\/\/127\.0\.0\.1:\d+$/)

    const live = await fetch(`${server.address}/health/live`)
    assert.equal(live.status, 200)
    assert.deepEqual(await live.json(), { status: 'ok' })
    const failed = await fetch(`${server.address}/stats/failedMessages?limit=5`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(failed.status, 200)
    assert.deepEqual(await failed.json(), [])

    // An open live stream must not hold close() up.
    const firstEvent = new Promise<void>((resolve, reject) => {
      http.get(`${server.address}/stats/stream`, (response) => {
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => { if (chunk.includes('event: stats')) resolve() })
        response.on('error', () => {})
      }).on('error', reject)
    })
    await firstEvent
    await server.close()
    await server.close()
    await assert.rejects(fetch(`${server.address}/health/live`))

    const logs = chunks.join('')
    assert.match(logs, /"msg":"Server listening at http:\/\/127\.0\.0\.1:\d+"/)
    // Request lines keep the path; the query string is cut (it may carry a credential).
    assert.match(logs, /"url":"\/stats\/failedMessages\?\[redacted\]"/)
    for (const secret of [TOKEN, 'server-redis-pass']) assert.ok(!logs.includes(secret), secret)
  })

  it('fails with the listen error when the port is taken, leaving nothing open', async (t) => {
    const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
    await store.open()
    t.after(async () => { await store.close() })
    const blocker = http.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    t.after(() => { blocker.close() })
    const address = blocker.address()
    assert.ok(address !== null && typeof address === 'object')
    const config = loadConfig({ LOG_LEVEL: 'silent', NODE_HOST: '127.0.0.1', NODE_PORT: String(address.port) }, null)
    await assert.rejects(startApiServer({ config, store, logger: createLogger(config) }), /EADDRINUSE/)
  })
})
