import { readFileSync } from 'node:fs'
import { formatNumber } from './report.js'

/**
 * Inclusive shares of a worker CPU profile by what the time was spent on
 * (parse, SSE framing, tokenize, counting, the store's flush planning, flush
 * encoding, GC, ...): each sample goes to the innermost function on its stack
 * that names a category, node internals and the pipeline only when nothing
 * more specific does. BENCHMARKS.md's profile tables are these lines.
 */

interface Frame { functionName: string, url: string }
interface ProfileNode { id: number, callFrame: Frame, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

type Rule = [name: string, test: (f: Frame) => boolean]

const IDLE = '(idle)'
const STARTUP = 'module loading (start-up)'

const RULES: Rule[] = [
  [IDLE, (f) => f.functionName === '(idle)'],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
  ['(program)', (f) => f.functionName === '(program)'],
  [STARTUP, (f) => /^node:internal\/modules\//.test(f.url)],
  ['parse (decodePayloadInto: JSON.parse)', (f) => /^decodePayload/.test(f.functionName)],
  ['tokenize (forEachWord)', (f) => f.functionName === 'forEachWord'],
  ['emote extraction', (f) => /^(forEachEmote|emotesTag)$/.test(f.functionName)],
  ['event time', (f) => f.functionName === 'eventTime'],
  ['batch building (take: stream-wide sums)', (f) => /worker\/batch-builder\.[jt]s$/.test(f.url) && /^(take|fillStreamWideCounts)$/.test(f.functionName)],
  ['counting (batch-builder)', (f) => /worker\/batch-builder\.[jt]s$/.test(f.url)],
  ['flush encoding (flush-encoding, msgpack)', (f) => /store\/redis\/(flush-encoding|msgpack)\.[jt]s$/.test(f.url)],
  ['the store\'s flush planning (windows, top order, store)', (f) => /\/src\/store\//.test(f.url)],
  ['SSE framing (stream-parser)', (f) => /ingest\/stream-parser\.[jt]s$/.test(f.url)]
]

const FALLBACK: Rule[] = [
  ['pipeline, reader, lease (src/worker)', (f) => /\/src\/worker\//.test(f.url)],
  ['Redis client (node_modules)', (f) => /node_modules/.test(f.url)],
  ['HTTP, streams, buffers (node internals)', (f) => /^node:/.test(f.url)]
]

/** Lines `share of busy  ms  category`, busy being the time neither idle nor start-up. */
export function profileShares (path: string): string[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const find = (id: number, rules: Rule[]): string | null => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame
      for (const [name, test] of rules) if (test(frame)) return name
    }
    return null
  }
  const categoryOf = new Map<number, string>()
  const time = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    let category = categoryOf.get(id)
    if (category === undefined) {
      category = find(id, RULES) ?? find(id, FALLBACK) ?? 'other'
      categoryOf.set(id, category)
    }
    time.set(category, (time.get(category) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  const busy = [...time].reduce((sum, [name, t]) => name === IDLE || name === STARTUP ? sum : sum + t, 0)
  const lines = [`busy ${formatNumber(busy / 1e6, 2)} s (idle ${formatNumber((time.get(IDLE) ?? 0) / 1e6, 2)} s and start-up ${formatNumber((time.get(STARTUP) ?? 0) / 1e6, 2)} s left out), inclusive shares:`]
  for (const [name, t] of [...time].sort((a, b) => b[1] - a[1])) {
    if (name === IDLE || name === STARTUP) continue
    lines.push(`${(100 * t / Math.max(1, busy)).toFixed(1).padStart(5)} %  ${formatNumber(t / 1000).padStart(6)} ms  ${name}`)
  }
  return lines
}
