import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, createServer as createTcpServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { expectedCounts, type ExpectedCounts, generateEvent } from '../../src/simulator/index.js'
import { createRedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { cleanupProcesses, lostAndDoubled, makeTempDir, memoryWorkerEnv, mib, redisWorkerEnv, startChatStats, waitUntil } from '../helpers/processes.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

/**
 * Hostile input (docs/COUNTING.md#failed-messages, docs/RELIABILITY.md#hostile-input): a stream of simulator events with
 * hostile items in between (random bytes, 200 MB lines without a newline,
 * invalid UTF-8, deeply nested JSON, a payload with 100,000 fields, a 1 MB
 * body). The worker process survives, its memory stays bounded, each item
 * becomes one counted failed message or is counted by docs/COUNTING.md#what-counts, and every
 * simulator event around them is counted exactly.
 */

const SEED = 6060
const EVENTS = 20_000
/**
 * Run with the default MAX_EVENT_BYTES (the large items are failed messages
 * there) and with a limit large enough that the 1 MB body, the 100,000
 * fields and the deep nesting reach the JSON parser (the 200 MB lines never fit).
 */
const DEFAULT_MAX_EVENT_BYTES = 65_536
const LARGE_MAX_EVENT_BYTES = 2 * 1024 * 1024
const HUGE_LINE_BYTES = 200 * 1024 * 1024
/** What the worker's resident memory may grow by while it reads everything: less than one huge line. */
const RSS_GROWTH_BOUND = 160 * 1024 * 1024

/** Deterministic bytes (xorshift32). */
function randomBytes (length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    bytes[i] = x & 0xff
  }
  return bytes
}

/** One line of random bytes: no line end inside, not a comment or an NDJSON object, certainly not UTF-8. */
function randomLine (length: number, seed: number): Buffer {
  const bytes = randomBytes(length, seed)
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a || bytes[i] === 0x0d) bytes[i] = 0x20
  bytes[0] = 0xff
  return bytes
}

interface Item {
  id: string
  /** The bytes, or a huge run of one byte produced in pieces. */
  body: Buffer | { fill: number, bytes: number, then: Buffer | null }
}

interface Hostile {
  name: string
  /** After which simulator event it comes. */
  after: number
  body: Item['body']
  /** What it adds to the counts when its lines fit in MAX_EVENT_BYTES: one failed message, or one chat message. */
  effect: Effect
}

type Effect = { failed: string } | { message: { nick: string, room: string, words: Record<string, number> } }

const TOO_LARGE = 'event larger than MAX_EVENT_BYTES'

/** The item's effect under a MAX_EVENT_BYTES limit: a line longer than the limit makes it one failed message. */
function effectUnder (item: Hostile, maxEventBytes: number): Effect {
  if (!Buffer.isBuffer(item.body)) return { failed: TOO_LARGE }
  let longest = 0
  let start = 0
  for (let end = item.body.indexOf(0x0a); end !== -1; end = item.body.indexOf(0x0a, start)) {
    longest = Math.max(longest, end - start)
    start = end + 1
  }
  return longest > maxEventBytes ? { failed: TOO_LARGE } : item.effect
}

const json = (fields: Record<string, string>, extra = ''): string => JSON.stringify(fields).slice(0, -1) + extra + '}'
const chat = (nick: string, body: string): Record<string, string> => ({ command: '', room: '#hostile', nick, target: '', body, tags: '' })
const eventText = (data: string | Buffer): Buffer => Buffer.concat([Buffer.from('event: privmsg\nse-data: '), Buffer.from(data), Buffer.from('\n\n')])

