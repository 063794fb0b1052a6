import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { describe, it, type TestContext } from 'node:test'
import { buildApp } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import { createLogger, ERROR_LOG_BOUNDS } from '../../src/logger.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

/**
 * Issue 18, item 5: logs cannot be flooded or filled with raw bytes. An
 * error's fields are bounded (Node's err.rawPacket of a 100 KB header
 * included), and requests refused for volume are logged at debug, summed up
 * at info at most once a minute.
 */

/** A log line with an error in it may be this long at most: the bounds plus the line's own fields. */
const MAX_ERROR_LINE_BYTES = ERROR_LOG_BOUNDS.chars * 2 + ERROR_LOG_BOUNDS.stackChars + 2048

function collector (): { stream: Writable, lines: () => Array<Record<string, unknown> & { raw: string }> } {
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      raw.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''))
      done()
    }
  })
  return { stream, lines: () => raw.map((line) => ({ ...(JSON.parse(line) as Record<string, unknown>), raw: line })) }
}

/** The error Node's HTTP client raises for an answer with a 100 KB header: it carries the raw bytes as err.rawPacket. */
async function headerOverflowError (t: TestContext): Promise<Error & { rawPacket?: Buffer }> {
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.end(`HTTP/1.1 200 OK\r\nX-Huge: ${'a'.repeat(100 * 1024)}\r\n\r\n`)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return await new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port: address.port, path: '/' }, () => {}).on('error', (err) => { resolve(err) })
  })
}

describe('bounded log lines', () => {
  it('an HTTP client error with a 100 KB header is logged in a short line, its raw bytes summarised', async (t) => {
    const err = await headerOverflowError(t)
    assert.ok(Buffer.isBuffer(err.rawPacket) && err.rawPacket.length > 50 * 1024, 'Node attaches the raw bytes')
    const { stream, lines } = collector()
    const logger = createLogger(loadConfig({ LOG_LEVEL: 'info' }, null), stream)
    logger.warn({ err }, 'chat stream failed')
    // A message and a field of 100 KB each, and a long array: all cut.
    const long = Object.assign(new Error('m'.repeat(100_000)), { detail: 'd'.repeat(100_000), list: Array.from({ length: 10_000 }, (_, i) => i) })
    logger.error({ err: long }, 'something failed')
    await new Promise((resolve) => setImmediate(resolve))
    const [overflow, cut] = lines()
    assert.ok(overflow !== undefined && cut !== undefined)
    for (const line of [overflow, cut]) assert.ok(Buffer.byteLength(line.raw) <= MAX_ERROR_LINE_BYTES, `${Buffer.byteLength(line.raw)} bytes`)
    const logged = overflow.err as { rawPacket: string, code: string, message: string }
    assert.match(logged.rawPacket, /^\[Buffer \d+ bytes\]$/)
    assert.equal(logged.code, 'HPE_HEADER_OVERFLOW')
    const cutErr = cut.err as { message: string, detail: string, list: unknown[] }
    assert.match(cutErr.message, /more characters\]$/)
    assert.match(cutErr.detail, /^d{2048}… \[97952 more characters\]$/)
    assert.equal(cutErr.list.length, ERROR_LOG_BOUNDS.items + 1)
  })

  it('requests refused by the rate limit are logged at debug, summed up at info at most once a minute; served ones are one line each at debug', async (t) => {
    const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
    await store.open()
    t.after(async () => { await store.close() })
    for (const level of ['info', 'debug'] as const) {
      const { stream, lines } = collector()
      const config = loadConfig({ LOG_LEVEL: level, RATE_LIMIT_MAX: '5' }, null)
      const app = await buildApp({ config, store, logger: createLogger(config, stream) })
      t.after(async () => { await app.close() })
      let refused = 0
      // Distinct windows: each request a store read of its own, so each one counts against the limit.
      for (let i = 0; i < 300; i++) if ((await app.inject({ url: `/stats?window=${i + 1}`, remoteAddress: '198.51.100.4' })).statusCode === 429) refused++
      assert.equal(refused, 295)
      await new Promise((resolve) => setImmediate(resolve))
      const byMessage = (msg: string): number => lines().filter((line) => line.msg === msg).length
      const summaries = lines().filter((line) => typeof line.rejected === 'number')
      if (level === 'info') {
        // Request lines are debug (issue 14: a terminal at info shows what the service does, not every poll).
        assert.equal(byMessage('request completed'), 0)
        assert.equal(byMessage('incoming request'), 0)
        assert.equal(byMessage('request rejected'), 0)
        assert.equal(summaries.length, 1, 'one summary line for 295 refusals')
        assert.ok(lines().length <= 3, `${lines().length} lines at info for 300 requests`)
      } else {
        assert.equal(byMessage('request rejected'), 295, 'each refusal at debug')
        assert.equal(byMessage('incoming request'), 300)
        assert.equal(byMessage('request completed'), 5, 'one line per request served')
        const completed = lines().find((line) => line.msg === 'request completed')
        assert.equal(completed?.url, '/stats?[redacted]', 'the path without its query')
        assert.equal(completed?.statusCode, 200)
        // Each line names its request: the lazily made child binds the request id.
        assert.match(String(completed?.reqId), /^req-/)
        const ids = lines().filter((line) => line.msg === 'incoming request').map((line) => line.reqId)
        assert.equal(new Set(ids).size, 300, 'one id per request')
      }
    }
  })

  it('request.log makes its pino child only when a line is written at an enabled level, and that line carries the request id', async (t) => {
    const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
    await store.open()
    t.after(async () => { await store.close() })
    const { stream, lines } = collector()
    const config = loadConfig({ LOG_LEVEL: 'info', RATE_LIMIT_MAX: '1000000' }, null)
    const logger = createLogger(config, stream)
    let children = 0
    const child = logger.child.bind(logger)
    logger.child = ((...args: Parameters<typeof logger.child>) => { children++; return child(...args) }) as typeof logger.child
    // The store fails its totals read once asked to: the 503 is logged (warn) through request.log.
    let failing = false
    const failingStore = new Proxy(store, {
      get (target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown
        if (name !== 'totals' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value
        return async (...args: unknown[]) => {
          if (failing) throw new Error('store down')
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        }
      }
    })
    const app = await buildApp({ config, store: failingStore, logger })
    t.after(async () => { await app.close() })
    const before = children
    for (let i = 0; i < 20; i++) assert.equal((await app.inject({ url: `/stats?window=${i + 1}` })).statusCode, 200)
    assert.equal(children, before, 'no child for requests that log nothing at info')
    failing = true
    assert.equal((await app.inject({ url: '/stats?window=99' })).statusCode, 503)
    await new Promise((resolve) => setImmediate(resolve))
    const failed = lines().find((line) => line.level === 40 || line.level === 50)
    assert.ok(failed !== undefined, lines().map((line) => line.msg).join(', '))
    assert.match(String(failed.reqId), /^req-/)
    assert.ok(children > before)
  })
})
