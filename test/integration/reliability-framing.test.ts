import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Writable } from 'node:stream'
import zlib from 'node:zlib'
import { pino } from 'pino'
import { buildApp } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import { bodyDecoders, httpSource, InterfaceContentTypeError, InterfaceEncodingError, refusedContentType } from '../../src/ingest/sources.js'
import { renderMetrics, watchWorker } from '../../src/metrics.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { MIN_RECONNECT_INTERVAL_MS } from '../../src/worker/stream-reader.js'
import { Worker } from '../../src/worker/worker.js'
import { waitUntil } from '../helpers/processes.js'

/**
 * The interface's framing is not taken on trust: a content-coded body is
 * decoded (gzip, deflate, br, and a chain of them), an unknown coding or a
 * body that is not an event stream (an HTML page) is refused with a clear
 * error and retried with a growing back-off, `retry: 0` cannot make the
 * worker dial more than once a second, and a connected stream that counts
 * nothing (failed lines only) makes readiness fail and shows in a metric.
 * Each case runs a real worker against a real local HTTP server.
 */

const MESSAGES = 300

function sseBody (count: number, firstId = 1): string {
  let text = ''
  for (let i = 0; i < count; i++) {
    const payload = { command: '', room: '#framing', nick: `nick${i % 7}`, target: '', body: `pog word${i % 11}`, tags: '' }
    text += `id: ${firstId + i}\nevent: privmsg\ndata: ${JSON.stringify(payload)}\n\n`
  }
  return text
}

interface Served {
  url: string
  /** Time (Date.now) of each request the server got. */
  requests: number[]
  close: () => Promise<void>
}

/** A local interface answering each request with `answer`; the response ends when `answer` ends it. */
async function serve (t: TestContext, answer: (request: IncomingMessage, response: ServerResponse, index: number) => void): Promise<Served> {
  const requests: number[] = []
  const server: Server = createServer((request, response) => {
    requests.push(Date.now())
    answer(request, response, requests.length - 1)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const close = async (): Promise<void> => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  }
  t.after(close)
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests, close }
}

interface LogRecord { level: number, msg: string, err?: { message?: string, code?: string }, delayMs?: number }

/** A worker on a memory store reading `url`, its log lines kept as objects. */
async function startWorker (t: TestContext, url: string, streamStallMs = 60_000, clock: () => number = Date.now): Promise<{ worker: Worker, store: MemoryStore, logs: LogRecord[], running: Promise<void> }> {
  const logs: LogRecord[] = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as LogRecord)
      done()
    }
  })
  const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  const worker = new Worker({ store, source: httpSource(url, 'test interface'), logger: pino({ level: 'info' }, sink), flushIntervalMs: 20, streamStallMs, clock })
  const running = worker.run()
  t.after(async () => {
    await worker.stop()
    await running
    await store.close()
  })
  return { worker, store, logs, running }
}

const ENCODERS: Record<string, (data: Buffer) => Buffer> = {
  gzip: (data) => zlib.gzipSync(data),
  deflate: (data) => zlib.deflateSync(data),
  br: (data) => zlib.brotliCompressSync(data)
}