function hostileItems (): Hostile[] {
  const deep = 100_000
  const wideFields = Array.from({ length: 100_000 }, (_, i) => `,"f${i}":"v"`).join('')
  const megabyteBody = 'flood '.repeat(Math.ceil(1024 * 1024 / 6))
  return [
    { name: 'a line of random bytes', after: 1000, body: Buffer.concat([randomLine(16_384, 1), Buffer.from('\n\n')]), effect: { failed: 'invalid UTF-8' } },
    { name: 'random bytes as event data', after: 2000, body: eventText(randomLine(16_384, 2)), effect: { failed: 'invalid UTF-8' } },
    { name: 'a 200 MB data line, then its line end', after: 3000, body: { fill: 0x78, bytes: HUGE_LINE_BYTES, then: Buffer.from('\n\n') }, effect: { failed: TOO_LARGE } },
    {
      name: 'invalid UTF-8 in a payload (a lone continuation byte, 0xFF 0xFE)',
      after: 4000,
      body: eventText(Buffer.concat([Buffer.from('{"command":"","room":"#hostile","nick":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","body":"bad '), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])),
      effect: { failed: 'invalid UTF-8' }
    },
    { name: 'an overlong UTF-8 encoding', after: 5000, body: eventText(Buffer.concat([Buffer.from('{"nick":"x","body":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])), effect: { failed: 'invalid UTF-8' } },
    { name: 'a UTF-8 encoded surrogate', after: 6000, body: eventText(Buffer.concat([Buffer.from('{"nick":"x","body":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])), effect: { failed: 'invalid UTF-8' } },
    { name: `an array nested ${deep} deep`, after: 7000, body: eventText('['.repeat(deep) + ']'.repeat(deep)), effect: { failed: 'JSON is not an object' } },
    {
      name: `a body nested ${deep} deep`,
      after: 8000,
      body: eventText('{"command":"","room":"#hostile","nick":"deep","body":' + '{"a":'.repeat(deep) + '1' + '}'.repeat(deep) + '}'),
      effect: { failed: 'field "body" is not a string' }
    },
    {
      name: `an unknown field nested ${deep} deep (ignored: a chat message)`,
      after: 9000,
      body: eventText(json(chat('deep', 'deep nesting'), ',"x":' + '{"a":'.repeat(deep) + '1' + '}'.repeat(deep))),
      effect: { message: { nick: 'deep', room: '#hostile', words: { deep: 1, nesting: 1 } } }
    },
    {
      name: 'a payload with 100,000 fields (unknown ones ignored: a chat message)',
      after: 10_000,
      body: eventText(json(chat('wide', 'many fields'), wideFields)),
      effect: { message: { nick: 'wide', room: '#hostile', words: { many: 1, fields: 1 } } }
    },
    {
      name: 'a body of 1 MB (a chat message)',
      after: 11_000,
      body: eventText(JSON.stringify(chat('big', megabyteBody))),
      effect: { message: { nick: 'big', room: '#hostile', words: { flood: Math.ceil(1024 * 1024 / 6) } } }
    },
    {
      name: 'a payload just over 2 MB',
      after: 12_000,
      body: eventText(JSON.stringify(chat('over', 'x'.repeat(LARGE_MAX_EVENT_BYTES)))),
      effect: { failed: TOO_LARGE }
    },
    { name: 'a 200 MB line with no newline, then the connection closes', after: 13_000, body: { fill: 0x79, bytes: HUGE_LINE_BYTES, then: null }, effect: { failed: TOO_LARGE } }
  ]
}

/** The simulator's events 1..EVENTS with the hostile items in between, each item with an id; resumes after Last-Event-ID. */
async function startHostileServer (hostile: Hostile[]): Promise<{ url: string, server: Server }> {
  const items: Item[] = []
  const byAfter = new Map(hostile.map((h) => [h.after, h]))
  for (let index = 1; index <= EVENTS; index++) {
    // The simulator's event carries its own `id: <index>` line.
    items.push({ id: String(index), body: Buffer.from(generateEvent(SEED, index), 'utf8') })
    const h = byAfter.get(index)
    if (h !== undefined) items.push({ id: `${index}-hostile`, body: h.body })
  }
  const position = new Map(items.map((item, i) => [item.id, i]))
  const chunk = Buffer.alloc(1024 * 1024)

  const write = async (response: ServerResponse, bytes: Buffer): Promise<boolean> => {
    if (response.destroyed) return false
    if (!response.write(bytes)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          response.off('drain', done)
          response.off('close', done)
          resolve()
        }
        response.on('drain', done)
        response.on('close', done)
      })
    }
    return !response.destroyed
  }

  const serve = async (response: ServerResponse, first: number): Promise<void> => {
    for (let i = first; i < items.length; i++) {
      const item = items[i] as Item
      const head = item.id.includes('hostile') ? Buffer.from(`id: ${item.id}\n`) : Buffer.alloc(0)
      if (Buffer.isBuffer(item.body)) {
        if (!await write(response, Buffer.concat([head, item.body]))) return
        continue
      }
      const { fill, bytes, then } = item.body
      if (!await write(response, Buffer.concat([head, Buffer.from('data: ')]))) return
      chunk.fill(fill)
      for (let sent = 0; sent < bytes; sent += chunk.length) {
        if (!await write(response, sent + chunk.length <= bytes ? chunk : chunk.subarray(0, bytes - sent))) return
      }
      if (then === null) {
        // The line never ends: the connection does (the rest comes after a reconnection).
        response.destroy()
        return
      }
      if (!await write(response, then)) return
    }
    response.end()
  }

  const server = createServer((request, response) => {
    const last = request.headers['last-event-id']
    const first = typeof last === 'string' && position.has(last) ? (position.get(last) as number) + 1 : 0
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    serve(response, first).catch(() => response.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server }
}

/** The expected counts with each hostile item's effect added. */
function withHostile (expected: ExpectedCounts, effects: Effect[]): ExpectedCounts {
  const add = (counts: Map<string, number>, key: string, by: number): void => { counts.set(key, (counts.get(key) ?? 0) + by) }
  for (const effect of effects) {
    if ('failed' in effect) {
      expected.failed++
      continue
    }
    const { nick, room, words } = effect.message
    expected.messages++
    add(expected.nicks, nick, 1)
    add(expected.rooms, room, 1)
    let detail = expected.roomDetail.get(room)
    if (detail === undefined) {
      detail = { messages: 0, words: new Map(), nicks: new Map(), emotes: new Map(), events: new Map() }
      expected.roomDetail.set(room, detail)
    }
    detail.messages++
    add(detail.nicks, nick, 1)
    for (const [word, n] of Object.entries(words)) {
      add(expected.words, word, n)
      add(detail.words, word, n)
    }
  }
  return expected
}

// The two limits are independent runs against one server: tested concurrently.
describe('hostile input: the worker survives with bounded memory, counts exact', { concurrency: true }, () => {
  after(cleanupProcesses)
  const hostile = hostileItems()
  let stream: Awaited<ReturnType<typeof startHostileServer>>
  before(async () => { stream = await startHostileServer(hostile) })
  after(() => {
    stream.server.closeAllConnections()
    stream.server.close()
  })
  let simulated: ExpectedCounts
  before(() => { simulated = expectedCounts(SEED, EVENTS) })

  for (const maxEventBytes of [DEFAULT_MAX_EVENT_BYTES, LARGE_MAX_EVENT_BYTES]) {
    it(`MAX_EVENT_BYTES ${maxEventBytes}: random bytes, 200 MB lines, invalid UTF-8, deep nesting, 100,000 fields, 1 MB bodies`, { timeout: 300_000 }, async (t) => {
      const namespace = randomPrefix('reliability-hostile')
      const admin = createTestRedis()
      t.after(async () => {
        await deleteKeysWithPrefix(admin, namespace)
        admin.disconnect()
      })
      const effects = hostile.map((item) => effectUnder(item, maxEventBytes))
      const expected = withHostile(structuredClone(simulated), effects)
      const redisUrl = process.env.REDIS_TEST_URL ?? `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`
      const worker = startChatStats(['worker'], { env: redisWorkerEnv(redisUrl, namespace, stream.url, { MAX_EVENT_BYTES: String(maxEventBytes) }) })
      t.after(async () => await worker.kill())
      const store = new RedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 10_000 }), namespace, maxTrackedWords: 10_000_000, maxTrackedPerRoom: 10_000_000 })
      await store.open()
      t.after(async () => await store.close())

      await worker.waitForLog((line) => line.msg === 'connected to the chat stream', 'connected')
      const rssAtStart = worker.rssBytes()
      await waitUntil(async () => (await store.position()).lastEventId === String(EVENTS) || worker.exitStatus !== null, `position ${EVENTS} committed`, 240_000, 200)
      assert.equal(worker.exitStatus, null, `the worker survived\n${worker.tail()}`)
      const peakRss = worker.peakRssBytes()
      worker.signal('SIGTERM')
      assert.equal((await worker.exited).code, 0, worker.tail())

      const dump = await dumpRedisCounts(admin, namespace, expected.roomDetail.keys())
      const { lost, doubled } = lostAndDoubled(dump, expected)
      const failed = effects.filter((effect) => 'failed' in effect).length
      t.diagnostic(`| hostile input (MAX_EVENT_BYTES ${maxEventBytes}) | ${hostile.length} hostile items among ${EVENTS} events over HTTP: ${failed} failed messages, ${hostile.length - failed} chat messages | ${hostile.length} | ${lost} | ${doubled} | ${mib(peakRss)} (${mib(rssAtStart)} at start) | |`)
      assert.deepEqual(differences(dump, expected), [])
      const cutInside = hostile.find((item) => !Buffer.isBuffer(item.body) && item.body.then === null)
      assert.ok(worker.logs.some((line) => line.msg === 'chat stream ended; reconnecting' && line.lastEventId === `${cutInside?.after}-hostile`),
        'the connection that ended inside the 200 MB line resumed after it')

      // Each failure is in the log with its reason, its raw text cut at 2 KiB.
      const failures = await store.failedMessages(1000)
      for (const reason of new Set(effects.flatMap((effect) => 'failed' in effect ? [effect.failed] : []))) {
        const want = effects.filter((effect) => 'failed' in effect && effect.failed === reason).length
        const got = failures.filter((f) => f.reason.startsWith(reason)).length
        assert.ok(got >= want, `${want} failed message(s) "${reason}" in the log, found ${got}`)
      }
      for (const failure of failures) assert.ok(Buffer.byteLength(failure.raw) <= 2048, 'raw text cut at 2 KiB')
      assert.ok(peakRss - rssAtStart <= RSS_GROWTH_BOUND, `worker RSS grew by ${mib(peakRss - rssAtStart)} (bound ${mib(RSS_GROWTH_BOUND)})`)
    })
  }
})

// Issue 18, item 5: Node's parse error for a 100 KB response header carries the raw bytes (err.rawPacket).
describe('hostile interface headers: the worker\'s log lines stay bounded', () => {
  after(cleanupProcesses)
  /** Far below the 131 KB lines the raw bytes made before errors were bounded in the log. */
  const MAX_LOG_LINE_BYTES = 16 * 1024

  it('an interface answering a 100 KB header: each failure is one short line, its bytes summarised', { timeout: 60_000 }, async (t) => {
    const server = createTcpServer((socket) => {
      socket.on('error', () => {})
      socket.end(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Huge: ${'h'.repeat(100 * 1024)}\r\n\r\n`)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    t.after(() => { server.close() })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    const worker = startChatStats(['worker'], { env: memoryWorkerEnv(join(makeTempDir('hostile-headers'), 'snapshot.json'), url) })
    t.after(async () => await worker.kill())

    const failures = () => worker.logs.filter((line) => (line.err as { code?: string } | undefined)?.code === 'HPE_HEADER_OVERFLOW')
    await waitUntil(async () => failures().length >= 3 || worker.exitStatus !== null, 'three failed connection attempts logged', 30_000, 100)
    assert.equal(worker.exitStatus, null, worker.tail())
    for (const line of worker.logs) {
      const bytes = Buffer.byteLength(JSON.stringify(line))
      assert.ok(bytes <= MAX_LOG_LINE_BYTES, `a ${bytes}-byte log line: ${JSON.stringify(line).slice(0, 300)}`)
    }
    for (const line of failures()) assert.match(String((line.err as { rawPacket?: unknown }).rawPacket), /^\[Buffer \d+ bytes\]$/)
  })
})
