import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import { buildApp, type BuildAppOptions } from '../../src/api/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { createRedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import type { StatsStore } from '../../src/store/types.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'
import { randomPrefix } from '../helpers/redis.js'

/** The admin rule, rate limiting, security headers, CORS and the store-failure answers. */

const TOKEN = 'test-admin-token-0123456789abcdef'

function config (overrides: Record<string, string> = {}): Config {
  return loadConfig({ LOG_LEVEL: 'silent', STORE_TIMEOUT_MS: '300', RATE_LIMIT_MAX: '1000000', ...overrides }, null)
}

async function seededMemoryStore (t: TestContext): Promise<MemoryStore> {
  const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  t.after(async () => { await store.close() })
  const builder = new BatchBuilder()
  builder.addEvent(JSON.stringify({ command: '', room: '#forsen', nick: 'alice', target: '', body: 'pog pog', tags: '' }), '1')
  builder.addFailure('{"secret raw text', 'invalid JSON', '2')
  await store.applyBatch(builder.take(1))
  return store
}

async function app (t: TestContext, options: Partial<BuildAppOptions> & { store: StatsStore }) {
  const instance = await buildApp({ config: config(), ...options })
  t.after(async () => { await instance.close() })
  return instance
}

/** A store whose every call never settles: the API must still answer, with a 503. */
function hangingStore (): StatsStore {
  return new Proxy({} as StatsStore, {
    get: () => async () => await new Promise(() => {})
  })
}

async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return address.port
}

describe('admin rule on GET /stats/failedMessages', () => {
  it('with ADMIN_TOKEN: the right bearer token passes, a wrong or missing one is a 401 with WWW-Authenticate', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t), config: config({ ADMIN_TOKEN: TOKEN }) })
    const ok = await api.inject({ url: '/stats/failedMessages', headers: { authorization: `Bearer ${TOKEN}` }, remoteAddress: '203.0.113.9' })
    assert.equal(ok.statusCode, 200)
    assert.deepEqual((JSON.parse(ok.body) as Array<{ raw: string }>).map((f) => f.raw), ['{"secret raw text'])
    assert.equal((await api.inject({ url: '/stats/failedMessages', headers: { authorization: `bearer ${TOKEN}` } })).statusCode, 200)

    for (const authorization of [undefined, '', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer ', `Bearer ${TOKEN} extra`]) {
      const res = await api.inject({ url: '/stats/failedMessages', headers: authorization === undefined ? {} : { authorization }, remoteAddress: '127.0.0.1' })
      assert.equal(res.statusCode, 401, String(authorization))
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm="chat-stats"/)
      const body = JSON.parse(res.body) as { statusCode: number, error: string, code: string, message: string }
      assert.equal(body.statusCode, 401)
      assert.equal(body.error, 'Unauthorized')
      assert.equal(body.code, 'CS_ADMIN_TOKEN_REQUIRED')
      assert.ok(!res.body.includes(TOKEN))
    }
  })

  it('the token check runs before validation: a bad limit without a token is still a 401', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t), config: config({ ADMIN_TOKEN: TOKEN }) })
    assert.equal((await api.inject({ url: '/stats/failedMessages?limit=0' })).statusCode, 401)
    assert.equal((await api.inject({ url: '/stats/failedMessages?limit=0', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 400)
  })

  it('without ADMIN_TOKEN: loopback clients only', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t) })
    for (const remoteAddress of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      assert.equal((await api.inject({ url: '/stats/failedMessages', remoteAddress })).statusCode, 200, remoteAddress)
    }
    for (const remoteAddress of ['10.0.0.1', '192.168.1.20', '::ffff:10.0.0.1', '2001:db8::1', '128.0.0.1']) {
      const res = await api.inject({ url: '/stats/failedMessages', remoteAddress })
      assert.equal(res.statusCode, 403, remoteAddress)
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'CS_ADMIN_LOOPBACK_ONLY')
      assert.ok(!res.body.includes('secret raw text'))
    }
  })

  it('X-Forwarded-For is not trusted unless trustProxy is set', async (t) => {
    const store = await seededMemoryStore(t)
    const direct = await app(t, { store })
    const spoofed = await direct.inject({ url: '/stats/failedMessages', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '127.0.0.1' } })
    assert.equal(spoofed.statusCode, 403)
    const proxied = await app(t, { store, trustProxy: true })
    const viaProxy = await proxied.inject({ url: '/stats/failedMessages', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '10.0.0.1' } })
    assert.equal(viaProxy.statusCode, 403)
  })
})

