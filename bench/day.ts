import { Redis } from 'ioredis'
import { type Config, storeShards } from '../src/config.js'
import { FIREHOSE_ROOM_WINDOWS, type MemoryBound, memoryBound, type MemoryBoundSettings, type StoreKind as BoundStore, TYPICAL_MEMBERS, WORST_CASE_MEMBERS } from '../src/store/memory-bound.js'
import { Child } from './child.js'
import type { StoreKind } from './children/ipc.js'
import { type BenchRedis, counterDelta, deleteNamespace, parseInfo, redisCounters, type RedisCounters } from './redis.js'
import { formatNumber, formatSpread, mib, spread } from './report.js'
import type { TestRedisCluster } from '../test/helpers/redis-cluster.js'

/**
 * The simulated day (docs/PERFORMANCE.md#memory, issue 12): the day profile's block
 * (a day of event times, Twitch-like breadth) streamed unpaced into a
 * worker, with the store's memory sampled as the day goes by: Redis
 * `used_memory` and key count (summed over the masters of a cluster), or
 * the worker's RSS for the embedded store. Printed at 10, 50, 90 and 100 %
 * of the day beside the formula of ARCHITECTURE.md (src/store/memory-bound.ts).
 * The embedded store is checked against the formula by its own heap at the
 * end (the worker's RSS also holds its batches, both threads' heaps and Node).
 */

/** Parts of `npm run bench` that run a day, and the store each writes. */
export const DAY_PARTS = { day: 'redis', 'day-embedded': 'memory', 'day-cluster': 'cluster' } as const satisfies Record<string, StoreKind>
export type DayPart = keyof typeof DAY_PARTS

/** How often the worker reports its progress, and the store's memory is read. */
const SAMPLE_MS = 2000
/** Points of the day printed. */
const REPORTED_FRACTIONS = [0.1, 0.5, 0.9, 1] as const
/** Memory levels off when the second half of the day adds at most this share of what the first half added. */
const LEVELS_OFF_RATIO = 0.5

export interface DaySample {
  /** Messages committed by the worker when the sample was taken. */
  committed: number
  rss: number
  /** Redis used_memory less what it was before the run (null for the embedded store). */
  storeMemory: number | null
  keys: number | null
  /** A cluster's masters: each one's used_memory less its own before the run (null otherwise). */
  perMaster?: number[] | null
}

/** What the day needs of the bench's Redis Cluster (test/helpers/redis-cluster.ts). */
export type DayCluster = Pick<TestRedisCluster, 'nodes' | 'deleteKeysWithPrefix' | 'ownerOf'>

/**
 * Parts of the formula a sharded store keeps in shard 0 only
 * (ShardedRedisStore reads totals, series and failed messages there);
 * every other part is ceil(bound / shards) or one list set per shard, so
 * an even share of it lives in each shard.
 */
const SHARD_ZERO_PARTS = ['per-second series', 'per-minute series', 'failed-message log']

/**
 * The formula's figure for each master of a cluster: its shards' share of
 * the spread parts, plus the shard-0 parts on the master that holds shard 0.
 * `shardsByMaster[m]` lists the shard indexes master m owns.
 */
export function perMasterBound (bound: MemoryBound, shardsByMaster: number[][]): number[] {
  const shards = shardsByMaster.reduce((sum, list) => sum + list.length, 0)
  let shardZero = 0
  for (const p of bound.parts) if (SHARD_ZERO_PARTS.some((name) => p.name.startsWith(name))) shardZero += p.bytes
  const spread = bound.total - shardZero
  return shardsByMaster.map((list) => spread * list.length / shards + (list.includes(0) ? shardZero : 0))
}

/** Which shards each master owns: shard i's keys carry the hash tag {s<i>} (src/store/redis/keys.ts shardNamespace). */
async function shardsByMaster (cluster: DayCluster, admin: Redis, shards: number): Promise<number[][]> {
  const byMaster: number[][] = cluster.nodes.map(() => [])
  for (let i = 0; i < shards; i++) {
    const slot = await admin.cluster('KEYSLOT', `{s${i}}`) as number
    byMaster[await cluster.ownerOf(slot)]!.push(i)
  }
  return byMaster
}

export interface DayContext {
  runs: number
  events: number
  messages: number
  flushIntervalMs: number
  redis: BenchRedis
  config: Config
  streamUrl: (events: number) => string
  log: (line?: string) => void
}