describe('the interface\'s framing', () => {
  it('content types: event streams and NDJSON are read, anything else refused', () => {
    for (const type of [undefined, '', 'text/event-stream', 'text/event-stream; charset=utf-8', 'Text/Event-Stream', 'application/x-ndjson', 'application/jsonl']) {
      assert.equal(refusedContentType(type), null, String(type))
    }
    for (const type of ['text/html', 'text/html; charset=utf-8', 'application/json', 'text/plain', 'application/octet-stream', 'x'.repeat(10_000)]) {
      const refused = refusedContentType(type)
      assert.ok(refused instanceof InterfaceContentTypeError, type)
      assert.equal(refused.code, 'CS_INTERFACE_CONTENT_TYPE')
      assert.match(refused.message, /expected text\/event-stream or application\/x-ndjson/)
      assert.ok(refused.message.length < 400, 'a hostile header is cut in the message')
    }
  })

  it('content codings: identity needs nothing, gzip/deflate/br are decoded last first, others refused', () => {
    assert.deepEqual(bodyDecoders(undefined), [])
    assert.deepEqual(bodyDecoders('identity'), [])
    assert.equal((bodyDecoders('gzip') as unknown[]).length, 1)
    assert.equal((bodyDecoders('gzip, br') as unknown[]).length, 2)
    for (const coding of ['zstd', 'compress', 'gzip, zstd', 'x'.repeat(10_000)]) {
      const refused = bodyDecoders(coding)
      assert.ok(refused instanceof InterfaceEncodingError, coding.slice(0, 20))
      assert.equal(refused.code, 'CS_INTERFACE_ENCODING')
      assert.ok(refused.message.length < 400)
    }
  })

  for (const coding of ['gzip', 'deflate', 'br', 'gzip, br']) {
    it(`a stream with Content-Encoding: ${coding} is decoded and counted in full`, async (t) => {
      const body = Buffer.from(sseBody(MESSAGES))
      const encoded = coding.split(', ').reduce<Buffer>((data, name) => (ENCODERS[name] as (d: Buffer) => Buffer)(data), body)
      const served = await serve(t, (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': coding })
        // In pieces, so the decoder meets arbitrary chunk boundaries; the connection stays open like a live stream.
        for (let at = 0; at < encoded.length; at += 97) response.write(encoded.subarray(at, at + 97))
      })
      const { worker, store } = await startWorker(t, served.url)
      await waitUntil(async () => (await store.totals()).totalMessages === MESSAGES, () => `${MESSAGES} messages (tally ${JSON.stringify(worker.tally)})`, 20_000)
      assert.equal(worker.tally.failed, 0)
      assert.equal(worker.connected, true)
      assert.equal(worker.stalledForMs, null)
    })
  }

  it('a corrupt gzip body ends the connection with zlib\'s error and the worker reconnects', async (t) => {
    const served = await serve(t, (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' })
      // Plain text where a gzip header should be.
      response.write(sseBody(5))
    })
    const { logs } = await startWorker(t, served.url)
    await waitUntil(() => served.requests.length >= 2, 'a reconnection', 20_000)
    const ended = logs.find((line) => line.msg === 'chat stream ended; reconnecting')
    assert.ok(ended?.err?.code?.startsWith('Z_'), JSON.stringify(ended))
  })

  it('a compressed stream cut mid-body is noticed at once: the worker resumes from Last-Event-ID and counts each event once', async (t) => {
    const served = await serve(t, (request, response, index) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' })
      const from = Number(request.headers['last-event-id'] ?? 0) + 1
      const gzip = zlib.createGzip()
      gzip.pipe(response)
      // The first answer is cut after half the events (mid-stream, no gzip trailer), once they reached
      // the socket; the second sends the rest and stays open.
      gzip.write(sseBody(index === 0 ? MESSAGES / 2 : MESSAGES - from + 1, from))
      gzip.flush(() => {
        if (index === 0) setTimeout(() => response.socket?.destroy(), 200)
      })
    })
    const { worker, store } = await startWorker(t, served.url)
    await waitUntil(async () => (await store.totals()).totalMessages === MESSAGES, () => `all events once (tally ${JSON.stringify(worker.tally)}, ${served.requests.length} requests, connected ${String(worker.connected)})`, 15_000)
    assert.equal(served.requests.length, 2)
    assert.equal(worker.tally.failed, 0)
  })

  for (const [what, headers, expected] of [
    ['an HTML page', { 'content-type': 'text/html; charset=utf-8' }, 'CS_INTERFACE_CONTENT_TYPE'],
    ['an unknown content coding', { 'content-type': 'text/event-stream', 'content-encoding': 'zstd' }, 'CS_INTERFACE_ENCODING']
  ] as const) {
    it(`${what} is refused with a clear error and retried with a growing back-off`, async (t) => {
      const served = await serve(t, (_request, response) => {
        response.writeHead(200, headers)
        response.end(`<html><body>${sseBody(3)}</body></html>`)
      })
      const { worker, logs } = await startWorker(t, served.url)
      await waitUntil(() => served.requests.length >= 4, 'four attempts', 30_000)
      const refusals = logs.filter((line) => line.msg === 'cannot connect to the chat interface; retrying')
      assert.ok(refusals.length >= 3)
      for (const line of refusals) assert.equal(line.err?.code, expected)
      // Nothing was read from the page: no failed message, nothing counted.
      assert.deepEqual(worker.tally, { messages: 0, system: 0, failed: 0, skipped: 0 })
      assert.equal(worker.connected, false)
      // Each delay's upper bound doubles (jitter draws from [base/2, base]); the third is past the floor's second.
      const delays = refusals.map((line) => line.delayMs ?? 0)
      assert.ok((delays[2] ?? 0) >= 200, `delays ${delays.join(', ')}`)
    })
  }

  it('`retry: 0` and a close after each event: at most one connection per MIN_RECONNECT_INTERVAL_MS of the worker\'s clock', async (t) => {
    const served = await serve(t, (_request, response, index) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.end(`retry: 0\n\n${sseBody(1, index + 1)}`)
    })
    // The worker's clock moves only when the test moves it, in steps longer than the back-off after an event
    // (at most 100 ms): without the floor every step would bring a connection.
    const clock = { now: Date.now() }
    const { worker } = await startWorker(t, served.url, 60_000, () => clock.now)
    await waitUntil(() => worker.tally.messages === 1 && !worker.connected, 'the first connection and its event', 20_000)
    const steps = 15
    const stepMs = 200
    for (let step = 0; step < steps; step++) {
      clock.now += stepMs
      // Long enough for the reader's pause (it looks at the clock every 100 ms at most) to see the step.
      await sleep(250)
    }
    const allowed = 1 + Math.floor(steps * stepMs / MIN_RECONNECT_INTERVAL_MS)
    assert.ok(served.requests.length >= 2, 'it does reconnect')
    assert.ok(served.requests.length <= allowed, `${served.requests.length} connections in ${steps * stepMs} ms of the worker's clock; at most ${allowed}`)
  })

  it('a connected stream that counts nothing (failed lines only) fails readiness and shows in the metric', async (t) => {
    let stop = false
    const served = await serve(t, (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      // Gzip bytes announced as plain text: every line a failed message, as the hostile tester saw.
      const garbage = zlib.gzipSync(Buffer.from(sseBody(50)))
      const timer = setInterval(() => {
        if (stop) { clearInterval(timer); response.end(); return }
        response.write(garbage)
        response.write('\n\n')
      }, 50)
      response.on('close', () => { clearInterval(timer) })
    })
    t.after(() => { stop = true })
    const { worker, store } = await startWorker(t, served.url, 1000)
    const unwatch = watchWorker(worker)
    t.after(unwatch)
    const app = await buildApp({
      config: loadConfig({ LOG_LEVEL: 'silent' }, null),
      store,
      workerStatus: () => ({ connected: worker.connected, role: worker.role === 'active' ? 'active' : 'none', stalledForMs: worker.stalledForMs })
    })
    t.after(async () => { await app.close() })
    await waitUntil(() => worker.tally.failed > 0, 'failed messages', 20_000)
    await waitUntil(() => worker.stalledForMs !== null, 'a stall', 20_000)
    assert.equal(worker.connected, true)
    assert.equal(worker.tally.messages, 0)
    const ready = await app.inject({ url: '/health/ready', remoteAddress: '127.0.0.1' })
    assert.equal(ready.statusCode, 503)
    assert.equal(ready.json<{ code: string }>().code, 'CS_STREAM_STALLED')
    assert.match(ready.json<{ message: string }>().message, /nothing countable/)
    const metric = /^chat_stats_stream_uncounted_seconds ([\d.e+-]+)$/m.exec(await renderMetrics())
    assert.ok(metric !== null && Number(metric[1]) >= 1, String(metric?.[0]))
  })

  it('a stream that counts is ready, and the metric stays near 0', async (t) => {
    let id = 0
    const served = await serve(t, (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      const timer = setInterval(() => { response.write(sseBody(5, ++id * 5)) }, 50)
      response.on('close', () => { clearInterval(timer) })
    })
    const { worker, store } = await startWorker(t, served.url, 1000)
    const app = await buildApp({
      config: loadConfig({ LOG_LEVEL: 'silent' }, null),
      store,
      workerStatus: () => ({ connected: worker.connected, role: worker.role === 'active' ? 'active' : 'none', stalledForMs: worker.stalledForMs })
    })
    t.after(async () => { await app.close() })
    await waitUntil(() => worker.tally.messages > 0, 'messages', 20_000)
    // Well past STREAM_STALL_MS of connection: still counting, so still ready.
    const connectedAt = Date.now()
    await waitUntil(() => Date.now() - connectedAt > 1500, 'time', 5000)
    assert.equal(worker.stalledForMs, null)
    assert.ok(worker.msWithoutCounted < 1000, String(worker.msWithoutCounted))
    const ready = await app.inject({ url: '/health/ready', remoteAddress: '127.0.0.1' })
    assert.equal(ready.statusCode, 200, ready.body)
    assert.equal(served.requests.length, 1)
  })
})
