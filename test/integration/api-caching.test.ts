import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { type Logger, pino } from 'pino'
import { buildApp } from '../../src/api/app.js'
import { LiveFeeds } from '../../src/api/services/live-feeds.js'
import { matchesEtag } from '../../src/api/shared-answer.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { StatsStore } from '../../src/store/types.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'

/**
 * Serving crowds: statistics answers with ETag, 304 and Cache-Control;
 * identical requests sharing one store read; the live stream costing one
 * snapshot per tick whatever the number of clients, and dropping a client
 * that does not read.
 */

/** A fixed "now" for the store and the API, so equal requests give equal bodies; a minute after the messages written (at their arrival). */
const NOW = Date.now() + 60_000
const fixedClock = (): number => NOW

async function memoryStore (t: TestContext, clock?: () => number): Promise<MemoryStore> {
  const store = new MemoryStore({ maxTrackedWords: 10_000, maxTrackedPerRoom: 1000, snapshotPath: null, clock })
  await store.open()
  t.after(async () => { await store.close() })
  return store
}

let batches = 0

async function write (store: StatsStore, messages: Array<{ room?: string, nick?: string, body: string }>, id: string, maxNameBytes?: number): Promise<void> {
  const builder = new BatchBuilder(undefined, maxNameBytes)
  for (const m of messages) builder.addEvent(JSON.stringify({ command: '', room: m.room ?? '#forsen', nick: m.nick ?? 'alice', target: '', body: m.body, tags: '' }), id)
  await store.applyBatch(builder.take(++batches))
}