/** The Redis processes a day writes to: the bench's own, or the cluster's masters. */
interface MemorySource {
  read: () => Promise<{ usedMemory: number, keys: number, counters: RedisCounters[], perMaster: number[] }>
  close: () => Promise<void>
}

function keysIn (keyspace: string): number {
  let keys = 0
  for (const [, value] of parseInfo(keyspace)) keys += Number(/keys=(\d+)/.exec(value)?.[1] ?? 0)
  return keys
}

function memorySource (admins: Redis[], owned: boolean): MemorySource {
  return {
    read: async () => {
      let usedMemory = 0
      let keys = 0
      const counters: RedisCounters[] = []
      for (const admin of admins) {
        const c = await redisCounters(admin)
        counters.push(c)
        usedMemory += c.usedMemory
        keys += keysIn(await admin.info('keyspace'))
      }
      return { usedMemory, keys, counters, perMaster: counters.map((c) => c.usedMemory) }
    },
    close: async () => {
      if (owned) for (const admin of admins) admin.disconnect()
    }
  }
}

/**
 * The settings the formula needs, from the configuration the worker runs
 * with; null while the store has no setting bounding its per-room and
 * window structures (then nothing bounds them, and there is no formula).
 */
export function boundSettings (config: Config): MemoryBoundSettings | null {
  // Read by name: MAX_TRACKED_ROOMS and WINDOW_TOP arrive with the bounded store (issue 12).
  const settings = config as unknown as Record<string, unknown>
  const number = (name: string): number | null => typeof settings[name] === 'number' ? settings[name] : null
  const rooms = number('MAX_TRACKED_ROOMS')
  const windowTop = number('WINDOW_TOP')
  if (rooms === null || windowTop === null) return null
  return {
    maxTrackedWords: config.MAX_TRACKED_WORDS,
    maxTrackedPerRoom: config.MAX_TRACKED_PER_ROOM,
    maxTrackedRooms: rooms,
    windowTop,
    roomWindowTop: number('ROOM_WINDOW_TOP') ?? windowTop,
    failedLogSize: 1000
  }
}

interface DayRun {
  seconds: number
  messages: number
  workerCpuPerMessage: number
  redisCpuPerMessage: number | null
  samples: DaySample[]
  /** The measured memory (Redis used_memory over its start, or worker RSS) at each reported fraction. */
  at: number[]
  firstHalfGrowth: number
  secondHalfGrowth: number
  /** A cluster's masters at the end, each over its start (null otherwise). */
  perMasterAtEnd: number[] | null
  /** The embedded store: the V8 heap it holds at the end (heap used after a full collection once the worker stopped, over its value before the stream); null otherwise. */
  storeHeap: number | null
}

