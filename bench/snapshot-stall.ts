import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { pino } from 'pino'
import { buildApp } from '../src/api/app.js'
import { loadConfig } from '../src/config.js'
import { generateEvent } from '../src/simulator/index.js'
import { DEFAULT_SHAPE } from '../src/simulator/generator.js'
import { MemoryStore } from '../src/store/memory/memory-store.js'
import { BatchBuilder } from '../src/worker/batch-builder.js'

/**
 * Does the embedded store's snapshot write stall the API it shares the
 * process with? Builds the state of `npm start` after MINUTES minutes at
 * RATE events/s (the built-in simulator's stream, event times spread over
 * those minutes, flushed every 250 ms, the default bounds), then writes the
 * snapshot WRITES times while one client asks GET /health/live in a loop,
 * and prints the snapshot size and time, the event loop's longest delay
 * (perf_hooks) and /health/live's latency during the writes. Run:
 *   node --import tsx bench/snapshot-stall.ts [minutes] [rate] [writes]
 */

const MINUTES = Number(process.argv[2] ?? 28)
const RATE = Number(process.argv[3] ?? 500)
const WRITES = Number(process.argv[4] ?? 3)
const SEED = 1
const FLUSH_MS = 250

const directory = mkdtempSync(join(tmpdir(), 'chat-stats-snapshot-bench-'))
const start = Math.floor(Date.now() / 1000) * 1000 - MINUTES * 60_000
let now = start
const shape = { ...DEFAULT_SHAPE, sentTs: (_random: unknown, index: number) => start + Math.floor(index * 1000 / RATE) }
const store = new MemoryStore({ clock: () => now, maxTrackedWords: 500_000, maxTrackedPerRoom: 500, maxTrackedRooms: 1000, windowTop: 1000, roomWindowTop: 25, snapshotPath: join(directory, 'snapshot.json'), snapshotIntervalMs: 3_600_000 })
await store.open()

const events = MINUTES * 60 * RATE
const perFlush = RATE * FLUSH_MS / 1000
const builder = new BatchBuilder(() => now)
let sequence = 0
const building = performance.now()
for (let index = 1; index <= events; index++) {
  const text = generateEvent(SEED, index, shape)
  const data = /\nse-data: (.*)\n/.exec(text)?.[1]
  if (data !== undefined) builder.addEvent(data, String(index))
  if (index % perFlush === 0) {
    now = start + Math.floor(index * 1000 / RATE)
    await store.applyBatch(builder.take(++sequence))
  }
}
now = Date.now()
console.log(`state: ${events.toLocaleString('en')} events over ${MINUTES} min at ${RATE}/s, built in ${((performance.now() - building) / 1000).toFixed(1)} s; RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`)

const app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '100000000' }, null), store, logger: pino({ level: 'silent' }) })
await app.listen({ port: 0, host: '127.0.0.1' })
const port = (app.server.address() as AddressInfo).port
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

async function live (): Promise<number> {
  const sent = performance.now()
  await new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/health/live', agent }, (response) => {
      response.resume()
      response.on('end', resolve)
    }).on('error', reject)
  })
  return performance.now() - sent
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
}

// Baseline: /health/live with no snapshot running.
const idle: number[] = []
for (let i = 0; i < 300; i++) idle.push(await live())
console.log(`/health/live idle: p50 ${percentile(idle, 0.5).toFixed(2)} ms, p99 ${percentile(idle, 0.99).toFixed(2)} ms, max ${Math.max(...idle).toFixed(2)} ms`)

for (let write = 1; write <= WRITES; write++) {
  now = Date.now()
  // A change, so the store has something to save.
  builder.addEvent(JSON.stringify({ command: '', room: '#bench', nick: 'bench', target: '', body: `write ${write}`, tags: '' }), String(events + write))
  await store.applyBatch(builder.take(++sequence))
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  const latencies: number[] = []
  let done = false
  const client = (async () => { while (!done) latencies.push(await live()) })()
  await store.snapshotNow()
  done = true
  await client
  delay.disable()
  const figures = store.lastSnapshot
  console.log(`snapshot ${write}: ${((figures?.bytes ?? 0) / 2 ** 20).toFixed(1)} MiB, ${figures?.records} records, serialise ${figures?.serializeMs.toFixed(0)} ms, total ${figures?.totalMs.toFixed(0)} ms; ` +
    `event-loop delay max ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms; ` +
    `/health/live during it: ${latencies.length} requests, p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms`)
}

agent.destroy()
await app.close()
await store.close()
rmSync(directory, { recursive: true, force: true })
