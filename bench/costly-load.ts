import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Command } from 'commander'

/**
 * Issue 18, item 2, measured: `chat-stats start` (simulator -> worker ->
 * embedded store -> API in one process) on loopback, first idle, then with
 * --connections clients each fetching `/stats/timeseries?resolution=1s&window=86400-k`
 * back to back (a window that changes each time, no Accept-Encoding: the
 * costliest way to ask). Meanwhile /health/live is sampled every 50 ms and
 * the worker's ingest is read from /metrics. Bounded: --seconds per phase,
 * loopback only. `--root` runs another checkout (e.g. the main branch) for a
 * before/after figure. Not part of `npm test` or `npm run bench`:
 *   node --import tsx bench/costly-load.ts [--root /path/to/checkout] [--seconds 20]
 */

interface Options { root: string, seconds: number, connections: number, rate: number }

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  await new Promise<void>((done) => server.close(() => done()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })

/** GET `path`: status, bytes received and milliseconds taken; the body is read and dropped. */
async function get (port: number, path: string): Promise<{ status: number, bytes: number, ms: number, text: string }> {
  const started = performance.now()
  return await new Promise((done, fail) => {
    http.get({ host: '127.0.0.1', port, path, agent }, (response) => {
      let bytes = 0
      let text = ''
      const keep = path === '/metrics'
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (keep) text += chunk.toString('utf8')
      })
      response.on('end', () => done({ status: response.statusCode ?? 0, bytes, ms: performance.now() - started, text }))
    }).on('error', fail)
  })
}

async function ingested (port: number): Promise<number> {
  const { text } = await get(port, '/metrics')
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith('chat_stats_ingest_events_total{')) sum += Number(line.split(' ').at(-1))
  return sum
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
}

/** One phase: health sampled every 50 ms while `load` runs; ingest counted across it. */
async function phase (port: number, seconds: number, load: ((until: number) => Promise<void>) | null) {
  const until = performance.now() + seconds * 1000
  const before = await ingested(port)
  const startedAt = performance.now()
  const latencies: number[] = []
  const sampling = (async () => {
    while (performance.now() < until) {
      latencies.push((await get(port, '/health/live')).ms)
      await new Promise((done) => setTimeout(done, 50))
    }
  })()
  await Promise.all([sampling, load?.(until)])
  const events = await ingested(port) - before
  const elapsed = (performance.now() - startedAt) / 1000
  latencies.sort((a, b) => a - b)
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? NaN, samples: latencies.length, ingestPerSecond: events / elapsed }
}

async function main (options: Options): Promise<void> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'costly-load-'))
  const child = spawn(process.execPath, ['--import', 'tsx', join(options.root, 'src/cli.ts'), 'start'], {
    cwd: options.root,
    env: { ...process.env, NODE_HOST: '127.0.0.1', NODE_PORT: String(port), LOG_LEVEL: 'warn', SNAPSHOT_PATH: join(dir, 'snapshot.json'), SIMULATOR_RATE: String(options.rate) },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await get(port, '/health/live')).status === 200) break
      } catch {
        if (i > 300) throw new Error('chat-stats start did not come up')
      }
      await new Promise((done) => setTimeout(done, 100))
    }
    // Let the worker reach its pace first.
    await new Promise((done) => setTimeout(done, 3000))
    const idle = await phase(port, options.seconds, null)

    const statuses = new Map<number, number>()
    let bytes = 0
    let k = 0
    const client = async (until: number): Promise<void> => {
      while (performance.now() < until) {
        const answer = await get(port, `/stats/timeseries?resolution=1s&window=${86_400 - (k++ % 3600)}`)
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
        bytes += answer.bytes
        // A refused client waits a little rather than spinning on 429s.
        if (answer.status === 429) await new Promise((done) => setTimeout(done, 50))
      }
    }
    const loaded = await phase(port, options.seconds, async (until) => { await Promise.all(Array.from({ length: options.connections }, async () => await client(until))) })

    const row = (name: string, r: Awaited<ReturnType<typeof phase>>): string =>
      `| ${name} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.samples} | ${Math.round(r.ingestPerSecond)} |`
    console.log(`root ${options.root}, ${options.seconds} s per phase, ${options.connections} connections, simulator ${options.rate} events/s`)
    console.log('| phase | /health/live p50 ms | p99 ms | max ms | samples | ingest events/s |')
    console.log('| --- | --- | --- | --- | --- | --- |')
    console.log(row('idle', idle))
    console.log(row('timeseries load', loaded))
    console.log(`timeseries answers by status: ${JSON.stringify(Object.fromEntries(statuses))}, ${(bytes / 1024 / 1024).toFixed(1)} MiB received`)
  } finally {
    child.kill('SIGTERM')
    agent.destroy()
    await new Promise((done) => child.once('exit', done))
    rmSync(dir, { recursive: true, force: true })
  }
}

const program = new Command()
  .option('--root <dir>', 'the checkout to run', resolve(import.meta.dirname, '..'))
  .option('--seconds <n>', 'seconds per phase', (v) => Number(v), 20)
  .option('--connections <n>', 'clients fetching the timeseries', (v) => Number(v), 2)
  .option('--rate <n>', 'simulator events per second', (v) => Number(v), 2000)
  .parse()
await main(program.opts<Options>())
