import autocannon from 'autocannon'
import { formatNumber, formatSpread, type Spread, spread } from './report.js'

/** The statistics routes measured against the bare route, each in its own autocannon run. */
export const API_ROUTES = ['/stats/words', '/stats'] as const

export interface ApiRatioOptions {
  apiUrl: string
  bareUrl: string
  runs: number
  seconds: number
  connections: number
  /** What the machine is doing meanwhile, for the heading: 'worker idle', 'while the worker ingests ...'. */
  label: string
  log: (line?: string) => void
}

export type ApiRatioResult = Record<string, Spread>

/**
 * Requests/s of each route of API_ROUTES beside a bare Fastify route
 * returning a constant, measured back to back in each run (bare first), so
 * each ratio compares figures taken under the same load. Non-2xx answers
 * are reported: a ratio over 429s or 503s would measure the wrong thing.
 */
export async function measureApiRatios (options: ApiRatioOptions): Promise<ApiRatioResult> {
  const { apiUrl, bareUrl, runs, seconds, connections, log } = options
  log(`== api (${options.label}): autocannon, ${connections} connections, ${seconds} s per route and run`)
  const rows: Record<string, number[]> = { bare: [], bareP99: [] }
  for (const route of API_ROUTES) {
    rows[route] = []
    rows[`${route} p99`] = []
    rows[`${route} ratio`] = []
  }
  for (let run = 1; run <= runs; run++) {
    const bare = await autocannon({ url: `${bareUrl}/constant`, connections, duration: seconds })
    rows.bare!.push(bare.requests.average)
    rows.bareP99!.push(bare.latency.p99)
    const parts = [`bare Fastify ${formatNumber(bare.requests.average)} req/s (p99 ${bare.latency.p99} ms)`]
    for (const route of API_ROUTES) {
      const answer = await autocannon({ url: `${apiUrl}${route}`, connections, duration: seconds })
      if (answer.non2xx > 0 || answer.errors > 0) log(`  WARNING: ${route} answered ${answer.non2xx} non-2xx and ${answer.errors} errors`)
      const ratio = answer.requests.average / bare.requests.average
      rows[route]!.push(answer.requests.average)
      rows[`${route} p99`]!.push(answer.latency.p99)
      rows[`${route} ratio`]!.push(ratio)
      parts.push(`GET ${route} ${formatNumber(answer.requests.average)} req/s (p99 ${answer.latency.p99} ms), ratio ${formatNumber(ratio, 3)}`)
    }
    log(`run ${run}: ${parts.join('; ')}`)
  }
  const summary = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, spread(v)]))
  log(`api summary, ${options.label} (min / median / max):`)
  log(`  bare Fastify constant route      ${formatSpread(summary.bare!, 0, ' req/s')}, p99 ${formatSpread(summary.bareP99!, 0, ' ms')}`)
  for (const route of API_ROUTES) {
    log(`  GET ${route.padEnd(28)} ${formatSpread(summary[route]!, 0, ' req/s')}, p99 ${formatSpread(summary[`${route} p99`]!, 0, ' ms')}`)
    log(`    ratio                          ${formatSpread(summary[`${route} ratio`]!, 3)}   target >= 0.6`)
  }
  log()
  return summary
}