/** The real store, with every call of each method counted. */
function counted (store: StatsStore): { store: StatsStore, calls: Map<string, number> } {
  const calls = new Map<string, number>()
  const proxy = new Proxy(store, {
    get (target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown
      if (typeof value !== 'function' || typeof name !== 'string') return value
      return (...args: unknown[]) => {
        calls.set(name, (calls.get(name) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  })
  return { store: proxy, calls }
}

async function app (t: TestContext, store: StatsStore, settings: Record<string, string> = {}, clock?: () => number): Promise<FastifyInstance> {
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000', ...settings }, null)
  const instance = await buildApp({ config, store, clock })
  t.after(async () => { await instance.close() })
  return instance
}

describe('ETag, If-None-Match and Cache-Control on statistics answers', () => {
  const ROUTES = ['/stats', '/stats/words', '/stats/nicks?bots=exclude', '/stats/rooms', '/stats/emotes', '/stats/words?window=5m', '/stats/rooms/%23forsen', '/stats/trending', '/stats/trending?kind=emotes&room=%23forsen']

  it('a 200 carries a weak ETag and a short public Cache-Control; naming the ETag gets a 304 with no body and the same headers', async (t) => {
    const store = await memoryStore(t, fixedClock)
    await write(store, [{ body: 'pog pog kappa' }, { body: 'kappa', nick: 'bob' }], '1')
    // API_CACHE_MS 0: every request reads the store, so equal ETags mean equal content, not a shared object.
    const api = await app(t, store, { API_CACHE_MS: '0' }, fixedClock)
    for (const url of ROUTES) {
      const first = await api.inject({ url })
      assert.equal(first.statusCode, 200, url)
      const etag = String(first.headers.etag)
      assert.match(etag, /^W\/"[\w-]{20,}"$/, url)
      assert.equal(first.headers['cache-control'], 'public, max-age=1', url)
      assert.match(String(first.headers['content-type']), /^application\/json/, url)

      for (const ifNoneMatch of [etag, etag.slice(2), `"other", ${etag}`, '*']) {
        const again = await api.inject({ url, headers: { 'if-none-match': ifNoneMatch } })
        assert.equal(again.statusCode, 304, `${url} ${ifNoneMatch}`)
        assert.equal(again.body, '', url)
        assert.equal(again.headers.etag, etag, url)
        assert.equal(again.headers['cache-control'], 'public, max-age=1', url)
        // Security headers are on every answer, 304s included.
        assert.equal(again.headers['x-content-type-options'], 'nosniff', url)
      }
      for (const ifNoneMatch of ['W/"other"', '', etag.replace(/"$/, 'x"')]) {
        const changed = await api.inject({ url, headers: { 'if-none-match': ifNoneMatch } })
        assert.equal(changed.statusCode, 200, `${url} ${ifNoneMatch}`)
        assert.equal(changed.body, first.body, url)
      }
    }
  })

  it('new counts make a new ETag: the old one is answered with the new body', async (t) => {
    const store = await memoryStore(t, fixedClock)
    await write(store, [{ body: 'pog' }], '1')
    const api = await app(t, store, { API_CACHE_MS: '0' }, fixedClock)
    // Every route but the emotes list (no emotes written) and trending (too few messages to trend) changes with the second batch.
    const changing = ROUTES.filter((url) => !url.startsWith('/stats/emotes') && !url.startsWith('/stats/trending'))
    const before = await Promise.all(changing.map(async (url) => await api.inject({ url })))
    await write(store, [{ body: 'pog kappa', nick: 'carol' }], '2')
    for (const [i, url] of changing.entries()) {
      const after = await api.inject({ url, headers: { 'if-none-match': String(before[i]!.headers.etag) } })
      assert.equal(after.statusCode, 200, url)
      assert.notEqual(after.headers.etag, before[i]!.headers.etag, url)
      assert.notEqual(after.body, before[i]!.body, url)
    }
  })

  it('API_MAX_AGE_SECONDS sets max-age; 0 asks every cache to revalidate', async (t) => {
    const store = await memoryStore(t)
    assert.equal((await (await app(t, store, { API_MAX_AGE_SECONDS: '5' })).inject({ url: '/stats/words' })).headers['cache-control'], 'public, max-age=5')
    const noCache = await app(t, store, { API_MAX_AGE_SECONDS: '0' })
    const res = await noCache.inject({ url: '/stats/words' })
    assert.equal(res.headers['cache-control'], 'no-cache')
    assert.equal((await noCache.inject({ url: '/stats/words', headers: { 'if-none-match': String(res.headers.etag) } })).statusCode, 304)
    assert.throws(() => loadConfig({ API_MAX_AGE_SECONDS: '-1' }, null), /API_MAX_AGE_SECONDS/)
    assert.throws(() => loadConfig({ API_MAX_AGE_SECONDS: '1e9' }, null), /API_MAX_AGE_SECONDS/)
  })

  it('errors, the admin route and the timeseries carry no ETag and no public Cache-Control', async (t) => {
    const store = await memoryStore(t)
    const api = await app(t, store)
    for (const url of ['/stats/words?limit=0', '/stats/rooms/%23nosuchroom', '/stats/failedMessages', '/stats/timeseries']) {
      const res = await api.inject({ url })
      assert.equal(res.headers.etag, undefined, url)
      assert.doesNotMatch(String(res.headers['cache-control'] ?? ''), /public/, url)
    }
    // A 304 is never an answer to an error.
    assert.equal((await api.inject({ url: '/stats/words?limit=0', headers: { 'if-none-match': '*' } })).statusCode, 400)
  })

  it('matchesEtag reads lists, weak tags and hostile headers', () => {
    assert.equal(matchesEtag(undefined, 'W/"a"'), false)
    assert.equal(matchesEtag('"a"', 'W/"a"'), true)
    assert.equal(matchesEtag('W/"b" ,  W/"a"', 'W/"a"'), true)
    assert.equal(matchesEtag('"a', 'W/"a"'), false)
    assert.equal(matchesEtag('a', 'W/"a"'), false)
    assert.equal(matchesEtag(',,,'.repeat(5000), 'W/"a"'), false)
    assert.equal(matchesEtag(`${'"x", '.repeat(2000)}"a"`, 'W/"a"'), true)
  })
})

describe('shared reads', () => {
  it('a burst of identical requests costs one store read and gets byte-identical bodies; API_CACHE_MS 0 reads per request', async (t) => {
    const memory = await memoryStore(t)
    await write(memory, [{ body: 'pog kappa' }], '1')
    const { store, calls } = counted(memory)
    const shared = await app(t, store, { API_CACHE_MS: '10000' })
    const answers = await Promise.all(Array.from({ length: 50 }, async () => await shared.inject({ url: '/stats/words?limit=5' })))
    assert.equal(calls.get('top'), 1)
    assert.equal(new Set(answers.map((a) => a.body)).size, 1)
    assert.equal(new Set(answers.map((a) => a.headers.etag)).size, 1)
    // Another query is another read.
    await shared.inject({ url: '/stats/words?limit=6' })
    assert.equal(calls.get('top'), 2)

    calls.clear()
    const unshared = await app(t, store, { API_CACHE_MS: '0' })
    await Promise.all(Array.from({ length: 20 }, async () => await unshared.inject({ url: '/stats/words?limit=5' })))
    assert.equal(calls.get('top'), 20)
  })
})

/** One GET over a socket: status, headers and body as sent. */
async function get (api: FastifyInstance, path: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string }> {
  const address = api.server.address()
  assert.ok(address !== null && typeof address === 'object')
  return await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: address.port, path, headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, headers: response.headers, body }) })
    }).on('error', reject)
  })
}

