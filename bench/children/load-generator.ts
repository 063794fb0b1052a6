import { once } from 'node:events'
import { openSync, readSync } from 'node:fs'
import http, { type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ProfileName } from '../../src/simulator/index.js'
import { bytesPerEvent, DAY_BLOCK_START_MS, eventStart, readStreamBlock, restampEvents, type StreamBlock } from '../stream-block.js'
import { type FromParent, onParentMessage, sendToParent } from './ipc.js'

/**
 * The load generator: serves a pre-generated block as an SSE stream, as
 * fast as the client reads or paced at a rate of chat messages per second,
 * looping over the block. After `events` events it stops writing but keeps
 * the connection open, so the worker neither reconnects nor sees more.
 *
 * Event times are rewritten as the bytes go out (the cached text's
 * tmi-sent-ts would be years old, and the worker counts a message in the
 * second it was sent): the default block is stamped with the time of each
 * write, less up to 99 ms of jitter, like a live firehose; the day block is
 * moved as a whole so that its day ends when the request arrives.
 *
 * For the freshness figure it also logs (time written, chat messages
 * written so far) and polls the API's totalMessages: a message is visible
 * once totalMessages reaches its place in the stream.
 */

interface WriteMark {
  /** performance.now() of the write. */
  at: number
  /** Chat messages written up to and including this write. */
  chat: number
}

interface ServedBlock {
  block: StreamBlock
  /** The block's SSE file, read as it is served. */
  file: number
}

const blocks = new Map<ProfileName, ServedBlock>()
const marks: WriteMark[] = []

function chatBefore (block: StreamBlock, event: number): number {
  return Math.floor(event / block.events) * block.chatBefore[block.events]! + block.chatBefore[event % block.events]!
}

/** The new tmi-sent-ts of an event: `old` is the one in the cached text. */
type Stamp = (old: number) => number

/** Writes events [from, to) (global indexes over the looped block); false when the socket is full. */
function writeEvents (res: ServerResponse, served: ServedBlock, from: number, to: number, stamp: Stamp): boolean {
  const { block, file } = served
  let ok = true
  let event = from
  while (event < to) {
    const loop = Math.floor(event / block.events)
    const first = event - loop * block.events
    const last = Math.min(to - loop * block.events, block.events)
    const start = eventStart(block, first)
    const bytes = Buffer.allocUnsafe(block.ends[last - 1]! - start)
    readSync(file, bytes, 0, bytes.length, start)
    restampEvents(bytes, block, first, last, start, stamp)
    ok = res.write(bytes)
    event = last + loop * block.events
  }
  return ok
}

async function serveUnpaced (res: ServerResponse, served: ServedBlock, events: number, stamp: () => Stamp): Promise<void> {
  // Writes of about 1 MiB at event boundaries.
  const step = Math.max(1, Math.floor(1_048_576 / bytesPerEvent(served.block)))
  for (let event = 0; event < events && !res.destroyed;) {
    const next = Math.min(events, event + step)
    const ok = writeEvents(res, served, event, next, stamp())
    event = next
    if (!ok) await drained(res)
  }
}

/** Resolves when the socket can take more, or is gone. */
async function drained (res: ServerResponse): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

async function servePaced (res: ServerResponse, served: ServedBlock, events: number, rate: number, record: boolean, stamp: () => Stamp): Promise<void> {
  const { block } = served
  const started = performance.now()
  let event = 0
  let waiting = false
  res.on('drain', () => { waiting = false })
  while (event < events && !res.destroyed) {
    await sleep(1)
    if (waiting) continue
    const due = rate * (performance.now() - started) / 1000
    let next = event
    while (next < events && chatBefore(block, next + 1) <= due) next++
    if (next === event) continue
    waiting = !writeEvents(res, served, event, next, stamp())
    event = next
    if (record) marks.push({ at: performance.now(), chat: chatBefore(block, event) })
  }
}