describe('behind a reverse proxy (TRUST_PROXY)', () => {
  const viaProxy = (client: string, url: string, headers: Record<string, string> = {}) =>
    ({ url, remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client, ...headers } })

  it('a hop count or the proxy\'s address: the rate limit keys per real client, not per proxy', async (t) => {
    const store = await seededMemoryStore(t)
    for (const TRUST_PROXY of ['1', '127.0.0.1', 'loopback']) {
      // API_CACHE_MS=0: every request reads the store, so every one counts against the limit.
      const api = await app(t, { store, config: config({ RATE_LIMIT_MAX: '3', TRUST_PROXY, API_CACHE_MS: '0' }) })
      for (let i = 0; i < 3; i++) assert.equal((await api.inject(viaProxy('203.0.113.5', '/stats'))).statusCode, 200, TRUST_PROXY)
      assert.equal((await api.inject(viaProxy('203.0.113.5', '/stats'))).statusCode, 429, TRUST_PROXY)
      // Another user behind the same proxy has a bucket of its own.
      assert.equal((await api.inject(viaProxy('203.0.113.6', '/'))).statusCode, 200, TRUST_PROXY)
      assert.equal((await api.inject(viaProxy('203.0.113.6', '/stats'))).statusCode, 200, TRUST_PROXY)
    }
  })

  it('without TRUST_PROXY every user behind a proxy is the proxy: X-Forwarded-For is ignored', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t), config: config({ RATE_LIMIT_MAX: '3', API_CACHE_MS: '0' }) })
    for (let i = 0; i < 3; i++) assert.equal((await api.inject(viaProxy(`203.0.113.${i}`, '/stats'))).statusCode, 200)
    assert.equal((await api.inject(viaProxy('203.0.113.99', '/stats'))).statusCode, 429)
  })

  it('a client cannot forge its address past the trusted hop', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t), config: config({ RATE_LIMIT_MAX: '2', TRUST_PROXY: '1', API_CACHE_MS: '0' }) })
    // The proxy appends the address it saw; whatever the client wrote before it is not trusted.
    for (let i = 0; i < 2; i++) assert.equal((await api.inject(viaProxy(`10.9.9.${i}, 203.0.113.7`, '/stats'))).statusCode, 200)
    assert.equal((await api.inject(viaProxy('10.9.9.99, 203.0.113.7', '/stats'))).statusCode, 429)
  })

  it('with a proxy trusted, the admin route is not served on the loopback rule: ADMIN_TOKEN is required', async (t) => {
    const store = await seededMemoryStore(t)
    const noToken = await app(t, { store, config: config({ TRUST_PROXY: '1' }) })
    for (const client of ['127.0.0.1', '203.0.113.5']) {
      const res = await noToken.inject(viaProxy(client, '/stats/failedMessages'))
      assert.equal(res.statusCode, 403, client)
      const body = JSON.parse(res.body) as { code: string, message: string }
      assert.equal(body.code, 'CS_ADMIN_TOKEN_NOT_SET')
      assert.match(body.message, /ADMIN_TOKEN/)
      assert.ok(!res.body.includes('secret raw text'))
    }
    // Straight to the socket on loopback, too: the address no longer proves who is asking.
    assert.equal((await noToken.inject({ url: '/stats/failedMessages', remoteAddress: '127.0.0.1' })).statusCode, 403)

    const withToken = await app(t, { store, config: config({ TRUST_PROXY: '1', ADMIN_TOKEN: TOKEN }) })
    assert.equal((await withToken.inject(viaProxy('203.0.113.5', '/stats/failedMessages', { authorization: `Bearer ${TOKEN}` }))).statusCode, 200)
    assert.equal((await withToken.inject(viaProxy('127.0.0.1', '/stats/failedMessages'))).statusCode, 401)
  })

  it('TRUST_PROXY is validated at start: a malformed value names the variable', () => {
    assert.throws(() => config({ TRUST_PROXY: '10.0.0.1; rm -rf' }), /TRUST_PROXY/)
    assert.equal(config({ TRUST_PROXY: '2' }).TRUST_PROXY, '2')
  })
})

