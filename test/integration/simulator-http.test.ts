import assert from 'node:assert/strict'
import { get, request, type IncomingMessage } from 'node:http'
import { describe, it } from 'node:test'
import { generateEvent, generateRange, startSimulator, type SimulatorHandle } from '../../src/simulator/index.js'

interface Reply {
  status: number
  contentType: string
  body: Buffer
  /** The body ended properly (not cut). */
  complete: boolean
}

/** Reads a whole response (or until `stopWhen` says enough, then drops the connection). */
async function read (url: string, headers: Record<string, string> = {}, stopWhen?: (body: Buffer) => boolean): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      let settled = false
      const finish = (complete: boolean): void => {
        if (settled) return
        settled = true
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks, size), complete })
      }
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        size += chunk.length
        if (stopWhen?.(Buffer.concat(chunks, size)) === true) {
          finish(false)
          req.destroy()
        }
      })
      res.on('end', () => finish(true))
      res.on('error', () => finish(false))
      res.on('close', () => finish(res.complete))
    })
    req.on('error', (err) => reject(err))
  })
}

async function simulator (t: { after: (fn: () => Promise<void>) => void }, options: Partial<Parameters<typeof startSimulator>[0]> = {}): Promise<SimulatorHandle> {
  const handle = await startSimulator({ seed: 77, rate: 0, port: 0, ...options })
  t.after(() => handle.close())
  return handle
}

async function until (condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.fail(`gave up waiting for ${what}`)
}