/** Listening on loopback, with every answer AnswerReplay gave counted. */
async function listening (t: TestContext, store: StatsStore, settings: Record<string, string>, options: { clock?: () => number, logger?: Logger } = {}): Promise<{ api: FastifyInstance, replayed: () => number }> {
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000', ...settings }, null)
  const api = await buildApp({ config, store, clock: options.clock, logger: options.logger })
  t.after(async () => { await api.close() })
  let replayed = 0
  const serve = api.answerReplay.serve.bind(api.answerReplay)
  api.answerReplay.serve = (req, res) => {
    const answered = serve(req, res)
    if (answered) replayed++
    return answered
  }
  await api.listen({ host: '127.0.0.1', port: 0 })
  return { api, replayed: () => replayed }
}

function withoutDate (headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const { date: _date, ...rest } = headers
  return rest
}

describe('answers replayed before Fastify (AnswerReplay)', () => {
  it('an answer still shared is replayed to the same URL with the same headers and bytes, without rate-limit headers, and counted in the metrics', async (t) => {
    const memory = await memoryStore(t, fixedClock)
    await write(memory, [{ body: 'pog pog kappa' }], '1')
    const { store, calls } = counted(memory)
    const { api, replayed } = await listening(t, store, { API_CACHE_MS: '10000', CORS_ORIGIN: 'https://a.example' }, { clock: fixedClock })
    for (const url of ['/stats', '/stats/words?limit=5', '/stats/words?window=5m', '/stats/rooms/%23forsen']) {
      const first = await get(api, url)
      assert.equal(first.status, 200, url)
      assert.ok(first.headers['x-ratelimit-remaining'] !== undefined, url)
      const before = replayed()
      const again = await get(api, url)
      assert.equal(replayed(), before + 1, `${url} replayed`)
      assert.equal(again.body, first.body, url)
      const expected = Object.fromEntries(Object.entries(withoutDate(first.headers)).filter(([name]) => !name.startsWith('x-ratelimit-')))
      assert.deepEqual(withoutDate(again.headers), expected, url)
      assert.equal(again.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", url)
      // A conditional request and a CORS request take the route: a 304, the CORS headers.
      const conditional = await get(api, url, { 'if-none-match': String(first.headers.etag) })
      assert.equal(conditional.status, 304, url)
      const cors = await get(api, url, { origin: 'https://a.example' })
      assert.equal(cors.headers['access-control-allow-origin'], 'https://a.example', url)
      assert.equal(cors.body, first.body, url)
      assert.equal(replayed(), before + 1, `${url}: only the plain request replayed`)
    }
    // One store read per query, as without the replay.
    assert.equal(calls.get('top'), 2)
    const metrics = await get(api, '/metrics')
    assert.match(metrics.body, /chat_stats_http_request_duration_seconds_count\{method="GET",route="\/stats\/words",status_code="200"\} [4-9]/)
  })

  it('a windowed answer replayed carries Last-Modified from the clock at the request, as the route sets it', async (t) => {
    const memory = await memoryStore(t, fixedClock)
    await write(memory, [{ body: 'pog' }], '1')
    let now = NOW
    const { api, replayed } = await listening(t, memory, { API_CACHE_MS: '10000' }, { clock: () => now })
    const first = await get(api, '/stats/words?window=5m')
    assert.equal(first.headers['last-modified'], new Date(NOW).toUTCString())
    now += 5000
    const again = await get(api, '/stats/words?window=5m')
    assert.equal(replayed(), 1)
    assert.equal(again.headers['last-modified'], new Date(NOW + 5000).toUTCString())
  })

  it('nothing is replayed past API_CACHE_MS, with API_CACHE_MS 0, or while the request log writes a line per request', async (t) => {
    const memory = await memoryStore(t)
    await write(memory, [{ body: 'pog' }], '1')
    const short = await listening(t, memory, { API_CACHE_MS: '50' })
    assert.match((await get(short.api, '/stats/words')).body, /"pog","count":1\}/)
    await write(memory, [{ body: 'pog' }], '2')
    await new Promise((resolve) => setTimeout(resolve, 80))
    assert.match((await get(short.api, '/stats/words')).body, /"pog","count":2\}/)

    const { store, calls } = counted(memory)
    const unshared = await listening(t, store, { API_CACHE_MS: '0' })
    for (let i = 0; i < 5; i++) await get(unshared.api, '/stats/words')
    assert.equal(unshared.replayed(), 0)
    assert.equal(calls.get('top'), 5)

    const lines: string[] = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => { lines.push(line) } })
    const logged = await listening(t, memory, { API_CACHE_MS: '10000' }, { logger })
    for (let i = 0; i < 3; i++) await get(logged.api, '/stats/words')
    assert.equal(logged.replayed(), 0)
    assert.equal(lines.filter((line) => line.includes('"url":"/stats/words"') && line.includes('request completed')).length, 3)
  })
})