describe('rate limiting', () => {
  it('answers 429 with a JSON body past RATE_LIMIT_MAX per minute; loopback health checks are exempt', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t), config: config({ RATE_LIMIT_MAX: '3' }) })
    // Distinct queries: each one a store read of its own, so each one counts.
    for (let i = 1; i <= 3; i++) {
      const res = await api.inject({ url: `/stats/words?limit=${i}`, remoteAddress: '198.51.100.7' })
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['x-ratelimit-remaining'], String(3 - i))
    }
    const limited = await api.inject({ url: '/stats/words?limit=4', remoteAddress: '198.51.100.7' })
    assert.equal(limited.statusCode, 429)
    assert.match(String(limited.headers['content-type']), /application\/json/)
    const body = JSON.parse(limited.body) as { statusCode: number, error: string, message: string, code: string }
    assert.equal(body.statusCode, 429)
    assert.equal(body.error, 'Too Many Requests')
    assert.equal(body.code, 'CS_RATE_LIMITED')
    assert.match(body.message, /^Rate limit exceeded, retry in /)
    assert.ok(limited.headers['retry-after'] !== undefined)
    // Another client is not affected; unknown paths, the timeseries and the other routes count every request.
    assert.equal((await api.inject({ url: '/stats/words?limit=5', remoteAddress: '198.51.100.8' })).statusCode, 200)
    for (const url of ['/no/such/path', '/stats/timeseries', '/stats/trending?limit=7', '/stats?window=7', '/stats/rooms/%23forsen?limit=7', '/']) {
      assert.equal((await api.inject({ url, remoteAddress: '198.51.100.7' })).statusCode, 429, url)
    }

    for (let i = 0; i < 10; i++) {
      assert.equal((await api.inject({ url: '/health/live', remoteAddress: '127.0.0.1' })).statusCode, 200)
      assert.equal((await api.inject({ url: '/health/ready', remoteAddress: '::1' })).statusCode, 200)
    }
    // Health checks from elsewhere are limited like anything else.
    assert.equal((await api.inject({ url: '/health/live', remoteAddress: '198.51.100.7' })).statusCode, 429)
  })

  it('an answer shared from a read less than API_CACHE_MS old is not counted: the limit counts store reads on the shared-read routes', async (t) => {
    // A long API_CACHE_MS, so that the requests below share their reads whatever the machine's speed.
    const seeded = await seededMemoryStore(t)
    let storeCalls = 0
    const store = new Proxy(seeded, {
      get (target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => { storeCalls++; return (value as (...a: unknown[]) => unknown).apply(target, args) }
      }
    })
    const api = await app(t, { store, config: config({ RATE_LIMIT_MAX: '4', API_CACHE_MS: '10000' }) })
    const client = { remoteAddress: '198.51.100.9' }
    const shared = ['/stats', '/stats/words', '/stats/rooms/%23forsen', '/stats/trending']
    // One store read each: counted (the X-RateLimit headers say so).
    for (const url of shared) {
      const res = await api.inject({ url, ...client })
      assert.equal(res.statusCode, 200, url)
      assert.ok(res.headers['x-ratelimit-remaining'] !== undefined, url)
    }
    // The client's minute is spent, yet the same answers come from the shared reads, uncounted; a 304 too.
    for (let i = 0; i < 20; i++) {
      for (const url of shared) {
        const res = await api.inject({ url, ...client })
        assert.equal(res.statusCode, 200, url)
        assert.equal(res.headers['x-ratelimit-remaining'], undefined, url)
        assert.equal((await api.inject({ url, ...client, headers: { 'if-none-match': String(res.headers.etag) } })).statusCode, 304, url)
      }
    }
    // A bad query reads nothing either: its 400 is answered, not counted.
    assert.equal((await api.inject({ url: '/stats/words?limit=0', ...client })).statusCode, 400)
    // A query that needs a read of its own is refused, and the store is not asked anything for it.
    const callsBefore = storeCalls
    for (const url of ['/stats?window=9', '/stats/words?limit=9', '/stats/rooms/%23forsen?limit=9', '/stats/trending?limit=9']) {
      assert.equal((await api.inject({ url, ...client })).statusCode, 429, url)
    }
    const burst = await Promise.all(Array.from({ length: 10 }, async () => await api.inject({ url: '/stats/nicks?limit=9', ...client })))
    assert.deepEqual(burst.map((res) => res.statusCode), Array.from({ length: 10 }, () => 429))
    assert.equal(storeCalls, callsBefore, 'no store read for a refused request')
  })

  it('with API_CACHE_MS=0 nothing is shared: every request to these routes counts', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t), config: config({ RATE_LIMIT_MAX: '3', API_CACHE_MS: '0' }) })
    for (let i = 0; i < 3; i++) assert.equal((await api.inject({ url: '/stats/words', remoteAddress: '198.51.100.10' })).statusCode, 200)
    assert.equal((await api.inject({ url: '/stats/words', remoteAddress: '198.51.100.10' })).statusCode, 429)
  })
})