/** How a request's events are stamped: live (the default block) or a day ending now (the day block). */
function stampsFor (block: StreamBlock): () => Stamp {
  if (block.profile === 'day') {
    const shift = Date.now() - DAY_BLOCK_START_MS
    const moved: Stamp = (old) => old + shift
    return () => moved
  }
  return () => {
    const now = Date.now()
    // The cached time's last two digits are as good as random: a jitter of up to 99 ms between events.
    return (old) => now - (old % 100)
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://bench')
  const events = Number(url.searchParams.get('events') ?? '0')
  const rate = Number(url.searchParams.get('rate') ?? '0')
  const record = url.searchParams.get('record') === '1'
  const served = blocks.get((url.searchParams.get('block') ?? 'default') as ProfileName)
  if (served === undefined || (served.block.profile === 'day' && events > served.block.events)) {
    // A day is served once through: looping it would send its times back 24 h.
    res.writeHead(400).end()
    sendToParent({ type: 'error', message: `no block to serve ${req.url ?? ''}` })
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.flushHeaders()
  const stamp = stampsFor(served.block)
  // A recorded stream counts its chat messages from 0 (a fresh namespace): the marks of an earlier one would never be reached.
  if (record) marks.length = 0
  const serving = rate > 0 ? servePaced(res, served, events, rate, record, stamp) : serveUnpaced(res, served, events, stamp)
  serving.then(() => sendToParent({ type: 'served', events }), (err: unknown) => sendToParent({ type: 'error', message: String(err) }))
})
server.keepAliveTimeout = 0

interface ProbeResult {
  p50: number
  p99: number
  max: number
  messages: number
  polls: number
}

/** Polls `apiUrl` + /stats and measures, per chat message written after the warm-up, the delay until the API counts it. */
async function probe (apiUrl: string, intervalMs: number, warmupMs: number, durationMs: number): Promise<ProbeResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const delays: Array<{ delay: number, weight: number }> = []
  const start = performance.now()
  let seenChat = 0
  let markIndex = 0
  let polls = 0
  const measureFrom = start + warmupMs
  while (performance.now() - start < warmupMs + durationMs) {
    const total = await new Promise<number>((resolve, reject) => {
      http.get(`${apiUrl}/stats`, { agent }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => { body += chunk })
        response.on('end', () => {
          try {
            resolve((JSON.parse(body) as { totalMessages: number }).totalMessages)
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)))
          }
        })
      }).on('error', reject)
    })
    const now = performance.now()
    polls++
    while (markIndex < marks.length && marks[markIndex]!.chat <= total) {
      const mark = marks[markIndex]!
      if (mark.at >= measureFrom) delays.push({ delay: now - mark.at, weight: mark.chat - seenChat })
      seenChat = mark.chat
      markIndex++
    }
    await sleep(intervalMs)
  }
  agent.destroy()
  delays.sort((a, b) => a.delay - b.delay)
  const messages = delays.reduce((sum, d) => sum + d.weight, 0)
  const percentile = (p: number): number => {
    let seen = 0
    for (const d of delays) {
      seen += d.weight
      if (seen >= p * messages) return d.delay
    }
    return Number.NaN
  }
  return { p50: percentile(0.5), p99: percentile(0.99), max: delays.at(-1)?.delay ?? Number.NaN, messages, polls }
}

onParentMessage(async (message: FromParent) => {
  if (message.type === 'load') {
    for (const { profile, base, events } of message.blocks) {
      const block = readStreamBlock(profile, base, events)
      blocks.set(profile, { block, file: openSync(block.path, 'r') })
    }
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    sendToParent({ type: 'listening', port: (server.address() as AddressInfo).port })
  } else if (message.type === 'probe') {
    const result = await probe(message.apiUrl, message.intervalMs, message.warmupMs, message.durationMs)
    sendToParent({ type: 'probe-result', ...result })
  } else if (message.type === 'stop') {
    server.closeAllConnections()
    server.close()
    process.exit(0)
  }
})