describe('simulator over HTTP', () => {
  it('serves events 1..count as an event stream, then ends', async (t) => {
    const sim = await simulator(t, { count: 300 })
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    const reply = await read(sim.url + 'any/path?x=1')
    assert.equal(reply.status, 200)
    assert.equal(reply.contentType, 'text/event-stream; charset=utf-8')
    assert.ok(reply.complete, 'the response ended properly')
    assert.equal(reply.body.toString('utf8'), generateRange(77, 1, 300))
    assert.equal(sim.stats().eventsWritten, 300)
  })

  it('resumes after Last-Event-ID with exactly the continuation', async (t) => {
    const sim = await simulator(t, { count: 300 })
    const full = (await read(sim.url)).body.toString('utf8')
    // A first reader gets as far as event 137 and drops the connection.
    const marker = Buffer.from('\nid: 138\n')
    const partial = await read(sim.url, {}, (body) => body.includes(marker))
    const text = partial.body.toString('utf8')
    const end137 = text.indexOf('\n\n', text.indexOf('\nid: 137\n')) + 2
    // Anything sent before event 138's own lines (a keep-alive, a ping) belongs to event 138.
    const upTo137 = text.slice(0, end137)
    assert.equal(upTo137, generateRange(77, 1, 137))
    const rest = await read(sim.url, { 'Last-Event-ID': '137' })
    assert.ok(rest.complete, 'the response ended properly')
    assert.equal(rest.body.toString('utf8'), generateRange(77, 138, 300))
    assert.equal(upTo137 + rest.body.toString('utf8'), full)
  })

  it('gives an empty stream that ends when resumed at the last event', async (t) => {
    const sim = await simulator(t, { count: 50 })
    const reply = await read(sim.url, { 'Last-Event-ID': '50' })
    assert.equal(reply.status, 200)
    assert.ok(reply.complete, 'the response ended properly')
    assert.equal(reply.body.length, 0)
  })

  it('answers 400 with a clear error to a bad Last-Event-ID', async (t) => {
    const sim = await simulator(t, { count: 50 })
    for (const [value, message] of [['abc', /must be a whole number from 0 to 50 \(got "abc"\)/], ['51', /out of range/], ['-3', /whole number/]] as const) {
      const reply = await read(sim.url, { 'Last-Event-ID': value })
      assert.equal(reply.status, 400, value)
      assert.match(reply.contentType, /^text\/plain/)
      assert.match(reply.body.toString('utf8'), message)
    }
    const unbounded = await simulator(t, {})
    const reply = await read(unbounded.url, { 'Last-Event-ID': 'later' })
    assert.equal(reply.status, 400)
  })

  it('serves GET only', async (t) => {
    const sim = await simulator(t, { count: 5 })
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(sim.url, { method: 'POST' }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 405)
  })

  it('paces at the rate and gives the same events', async (t) => {
    const sim = await simulator(t, { count: 120, rate: 2000 })
    const reply = await read(sim.url)
    assert.ok(reply.complete, 'the response ended properly')
    assert.equal(reply.body.toString('utf8'), generateRange(77, 1, 120))
  })

  it('serves independent connections', async (t) => {
    const sim = await simulator(t, { count: 200, rate: 5000 })
    const [a, b] = await Promise.all([read(sim.url), read(sim.url, { 'Last-Event-ID': '100' })])
    assert.equal(a.body.toString('utf8'), generateRange(77, 1, 200))
    assert.equal(b.body.toString('utf8'), generateRange(77, 101, 200))
  })

  it('stops generating while the client does not read (back-pressure)', async (t) => {
    const sim = await simulator(t, {})
    let response: IncomingMessage | null = null
    const req = get(sim.url, (res) => {
      response = res
      res.pause()
    })
    req.on('error', () => {})
    t.after(() => { req.destroy() })
    await until(() => response !== null && sim.stats().eventsWritten > 0, 'the first events')
    // Wait until generation settles: socket buffers full, the server waiting for 'drain'.
    let previous = -1
    let steady = 0
    await until(() => {
      const written = sim.stats().bytesWritten
      steady = written === previous ? steady + 1 : 0
      previous = written
      return steady >= 5
    }, 'generation to stop')
    const stalled = sim.stats()
    // Kernel and stream buffers on loopback hold a few MB; an unbounded generator would be far past that.
    assert.ok(stalled.bytesWritten < 24 * 1024 * 1024, `generated ${stalled.bytesWritten} bytes for a client that read nothing`)
    assert.ok(stalled.eventsWritten < 60_000, `generated ${stalled.eventsWritten} events`)
    assert.equal(stalled.connections, 1)
    // Reading again resumes generation where it stopped.
    let consumed = 0
    const chunks: Buffer[] = []
    const res = response as unknown as IncomingMessage
    res.on('data', (chunk: Buffer) => {
      consumed += chunk.length
      if (chunks.length < 100) chunks.push(chunk)
    })
    res.resume()
    await until(() => consumed > stalled.bytesWritten + 1024 * 1024, 'more events after resuming')
    assert.ok(sim.stats().eventsWritten > stalled.eventsWritten, 'generation resumed')
    req.destroy()
    // What the client got is the stream from its start, in order.
    const received = Buffer.concat(chunks)
    const expected = Buffer.from(generateRange(77, 1, 500), 'utf8')
    assert.ok(received.length >= expected.length, `received ${received.length} bytes`)
    assert.deepEqual(received.subarray(0, expected.length), expected)
    await until(() => sim.stats().connections === 0, 'the connection to close')
  })

  it('can cut each connection mid-event (fault injection)', async (t) => {
    const sim = await simulator(t, { count: 40, cutAfterEvents: 5 })
    const first = await read(sim.url)
    assert.equal(first.complete, false)
    const sixth = Buffer.from(generateEvent(77, 6), 'utf8')
    assert.deepEqual(first.body, Buffer.concat([Buffer.from(generateRange(77, 1, 5)), sixth.subarray(0, sixth.length >> 1)]))
    const second = await read(sim.url, { 'Last-Event-ID': '5' })
    assert.equal(second.complete, false)
    assert.ok(second.body.toString('utf8').startsWith(generateRange(77, 6, 10)), 'the second connection resumes at event 6')
  })

  it('close() ends open streams and stops listening', async () => {
    const sim = await startSimulator({ seed: 1, rate: 100, port: 0 })
    const reading = read(sim.url)
    await until(() => sim.stats().eventsWritten > 0, 'the first event')
    await sim.close()
    const reply = await reading
    assert.equal(reply.status, 200)
    assert.ok(reply.body.toString('utf8').startsWith(generateEvent(1, 1)), 'the stream began with event 1')
    await assert.rejects(read(sim.url))
    await sim.close() // idempotent
  })

  it('refuses bad options with the option named', async () => {
    await assert.rejects(startSimulator({ seed: 1.5, rate: 0, port: 0 }), /seed must be an integer/)
    await assert.rejects(startSimulator({ seed: 1, rate: Number.NaN, port: 0 }), /rate must be/)
    await assert.rejects(startSimulator({ seed: 1, rate: 0, port: 0, count: -1 }), /count must be/)
    await assert.rejects(startSimulator({ seed: 1, rate: 0, port: 99999 }), /port must be/)
  })
})