describe('security headers and CORS', () => {
  it('sets helmet headers with a CSP a same-origin dashboard can live with on the pages', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t) })
    const res = await api.inject({ url: '/' })
    assert.match(String(res.headers['content-type']), /^text\/html/)
    assert.equal(res.headers['x-content-type-options'], 'nosniff')
    assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
    assert.equal(res.headers['referrer-policy'], 'no-referrer')
    assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin')
    const csp = String(res.headers['content-security-policy'])
    for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(directive), directive)
    }
    assert.ok(!csp.includes('unsafe-inline'))
    assert.ok(!csp.includes('upgrade-insecure-requests'))
    assert.equal(res.headers['access-control-allow-origin'], undefined)
    // The page's script gets them too.
    assert.equal((await api.inject({ url: '/dashboard/app.js' })).headers['content-security-policy'], csp)
  })

  it('the API\'s own answers carry the headers that protect a non-document: no resources, no framing, no sniffing, same-origin, HTTPS', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t) })
    const API_HEADERS = {
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
      'strict-transport-security': 'max-age=31536000; includeSubDomains'
    }
    // Answers, errors, unknown paths, health and metrics alike.
    for (const url of ['/stats', '/stats/words', '/stats?window=0', '/stats/timeseries', '/stats/trending', '/stats/rooms/%23nosuchroom', '/no/such/path', '/health/live', '/metrics']) {
      const res = await api.inject({ url })
      for (const [name, value] of Object.entries(API_HEADERS)) assert.equal(res.headers[name], value, `${url} ${name}`)
      // What only a page uses is left out.
      for (const name of ['referrer-policy', 'cross-origin-opener-policy', 'origin-agent-cluster', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection']) {
        assert.equal(res.headers[name], undefined, `${url} ${name}`)
      }
    }
  })

  it('no CORS headers without CORS_ORIGIN; the configured origins with it', async (t) => {
    const store = await seededMemoryStore(t)
    const closed = await app(t, { store })
    const none = await closed.inject({ url: '/stats', headers: { origin: 'https://dash.example' } })
    assert.equal(none.headers['access-control-allow-origin'], undefined)

    const open = await app(t, { store, config: config({ CORS_ORIGIN: 'https://dash.example, https://other.example' }) })
    const allowed = await open.inject({ url: '/stats', headers: { origin: 'https://other.example' } })
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://other.example')
    const refused = await open.inject({ url: '/stats', headers: { origin: 'https://evil.example' } })
    assert.equal(refused.headers['access-control-allow-origin'], undefined)
    const preflight = await open.inject({ method: 'OPTIONS', url: '/stats/words', headers: { origin: 'https://dash.example', 'access-control-request-method': 'GET' } })
    assert.equal(preflight.statusCode, 204)
    assert.match(String(preflight.headers['access-control-allow-methods']), /GET/)

    const star = await app(t, { store, config: config({ CORS_ORIGIN: '*' }) })
    assert.equal((await star.inject({ url: '/stats', headers: { origin: 'https://any.example' } })).headers['access-control-allow-origin'], '*')
  })

  it('is GET-only with a small body limit', async (t) => {
    const api = await app(t, { store: await seededMemoryStore(t) })
    assert.equal(api.initialConfig.bodyLimit, 1024)
    const post = await api.inject({ method: 'POST', url: '/stats', payload: { a: 1 } })
    assert.equal(post.statusCode, 404)
    assert.equal((JSON.parse(post.body) as { statusCode: number }).statusCode, 404)
    // A body sent with a GET is ignored, never parsed.
    const withBody = await api.inject({ method: 'GET', url: '/stats', headers: { 'content-type': 'application/json' }, payload: '{'.repeat(5000) })
    assert.equal(withBody.statusCode, 200)
  })
})