/** Runs the day part for one store, --runs times, each in a fresh namespace and worker process. */
export async function runDay (context: DayContext, part: DayPart, cluster: DayCluster | null, namespace: () => string): Promise<unknown> {
  const { runs, events, messages, log } = context
  const store = DAY_PARTS[part]
  const redisBacked = store !== 'memory'
  const where = store === 'redis' ? 'Redis' : store === 'cluster' ? `the Redis Cluster (${cluster?.nodes.length ?? 0} masters)` : 'the embedded store'
  const measured = redisBacked ? 'Redis used_memory' : 'worker RSS'
  log(`== ${part}: the day profile, ${formatNumber(events)} events (${formatNumber(messages)} chat messages, event times over the 24 h before the run) unpaced into ${where}; ${measured} every ${SAMPLE_MS / 1000} s`)
  const settings = boundSettings(context.config)
  const boundStore: BoundStore = redisBacked ? 'redis' : 'embedded'
  // A cluster's store spreads each statistic over STORE_SHARDS shards (16 by default), each with its own window lists.
  const shards = storeShards(store === 'cluster' ? { ...context.config, REDIS_CLUSTER_NODES: cluster?.nodes.join(',') ?? 'cluster' } : context.config)
  const worst = settings === null ? null : memoryBound({ ...settings, shards }, WORST_CASE_MEMBERS, boundStore)
  const typical = settings === null ? null : memoryBound({ ...settings, shards }, TYPICAL_MEMBERS, boundStore, FIREHOSE_ROOM_WINDOWS)
  // On a cluster the formula is for all masters together; each master holds the shards whose hash tags fall in its slots.
  let masters: { shards: number[][], worst: number[], typical: number[] } | null = null
  if (store === 'cluster' && worst !== null && typical !== null) {
    const admin = new Redis(`redis://${cluster!.nodes[0]!}`, { maxRetriesPerRequest: 1 })
    try {
      const byMaster = await shardsByMaster(cluster!, admin, shards)
      masters = { shards: byMaster, worst: perMasterBound(worst, byMaster), typical: perMasterBound(typical, byMaster) }
    } finally {
      admin.disconnect()
    }
    log(`  formula per master (${shards} shards: ${masters.shards.map((list, m) => `master ${m + 1} s${list.join(',s')}`).join('; ')}): worst ${masters.worst.map(mib).join(' / ')}, typical ${masters.typical.map(mib).join(' / ')}; all masters: worst ${mib(worst.total)}, typical ${mib(typical.total)}`)
  }
  const rows: DayRun[] = []
  for (let run = 1; run <= runs; run++) {
    const admins = store === 'cluster' ? cluster!.nodes.map((node) => new Redis(`redis://${node}`, { maxRetriesPerRequest: 1 })) : [context.redis.admin]
    const source = redisBacked ? memorySource(admins, store === 'cluster') : null
    const ns = namespace()
    log(`run ${run}:`)
    try {
      rows.push(await dayRun(context, store, source, ns, cluster))
    } finally {
      if (store === 'redis') await deleteNamespace(context.redis.admin, ns)
      if (store === 'cluster') await cluster!.deleteKeysWithPrefix(ns)
      await source?.close()
    }
    const r = rows.at(-1)!
    log(`  ${formatNumber(r.messages / r.seconds)} msg/s over ${formatNumber(r.seconds)} s; worker ${formatNumber(r.workerCpuPerMessage, 2)} µs CPU/msg${r.redisCpuPerMessage === null ? '' : `; Redis ${formatNumber(r.redisCpuPerMessage, 2)} µs CPU/msg`}`)
    const ratio = r.secondHalfGrowth / r.firstHalfGrowth
    log(`  growth: first half ${mib(r.firstHalfGrowth)}, second half ${mib(r.secondHalfGrowth)} (ratio ${formatNumber(ratio, 2)}): ${ratio <= LEVELS_OFF_RATIO ? 'levels off' : `still growing (levels off at a ratio <= ${LEVELS_OFF_RATIO})`}`)
    if (masters !== null && r.perMasterAtEnd !== null) {
      log(`  per master at the end: ${r.perMasterAtEnd.map((bytes, m) => `${mib(bytes)} (worst ${mib(masters!.worst[m]!)}${bytes <= masters!.worst[m]! ? '' : ', OVER'})`).join(' / ')}`)
    }
    if (worst === null || typical === null) {
      log('  formula: none for this store: it has no MAX_TRACKED_ROOMS / WINDOW_TOP setting, so its per-room and window structures are bounded by nothing (ARCHITECTURE.md, "Memory bounds")')
    } else {
      // The embedded store is measured by its own heap; the worker's RSS beside it also holds the worker's batches, both threads' heaps and Node.
      const end = r.storeHeap ?? r.at.at(-1)!
      const what = r.storeHeap === null ? '' : ` (the store's heap: V8 heap used after a full collection once the worker stopped, over before the stream; the worker's RSS at the end ${mib(r.samples.at(-1)!.rss)})`
      log(`  formula (src/store/memory-bound.ts, ${boundStore}): worst case ${mib(worst.total)}, typical ${mib(typical.total)}; measured at the end ${mib(end)}${what}: ${end <= worst.total ? 'within the worst case' : 'OVER the worst case'}${end <= typical.total ? ', within the typical figure' : ''}`)
    }
  }
  printFormula(context, worst, typical, settings)
  const summary = {
    rate: spread(rows.map((r) => r.messages / r.seconds)),
    workerCpuPerMessage: spread(rows.map((r) => r.workerCpuPerMessage)),
    redisCpuPerMessage: redisBacked ? spread(rows.map((r) => r.redisCpuPerMessage ?? Number.NaN)) : null,
    atFractions: REPORTED_FRACTIONS.map((_, i) => spread(rows.map((r) => r.at[i]!))),
    growthRatio: spread(rows.map((r) => r.secondHalfGrowth / r.firstHalfGrowth)),
    storeHeap: redisBacked ? null : spread(rows.map((r) => r.storeHeap ?? Number.NaN))
  }
  log(`${part} summary (min / median / max over ${runs} run(s)):`)
  log(`  rate                               ${formatSpread(summary.rate, 0, ' msg/s')}`)
  log(`  worker CPU per message             ${formatSpread(summary.workerCpuPerMessage, 2, ' µs')}`)
  if (summary.redisCpuPerMessage !== null) log(`  Redis CPU per message              ${formatSpread(summary.redisCpuPerMessage, 2, ' µs')}`)
  for (const [i, fraction] of REPORTED_FRACTIONS.entries()) {
    const s = summary.atFractions[i]!
    log(`  ${measured} at ${formatNumber(100 * fraction).padStart(3)} %${' '.repeat(Math.max(1, 19 - measured.length))}${mib(s.min)} / ${mib(s.median)} / ${mib(s.max)}`)
  }
  log(`  2nd-half growth / 1st-half growth  ${formatSpread(summary.growthRatio, 2)}   levels off at <= ${LEVELS_OFF_RATIO}`)
  if (summary.storeHeap !== null) log(`  the store's heap at the end         ${mib(summary.storeHeap.min)} / ${mib(summary.storeHeap.median)} / ${mib(summary.storeHeap.max)}`)
  if (worst !== null) log(`  formula: worst case ${mib(worst.total)}, typical ${mib(typical!.total)}   target: measured within the formula, worst case < 1 GiB`)
  log()
  return { store, events, messages, runs: rows, summary, formula: worst === null ? null : { settings, worst, typical, masters } }
}

