import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, it, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp, type WorkerStatus } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { StatsStore } from '../../src/store/types.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'

/** GET /stats/stream over a real socket: the first events, then the client goes away. */

interface SseEvent { event: string, data: string }

/** Connects, collects `count` events (comments and retry lines skipped), then aborts the request. */
async function readEvents (app: FastifyInstance, path: string, count: number): Promise<{ headers: http.IncomingHttpHeaders, events: SseEvent[] }> {
  const address = app.server.address()
  assert.ok(address !== null && typeof address === 'object')
  return await new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port: address.port, path }, (response) => {
      const events: SseEvent[] = []
      let buffer = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('data: ')) data.push(line.slice(6))
          }
          if (data.length === 0) continue
          events.push({ event, data: data.join('\n') })
          if (events.length === count) {
            request.destroy()
            resolve({ headers: response.headers, events })
            return
          }
        }
      })
      response.on('error', () => {})
      response.on('end', () => reject(new Error(`stream ended after ${events.length} events`)))
    })
    request.on('error', (err) => { if (!request.destroyed) reject(err) })
  })
}

async function listen (t: TestContext, store: StatsStore, workerStatus?: () => WorkerStatus): Promise<FastifyInstance> {
  const config = loadConfig({ LOG_LEVEL: 'silent', STORE_TIMEOUT_MS: '300', RATE_LIMIT_MAX: '1000000' }, null)
  const app = await buildApp({ config, store, workerStatus })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.after(async () => { await app.close() })
  return app
}

async function seededStore (t: TestContext): Promise<MemoryStore> {
  const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  t.after(async () => { await store.close() })
  const builder = new BatchBuilder()
  for (const [room, nick, body] of [['#forsen', 'alice', 'pog pog kekw'], ['#forsen', 'bob', 'pog'], ['#xqc', 'carol', 'the']]) {
    builder.addEvent(JSON.stringify({ command: '', room, nick, target: '', body, tags: '' }), '')
  }
  await store.applyBatch(builder.take(1))
  return store
}

describe('GET /stats/stream', () => {
  it('sends a stats snapshot at once, then one a second, as text/event-stream', { timeout: 20_000 }, async (t) => {
    const store = await seededStore(t)
    const app = await listen(t, store, () => ({ connected: true, role: 'active' }))
    const { headers, events } = await readEvents(app, '/stats/stream?limit=2&stopwords=exclude&room=%23forsen', 2)
    assert.match(String(headers['content-type']), /^text\/event-stream/)
    assert.equal(headers['cache-control'], 'no-cache, no-transform')
    assert.equal(headers['x-content-type-options'], 'nosniff')
    for (const { event, data } of events) {
      assert.equal(event, 'stats')
      const snapshot = JSON.parse(data) as {
        stats: { totalMessages: number, windowSeconds: number }
        top: Record<string, unknown[]>
        maxError: unknown
        series: Array<{ t: number, messages: number }>
        room: { room: string, messages: number, words: unknown[] }
        worker: unknown
        at: number
      }
      assert.equal(snapshot.stats.totalMessages, 3)
      assert.equal(snapshot.stats.windowSeconds, 10)
      assert.deepEqual(snapshot.top.words, [{ word: 'pog', count: 3 }, { word: 'kekw', count: 1 }])
      assert.deepEqual(snapshot.top.nicks, [{ nick: 'alice', count: 1 }, { nick: 'bob', count: 1 }])
      assert.deepEqual(snapshot.top.rooms, [{ room: '#forsen', count: 2 }, { room: '#xqc', count: 1 }])
      assert.deepEqual(snapshot.top.emotes, [])
      // An exact store: every list's bound is 0 (the dashboard shows no ≈ marker).
      assert.deepEqual(snapshot.maxError, { words: 0, nicks: 0, rooms: 0, emotes: 0, room: { words: 0, nicks: 0, emotes: 0 } })
      assert.equal(snapshot.series.length, 300)
      assert.equal(snapshot.series.reduce((sum, p) => sum + p.messages, 0), 3)
      assert.equal(snapshot.room.room, '#forsen')
      assert.equal(snapshot.room.messages, 2)
      assert.deepEqual(snapshot.room.words, [{ word: 'pog', count: 3 }, { word: 'kekw', count: 1 }])
      assert.deepEqual(snapshot.worker, { connected: true, role: 'active' })
      assert.equal(typeof snapshot.at, 'number')
    }
  })

  it('an unknown ?room= gives room: null; no worker gives worker: null', { timeout: 20_000 }, async (t) => {
    const app = await listen(t, await seededStore(t))
    const { events } = await readEvents(app, '/stats/stream?room=%23nowhere&window=1m', 1)
    const snapshot = JSON.parse(events[0]!.data) as { room: unknown, worker: unknown, top: { rooms: unknown[] } }
    assert.equal(snapshot.room, null)
    assert.equal(snapshot.worker, null)
    assert.deepEqual(snapshot.top.rooms, [{ room: '#forsen', count: 2 }, { room: '#xqc', count: 1 }])
  })

  it('a store failure sends event: error and the stream goes on', { timeout: 20_000 }, async (t) => {
    const store = await seededStore(t)
    let failing = true
    const flaky = new Proxy(store, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver) as unknown
        if (typeof value !== 'function') return value
        return async (...args: unknown[]) => {
          if (failing) {
            failing = false
            throw new Error('store down for one tick')
          }
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        }
      }
    })
    const app = await listen(t, flaky)
    const { events } = await readEvents(app, '/stats/stream', 2)
    assert.equal(events[0]!.event, 'error')
    assert.deepEqual(JSON.parse(events[0]!.data), { statusCode: 503, error: 'Service Unavailable', message: 'the statistics store is unavailable', code: 'CS_STORE_UNAVAILABLE' })
    assert.equal(events[1]!.event, 'stats')
    assert.equal((JSON.parse(events[1]!.data) as { stats: { totalMessages: number } }).stats.totalMessages, 3)
  })

  it('bad parameters are a 400 before the stream starts', async (t) => {
    const app = await listen(t, await seededStore(t))
    for (const query of ['limit=0', 'window=2m', 'rateWindow=0', 'bots=maybe', `room=${'r'.repeat(101)}`]) {
      const res = await app.inject({ url: `/stats/stream?${query}` })
      assert.equal(res.statusCode, 400, query)
      assert.match(String(res.headers['content-type']), /application\/json/)
    }
  })

  it('close() ends open streams instead of waiting for them', { timeout: 20_000 }, async (t) => {
    const store = await seededStore(t)
    const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000' }, null)
    const app = await buildApp({ config, store })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    assert.ok(address !== null && typeof address === 'object')
    const ended = new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port: address.port, path: '/stats/stream' }, (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
          if (text.includes('event: stats')) void app.close()
        })
        response.on('end', () => resolve(text))
        response.on('error', () => resolve(text))
      })
    })
    const text = await ended
    assert.match(text, /^retry: 2000\n/)
    assert.match(text, /event: stats\ndata: \{/)
  })
})