describe('store failures', () => {
  const ROUTES = [
    '/stats', '/stats/words', '/stats/nicks?bots=exclude', '/stats/rooms', '/stats/emotes?window=1h',
    '/stats/rooms/%23forsen', '/stats/timeseries', '/stats/failedMessages', '/health/ready'
  ]

  it('a store whose calls hang: every route answers 503 JSON after STORE_TIMEOUT_MS', { timeout: 20_000 }, async (t) => {
    const api = await app(t, { store: hangingStore() })
    const answers = await Promise.all(ROUTES.map(async (url) => await api.inject({ url })))
    for (const [i, res] of answers.entries()) {
      assert.equal(res.statusCode, 503, ROUTES[i])
      assert.deepEqual(JSON.parse(res.body), {
        statusCode: 503, error: 'Service Unavailable', message: 'the statistics store did not answer within 300 ms', code: 'CS_STORE_TIMEOUT'
      })
      assert.equal(res.headers['retry-after'], '1')
    }
    // Liveness does not touch the store.
    assert.equal((await api.inject({ url: '/health/live' })).statusCode, 200)
  })

  it('a Redis store pointed at a closed port: 503 without internals', { timeout: 20_000 }, async (t) => {
    const port = await closedPort()
    const redis = createRedisClient({ host: '127.0.0.1', port, commandTimeoutMs: 200 })
    const store = new RedisStore({ redis, namespace: randomPrefix('test:api-down'), maxTrackedWords: 1000, maxTrackedPerRoom: 1000 })
    t.after(async () => { await store.close() })
    // The store never opens: the client keeps trying to connect in the background while the API answers.
    await assert.rejects(store.open())
    const api = await app(t, { store })
    for (const url of ROUTES) {
      const res = await api.inject({ url })
      assert.equal(res.statusCode, 503, url)
      const body = JSON.parse(res.body) as { statusCode: number, error: string, message: string, code: string }
      assert.equal(body.statusCode, 503)
      assert.ok(['CS_STORE_TIMEOUT', 'CS_STORE_UNAVAILABLE'].includes(body.code), body.code)
      assert.ok(!/ECONNREFUSED|127\.0\.0\.1|\d{4,5}/.test(body.message), body.message)
    }
  })

  it('a store that rejects: 503 with a fixed message', async (t) => {
    const failing = new Proxy({} as StatsStore, {
      get: () => async () => { throw new Error(`connect ECONNREFUSED 10.0.0.5:6379 password=hunter2`) }
    })
    const api = await app(t, { store: failing })
    const res = await api.inject({ url: '/stats/words' })
    assert.equal(res.statusCode, 503)
    assert.deepEqual(JSON.parse(res.body), { statusCode: 503, error: 'Service Unavailable', message: 'the statistics store is unavailable', code: 'CS_STORE_UNAVAILABLE' })
  })
})

describe('readiness with an in-process worker', () => {
  it('is ready when the worker is connected or standing by, else 503 with the reason', async (t) => {
    const store = await seededMemoryStore(t)
    let status: { connected: boolean, role: 'active' | 'standby' | 'none' } = { connected: true, role: 'active' }
    const api = await app(t, { store, workerStatus: () => status })
    const ready = await api.inject({ url: '/health/ready' })
    assert.equal(ready.statusCode, 200)
    assert.deepEqual(JSON.parse(ready.body), { status: 'ready', store: 'ok', worker: { connected: true, role: 'active' } })

    status = { connected: false, role: 'standby' }
    assert.equal((await api.inject({ url: '/health/ready' })).statusCode, 200)

    for (const role of ['active', 'none'] as const) {
      status = { connected: false, role }
      const res = await api.inject({ url: '/health/ready' })
      assert.equal(res.statusCode, 503)
      assert.deepEqual(JSON.parse(res.body), {
        statusCode: 503, error: 'Service Unavailable', message: `the worker is not connected to the chat stream (role: ${role})`, code: 'CS_WORKER_NOT_READY'
      })
    }
    assert.equal((await api.inject({ url: '/health/live' })).statusCode, 200)
  })
})