function printFormula (context: DayContext, worst: ReturnType<typeof memoryBound> | null, typical: ReturnType<typeof memoryBound> | null, settings: MemoryBoundSettings | null): void {
  if (worst === null || typical === null || settings === null) return
  context.log(`  the formula's parts (settings ${Object.entries(settings).map(([k, v]) => `${k} ${formatNumber(v as number)}`).join(', ')}):`)
  for (const [i, p] of worst.parts.entries()) {
    context.log(`    ${p.name.padEnd(86)} worst ${mib(p.bytes).padStart(12)}   typical ${mib(typical.parts[i]!.bytes).padStart(12)}`)
  }
}

/** The first sample at or past `committed` messages (the last one if none is). */
function sampleAt (samples: DaySample[], committed: number): DaySample {
  return samples.find((s) => s.committed >= committed) ?? samples.at(-1)!
}

function fractionLine (fraction: number, memory: number, sample: DaySample, redisBacked: boolean): string {
  const keys = sample.keys === null ? '' : `, ${formatNumber(sample.keys)} keys`
  const masters = sample.perMaster === null || sample.perMaster === undefined || sample.perMaster.length < 2 ? '' : ` (masters ${sample.perMaster.map(mib).join(' / ')})`
  return `  ${formatNumber(100 * fraction).padStart(3)} % of the day (${formatNumber(sample.committed)} msgs): ${redisBacked ? 'Redis used_memory' : 'worker RSS'} ${mib(memory).padStart(12)} over its start${masters}${keys}; worker RSS ${mib(sample.rss)}`
}

