import http from 'node:http'
import { Child } from './child.js'
import { formatNumber, mib } from './report.js'

export interface FanoutOptions {
  apiUrl: string
  /** The API child (bench/children/api.ts), asked for its memory and store reads. */
  api: Child
  clients: number
  seconds: number
  log: (line?: string) => void
}

export interface FanoutResult {
  clients: number
  open: number
  eventsPerSecond: number
  minEventsPerClient: number
  storeSnapshotsPerSecond: number
  heapPerClient: number
  rssBefore: number
  rssAfter: number
  healthIdle: { p50: number, p99: number, max: number, samples: number }
  healthLoaded: { p50: number, p99: number, max: number, samples: number }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

async function healthLatency (url: string): Promise<number> {
  const started = performance.now()
  await new Promise<void>((resolve, reject) => {
    http.get(`${url}/health/live`, { agent }, (response) => {
      response.resume()
      response.on('end', () => resolve())
    }).on('error', reject)
  })
  return performance.now() - started
}

/** GET /health/live every 50 ms for `seconds`: p50, p99 and max in ms. */
async function sampleHealth (url: string, seconds: number): Promise<FanoutResult['healthIdle']> {
  const latencies: number[] = []
  const until = performance.now() + seconds * 1000
  while (performance.now() < until) {
    latencies.push(await healthLatency(url))
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  latencies.sort((a, b) => a - b)
  const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN
  return { p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? Number.NaN, samples: latencies.length }
}

interface Report { rss: number, heapUsed: number, storeCalls: Record<string, number> }

async function report (api: Child): Promise<Report> {
  api.send({ type: 'report' })
  return await api.next('report', 60_000) as unknown as Report
}

/**
 * The live-stream fan-out: `clients` dashboards on GET /stats/stream (one
 * process of SSE clients), then over `seconds`: the stats events they
 * receive per second, the API's store snapshots per second (its `totals`
 * reads: one per snapshot), the API's memory per client (RSS and heap after
 * a GC, with and without the clients), and GET /health/live p50/p99 sampled
 * every 50 ms, first without the clients, then with them.
 */
export async function measureFanout (options: FanoutOptions): Promise<FanoutResult> {
  const { apiUrl, api, clients, seconds, log } = options
  log(`== fanout: ${formatNumber(clients)} SSE clients on GET /stats/stream (one snapshot a second each), ${seconds} s`)
  const healthIdle = await sampleHealth(apiUrl, Math.min(5, seconds))
  const before = await report(api)
  const sse = Child.start('sse-clients')
  try {
    sse.send({ type: 'open-streams', url: `${apiUrl}/stats/stream`, clients })
    const opened = await sse.next('streams-open', 300_000) as unknown as { open: number, statuses: Record<string, number> }
    if (opened.open < clients) log(`  WARNING: ${opened.open} of ${clients} streams opened; answers: ${JSON.stringify(opened.statuses)}`)
    // Let every client receive its first snapshots, then count from zero.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    sse.send({ type: 'stream-stats' })
    await sse.next('stream-stats', 60_000)
    const readsBefore = (await report(api)).storeCalls.totals ?? 0
    const startedAt = performance.now()
    const healthLoaded = await sampleHealth(apiUrl, seconds)
    sse.send({ type: 'stream-stats' })
    const received = await sse.next('stream-stats', 60_000) as unknown as { clients: number, events: number, minEvents: number, bytes: number }
    const elapsed = (performance.now() - startedAt) / 1000
    const after = await report(api)
    const snapshots = (after.storeCalls.totals ?? 0) - readsBefore
    const open = Math.max(1, opened.open)
    const result: FanoutResult = {
      clients,
      open: opened.open,
      eventsPerSecond: received.events / elapsed,
      minEventsPerClient: received.minEvents,
      storeSnapshotsPerSecond: snapshots / elapsed,
      heapPerClient: (after.heapUsed - before.heapUsed) / open,
      rssBefore: before.rss,
      rssAfter: after.rss,
      healthIdle,
      healthLoaded
    }
    log(`streams open: ${formatNumber(opened.open)}; stats events delivered ${formatNumber(result.eventsPerSecond)}/s (${formatNumber(received.bytes / elapsed / 1_048_576, 1)} MiB/s), the slowest client got ${received.minEvents} in ${formatNumber(elapsed, 1)} s`)
    log(`store snapshots (totals reads) per second: ${formatNumber(result.storeSnapshotsPerSecond, 2)} for ${formatNumber(opened.open)} clients   target: one per tick (1/s), not one per client`)
    // RSS moves with what the allocator keeps from earlier parts; the heap after a GC is the figure per client.
    log(`API memory per client: ${formatNumber(result.heapPerClient / 1024, 1)} KiB of heap (after a GC, with and without the clients); RSS ${mib(before.rss)} without, ${mib(after.rss)} with them`)
    log(`GET /health/live: without clients p50 ${formatNumber(healthIdle.p50, 1)} ms, p99 ${formatNumber(healthIdle.p99, 1)} ms (${healthIdle.samples} samples); with them p50 ${formatNumber(healthLoaded.p50, 1)} ms, p99 ${formatNumber(healthLoaded.p99, 1)} ms, max ${formatNumber(healthLoaded.max, 1)} ms (${healthLoaded.samples} samples)`)
    log()
    return result
  } finally {
    await sse.stop()
  }
}