interface StreamClient {
  /** `event:` names received so far, in order. */
  events: string[]
  close: () => void
}

async function openStream (api: FastifyInstance, path: string, from: string): Promise<StreamClient> {
  const address = api.server.address()
  assert.ok(address !== null && typeof address === 'object')
  return await new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port: address.port, path, localAddress: from, agent: false }, (response) => {
      assert.equal(response.statusCode, 200)
      const client: StreamClient = { events: [], close: () => request.destroy() }
      let buffer = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1]
          if (event !== undefined) client.events.push(event)
        }
      })
      response.on('error', () => {})
      resolve(client)
    })
    request.on('error', (err) => { if (!request.destroyed) reject(err) })
  })
}

async function waitFor (what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('live-stream fan-out', () => {
  it('a feed makes each frame once and hands every client the same Buffer, clients joining at any time', { timeout: 30_000 }, async (t) => {
    let made = 0
    const feeds = new LiveFeeds<{ limit: number }>({
      snapshot: async (params) => ({ made: ++made, limit: params.limit }),
      intervalMs: 50,
      keepAliveMs: 60_000,
      log: (await app(t, await memoryStore(t))).log
    })
    t.after(() => { feeds.close() })
    const received: Buffer[][] = []
    const leaves: Array<() => void> = []
    for (let group = 0; group < 4; group++) {
      for (let i = 0; i < 10; i++) {
        const frames: Buffer[] = []
        received.push(frames)
        leaves.push(feeds.join('a', { limit: 3 }, { send: (frame) => { frames.push(frame) } }))
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await waitFor('three frames on every client', () => received.every((frames) => frames.length >= 3))
    const all = received.flat()
    // Every frame any client got is one of the frames made: one serialization each, shared by reference.
    assert.equal(new Set(all).size, made)
    assert.ok(made * 10 <= all.length, `${made} frames made for ${all.length} sent`)
    assert.match(all[0]!.toString('utf8'), /^event: stats\ndata: \{"made":\d+,"limit":3\}\n\n$/)
    assert.equal(feeds.size, 1)
    for (const leave of leaves) leave()
    // The last client gone, the feed stops: no more snapshots.
    assert.equal(feeds.size, 0)
    const madeAtEnd = made
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(made, madeAtEnd)
  })

  it('forty clients of one feed cost one snapshot per tick, not one per client', { timeout: 60_000 }, async (t) => {
    const memory = await memoryStore(t)
    await write(memory, [{ body: 'pog kappa' }], '1')
    const { store, calls } = counted(memory)
    const api = await app(t, store, { STREAMS_PER_CLIENT: '10' })
    await api.listen({ host: '127.0.0.1', port: 0 })
    const clients = await Promise.all(Array.from({ length: 40 }, async (_, i) => await openStream(api, '/stats/stream?limit=3', `127.0.0.${10 + (i % 4)}`)))
    t.after(() => { for (const client of clients) client.close() })
    const startedAt = performance.now()
    // Every client gets the snapshot at once and then one every second.
    await waitFor('three snapshots on every client', () => clients.every((c) => c.events.filter((e) => e === 'stats').length >= 3))
    const seconds = (performance.now() - startedAt) / 1000
    // A snapshot reads the totals once: the count of totals() calls is the count of snapshots made.
    const snapshots = calls.get('totals') ?? 0
    assert.ok(snapshots >= 3, `${snapshots} snapshots`)
    assert.ok(snapshots <= Math.ceil(seconds) + 2, `${snapshots} snapshots in ${seconds.toFixed(1)} s for 40 clients`)
  })

  it('a client that does not read is dropped once STREAM_MAX_BUFFERED_BYTES is unread; readers keep their stream', { timeout: 120_000 }, async (t) => {
    const memory = await memoryStore(t)
    // Long nicks and rooms (up to MAX_NAME_BYTES, at its greatest 1024) make each snapshot about 200 KB, so unread bytes pile up fast.
    const messages = Array.from({ length: 100 }, (_, i) => ({ room: `#${String(i).padStart(3, '0')}${'r'.repeat(1000)}`, nick: `${String(i).padStart(3, '0')}${'n'.repeat(1000)}`, body: `w${i}` }))
    await write(memory, messages, '1', 1024)
    const api = await app(t, memory, { STREAM_MAX_BUFFERED_BYTES: '16384' })
    await api.listen({ host: '127.0.0.1', port: 0 })
    const address = api.server.address()
    assert.ok(address !== null && typeof address === 'object')

    const reader = await openStream(api, '/stats/stream?limit=100', '127.0.0.2')
    t.after(() => { reader.close() })

    // The slow client: sends its request, then never reads a byte.
    const slow = net.connect({ host: '127.0.0.1', port: address.port, localAddress: '127.0.0.3' })
    t.after(() => { slow.destroy() })
    let slowClosed = false
    slow.on('close', () => { slowClosed = true })
    slow.on('error', () => {})
    slow.write('GET /stats/stream?limit=100 HTTP/1.1\r\nHost: localhost\r\n\r\n')
    slow.pause()
    await waitFor('two streams open', () => api.streamSlots.open === 2)

    await waitFor('the slow client dropped', () => api.streamSlots.open === 1, 100_000)
    // Reading what the kernel still holds, the client then sees the server's close.
    slow.resume()
    await waitFor('the slow socket closed', () => slowClosed)
    const metrics = (await api.inject({ url: '/metrics' })).body
    assert.match(metrics, /^chat_stats_sse_clients_dropped_total 1$/m)
    // The reader was not held back by it.
    const seen = reader.events.length
    await waitFor('the reader still served', () => reader.events.length > seen)
  })
})