/** Waits (at most a minute) until no Redis below has objects left to free in the background. */
export async function lazyFreeDone (urls: string[]): Promise<void> {
  const clients = urls.map((url) => new Redis(url, { maxRetriesPerRequest: 1 }))
  try {
    for (let waited = 0; waited < 60_000; waited += 250) {
      const pending = await Promise.all(clients.map(async (c) => Number(/lazyfree_pending_objects:(\d+)/.exec(await c.info('memory'))?.[1] ?? 0)))
      if (pending.every((n) => n === 0)) return
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  } finally {
    for (const c of clients) c.disconnect()
  }
}

/** Each master's used_memory over its own value at the start. */
function overStart (now: { perMaster: number[] }, start: { perMaster: number[] }): number[] {
  return now.perMaster.map((bytes, i) => bytes - start.perMaster[i]!)
}

async function dayRun (context: DayContext, store: StoreKind, source: MemorySource | null, ns: string, cluster: DayCluster | null): Promise<DayRun> {
  const { events, messages } = context
  // The previous run's keys were UNLINKed: Redis frees them in the background, and a start read before that would count them.
  if (source !== null) await lazyFreeDone(store === 'cluster' ? cluster!.nodes.map((node) => `redis://${node}`) : [context.redis.url])
  const start = source === null ? null : await source.read()
  // samples[0] is the worker's first report, sent when the stream connects: nothing stored yet.
  const samples: DaySample[] = []
  const memoryOf = (s: DaySample): number => s.storeMemory ?? s.rss - samples[0]!.rss
  let printed = 0
  const record = (sample: DaySample): void => {
    samples.push(sample)
    // Printed as the day goes: a run that stalls still shows how far it got.
    while (printed < REPORTED_FRACTIONS.length - 1 && sample.committed >= REPORTED_FRACTIONS[printed]! * messages) {
      context.log(fractionLine(REPORTED_FRACTIONS[printed]!, memoryOf(sample), sample, source !== null))
      printed++
    }
  }
  let reading: Promise<void> | null = null
  // The embedded store's own heap is read after a full collection (storeHeap): RSS also holds the worker's batches, both threads' heaps and Node.
  const child = Child.start('worker', store === 'memory' ? ['--expose-gc'] : [])
  try {
    child.on('progress', (progress) => {
      const committed = progress.committed as number
      const rss = progress.rss as number
      if (source === null || start === null) {
        record({ committed, rss, storeMemory: null, keys: null })
      } else if (samples.length === 0) {
        record({ committed, rss, storeMemory: 0, keys: start.keys, perMaster: start.perMaster.map(() => 0) })
      } else {
        // One INFO reading at a time: a slow one (Redis busy with a flush) skips the next.
        reading ??= source.read().then((now) => {
          record({ committed, rss, storeMemory: now.usedMemory - start.usedMemory, keys: now.keys, perMaster: overStart(now, start) })
        }, () => {}).finally(() => { reading = null })
      }
    })
    child.send({
      type: 'run-worker',
      store,
      streamUrl: context.streamUrl(events),
      redisUrl: store === 'cluster' ? cluster!.nodes.join(',') : context.redis.url,
      namespace: ns,
      expectedMessages: messages,
      flushIntervalMs: context.flushIntervalMs,
      sampleMemoryMs: SAMPLE_MS,
      progressMs: SAMPLE_MS,
      storeHeap: store === 'memory'
    })
    const worker = await child.next('worker-result', 7_200_000) as unknown as { messages: number, seconds: number, cpuSeconds: number, storedMessages: number, samples: Array<{ rss: number }>, storeHeap: number | null }
    await reading
    if (worker.storedMessages !== messages) context.log(`  WARNING: the store counted ${worker.storedMessages} messages, the stream had ${messages}`)
    const end = source === null ? null : await source.read()
    const rss = worker.samples.at(-1)?.rss ?? 0
    const perMasterAtEnd = end === null || start === null ? null : overStart(end, start)
    samples.push({ committed: worker.messages, rss, storeMemory: end === null || start === null ? null : end.usedMemory - start.usedMemory, keys: end?.keys ?? null, perMaster: perMasterAtEnd })
    context.log(fractionLine(1, memoryOf(samples.at(-1)!), samples.at(-1)!, source !== null))
    const at = REPORTED_FRACTIONS.map((f) => memoryOf(f === 1 ? samples.at(-1)! : sampleAt(samples, f * messages)))
    let redisCpuPerMessage: number | null = null
    if (start !== null && end !== null) {
      const cpu = end.counters.reduce((sum, c, i) => sum + counterDelta(start.counters[i]!, c).cpuSeconds, 0)
      redisCpuPerMessage = 1e6 * cpu / worker.messages
    }
    const middle = memoryOf(sampleAt(samples, 0.5 * messages))
    return {
      seconds: worker.seconds,
      messages: worker.messages,
      workerCpuPerMessage: 1e6 * worker.cpuSeconds / worker.messages,
      redisCpuPerMessage,
      samples,
      at,
      firstHalfGrowth: middle - memoryOf(samples[0]!),
      secondHalfGrowth: at.at(-1)! - middle,
      perMasterAtEnd: store === 'cluster' ? perMasterAtEnd : null,
      storeHeap: worker.storeHeap
    }
  } finally {
    await child.stop()
  }
}
