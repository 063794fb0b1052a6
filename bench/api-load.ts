import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'
import { formatNumber, formatSpread, type Spread, spread } from './report.js'

/** The statistics routes measured against the bare route, each in its own autocannon run. */
export const API_ROUTES = ['/stats/words', '/stats'] as const

export interface ApiRatioOptions {
  apiUrl: string
  bareUrl: string
  /** The two servers' process ids, for their CPU time per request. */
  apiPid: number | undefined
  barePid: number | undefined
  runs: number
  seconds: number
  connections: number
  /** What the machine is doing meanwhile, for the heading: 'worker idle', 'while the worker ingests ...'. */
  label: string
  log: (line?: string) => void
}

export type ApiRatioResult = Record<string, Spread>

/** User + system CPU seconds of process `pid` so far (Linux /proc), NaN elsewhere. */
function cpuSeconds (pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** One autocannon run and the server's CPU microseconds per request served. */
async function load (url: string, pid: number | undefined, connections: number, seconds: number): Promise<{ result: autocannon.Result, cpuPerRequest: number }> {
  const before = cpuSeconds(pid)
  const result = await autocannon({ url, connections, duration: seconds })
  const cpuPerRequest = 1e6 * (cpuSeconds(pid) - before) / Math.max(1, result.requests.total)
  return { result, cpuPerRequest }
}

/**
 * Requests/s and the server's CPU time per request of each route of API_ROUTES beside a bare Fastify route
 * returning a constant, measured back to back in each run (bare first), so
 * each ratio compares figures taken under the same load. Non-2xx answers
 * are reported: a ratio over 429s or 503s would measure the wrong thing.
 */
export async function measureApiRatios (options: ApiRatioOptions): Promise<ApiRatioResult> {
  const { apiUrl, bareUrl, runs, seconds, connections, log } = options
  log(`== api (${options.label}): autocannon, ${connections} connections, ${seconds} s per route and run`)
  const rows: Record<string, number[]> = { bare: [], bareP99: [], bareCpu: [] }
  for (const route of API_ROUTES) {
    rows[route] = []
    rows[`${route} p99`] = []
    rows[`${route} ratio`] = []
    rows[`${route} cpu`] = []
    rows[`${route} cpu ratio`] = []
  }
  for (let run = 1; run <= runs; run++) {
    const { result: bare, cpuPerRequest: bareCpu } = await load(`${bareUrl}/constant`, options.barePid, connections, seconds)
    rows.bare!.push(bare.requests.average)
    rows.bareP99!.push(bare.latency.p99)
    rows.bareCpu!.push(bareCpu)
    const parts = [`bare Fastify ${formatNumber(bare.requests.average)} req/s (p99 ${bare.latency.p99} ms, ${formatNumber(bareCpu)} µs CPU/req)`]
    for (const route of API_ROUTES) {
      const { result: answer, cpuPerRequest } = await load(`${apiUrl}${route}`, options.apiPid, connections, seconds)
      if (answer.non2xx > 0 || answer.errors > 0) log(`  WARNING: ${route} answered ${answer.non2xx} non-2xx and ${answer.errors} errors`)
      const ratio = answer.requests.average / bare.requests.average
      rows[route]!.push(answer.requests.average)
      rows[`${route} p99`]!.push(answer.latency.p99)
      rows[`${route} ratio`]!.push(ratio)
      rows[`${route} cpu`]!.push(cpuPerRequest)
      rows[`${route} cpu ratio`]!.push(bareCpu / cpuPerRequest)
      parts.push(`GET ${route} ${formatNumber(answer.requests.average)} req/s (p99 ${answer.latency.p99} ms, ${formatNumber(cpuPerRequest)} µs CPU/req), ratio ${formatNumber(ratio, 3)}`)
    }
    log(`run ${run}: ${parts.join('; ')}`)
  }
  const summary = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, spread(v)]))
  log(`api summary, ${options.label} (min / median / max):`)
  log(`  bare Fastify constant route      ${formatSpread(summary.bare!, 0, ' req/s')}, p99 ${formatSpread(summary.bareP99!, 0, ' ms')}, ${formatSpread(summary.bareCpu!, 0, ' µs CPU/req')}`)
  for (const route of API_ROUTES) {
    log(`  GET ${route.padEnd(28)} ${formatSpread(summary[route]!, 0, ' req/s')}, p99 ${formatSpread(summary[`${route} p99`]!, 0, ' ms')}, ${formatSpread(summary[`${route} cpu`]!, 0, ' µs CPU/req')}`)
    log(`    ratio (req/s)                  ${formatSpread(summary[`${route} ratio`]!, 3)}   target >= 0.6`)
    log(`    ratio (CPU per request)        ${formatSpread(summary[`${route} cpu ratio`]!, 3)}   (bare CPU/req over the route's: less sensitive to other jobs on the machine)`)
  }
  log()
  return summary
}
