import { readFileSync } from 'node:fs'

/** Figures over several runs: min / median / max. */
export interface Spread {
  min: number
  median: number
  max: number
}

export function spread (values: number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN }
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { min: sorted[0]!, median, max: sorted.at(-1)! }
}

/** 1234567 -> '1,234,567'; fractions keep `digits` decimals. */
export function formatNumber (value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function formatSpread (s: Spread, digits = 0, unit = ''): string {
  return `${formatNumber(s.min, digits)} / ${formatNumber(s.median, digits)} / ${formatNumber(s.max, digits)}${unit}`
}

export function mib (bytes: number): string {
  return `${formatNumber(bytes / 1_048_576, 1)} MiB`
}

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
}

/** The functions with the most self time in a V8 .cpuprofile, as printable lines. */
export function summariseProfile (path: string, top = 15): string[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }
  const timeOf = new Map<number, number>()
  profile.samples.forEach((id, i) => timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const selfTime = new Map<string, number>()
  let total = 0
  for (const node of profile.nodes) {
    const t = timeOf.get(node.id) ?? 0
    total += t
    const { functionName, url, lineNumber } = node.callFrame
    const where = url === '' ? '' : ` ${url.replace(/^.*\/(src|bench|node_modules)\//, '$1/')}:${lineNumber + 1}`
    const name = `${functionName === '' ? '(anonymous)' : functionName}${where}`
    selfTime.set(name, (selfTime.get(name) ?? 0) + t)
  }
  return [...selfTime].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, t]) => `${(100 * t / total).toFixed(1).padStart(5)} %  ${formatNumber(t / 1000).padStart(6)} ms  ${name}`)
}
