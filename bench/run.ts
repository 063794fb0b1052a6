import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { loadConfig } from '../src/config.js'
import type { ProfileName } from '../src/simulator/index.js'
import { RedisKeys } from '../src/store/redis/keys.js'
import { CATEGORIES } from '../src/store/types.js'
import { API_ROUTES, type ApiRatioResult, measureApiRatios } from './api-load.js'
import { Child } from './child.js'
import { CLUSTER_SHARDS, type StoreKind } from './children/ipc.js'
import { DAY_PARTS, type DayPart, runDay } from './day.js'
// The bench starts its cluster the way the tests do.
import { startRedisCluster } from '../test/helpers/redis-cluster.js'
import { type BenchRedis, counterDelta, deleteNamespace, redisCounters, startOwnRedis, useRedis } from './redis.js'
import { profileShares } from './profile-shares.js'
import { formatNumber, formatSpread, mib, type Spread, spread, summariseProfile } from './report.js'
import { measureFanout } from './sse-fanout.js'
import { runWorstCase } from './worst-case.js'
import { bytesPerEvent, CACHE_DIR, chatMessagesIn, loadStreamBlock, type StreamBlock } from './stream-block.js'

/**
 * `npm run bench` (docs/PERFORMANCE.md): ingest rate into Redis and into the
 * embedded store beside a bare read/split/JSON.parse loop, freshness, API
 * requests/s beside a bare Fastify route, a long run for memory, and a
 * simulated day into each store (bench/day.ts). Every figure is printed as
 * min / median / max over --runs runs. Never part of `npm test`.
 */

/** Freshness into a store other than Redis: the embedded store (the API in the worker's process, as `chat-stats start` runs it) and the 3-master cluster. */
const FRESHNESS_PARTS = { 'freshness-embedded': 'memory', 'freshness-cluster': 'cluster' } as const satisfies Record<string, StoreKind>
type FreshnessPart = keyof typeof FRESHNESS_PARTS

const PARTS = ['ingest', 'embedded', 'cluster', 'freshness', ...Object.keys(FRESHNESS_PARTS) as FreshnessPart[], 'api', 'fanout', 'memory', ...Object.keys(DAY_PARTS) as DayPart[], 'worst-case'] as const
type Part = typeof PARTS[number]

interface Options {
  only: Part[]
  runs: number
  events: number
  block: number
  seed: number
  memoryEvents: number
  dayEvents: number
  rate: number
  freshnessSeconds: number
  apiSeconds: number
  connections: number
  sseClients: number
  fanoutSeconds: number
  flushInterval: number
  redisUrl: string | undefined
  redisSave: string
  profile: boolean
  json: string | undefined
  worstWords: number
  worstRooms: number
  worstPerRoom: number
  worstWindowTop: number
  worstRoomWindowTop: number
  worstLiveSeconds: number
}

function integer (minimum: number) {
  return (value: string): number => {
    const n = Number(value.replace(/_/g, ''))
    if (!Number.isSafeInteger(n) || n < minimum) throw new InvalidArgumentError(`must be an integer >= ${minimum}`)
    return n
  }
}

function parts (value: string): Part[] {
  const list = value.split(',').map((p) => p.trim()).filter((p) => p !== '')
  for (const p of list) if (!(PARTS as readonly string[]).includes(p)) throw new InvalidArgumentError(`unknown part ${p}; parts: ${PARTS.join(', ')}`)
  return list as Part[]
}

function parseOptions (): Options {
  // The worst-case part's settings default to the product's (src/config.ts).
  const defaults = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent' }, null)
  const program = new Command('npm run bench --')
    .description('Measures the performance targets (docs/PERFORMANCE.md): ingest, embedded, cluster (ingest into a 3-master Redis Cluster, 16 shards), freshness (into Redis; freshness-embedded, freshness-cluster into the other stores), api, memory, a simulated day into Redis (day), the embedded store (day-embedded) and the cluster (day-cluster), and worst-case (every structure of the memory formula filled to its bound through RedisStore.applyBatch, Redis used_memory beside src/store/memory-bound.ts; --worst-* set its bounds).')
    .option('--only <parts>', `comma-separated parts to run (${PARTS.join(', ')})`, parts, [...PARTS])
    .option('--runs <n>', 'runs of each figure (min / median / max)', integer(1), 3)
    .option('--events <n>', 'events per ingest run', integer(1000), 1_000_000)
    .option('--block <n>', 'pre-generated events (longer runs loop over them)', integer(1000), 500_000)
    .option('--seed <n>', 'simulator seed of the block', integer(0), 1)
    .option('--memory-events <n>', 'events of the long run', integer(1000), 10_000_000)
    .option('--day-events <n>', 'events of the simulated day (the day profile, generated once and cached)', integer(1000), 10_000_000)
    .option('--rate <n>', 'chat messages/s of the stream during the freshness and api parts', integer(1), 100_000)
    .option('--freshness-seconds <n>', 'length of each freshness measurement', integer(1), 20)
    .option('--api-seconds <n>', 'length of each autocannon run', integer(1), 10)
    .option('--connections <n>', 'autocannon connections', integer(1), 10)
    .option('--sse-clients <n>', 'live-stream clients of the fanout part (MAX_STREAMS is 1000)', integer(1), 1000)
    .option('--fanout-seconds <n>', 'length of the fanout measurement', integer(1), 10)
    .option('--flush-interval <ms>', 'FLUSH_INTERVAL_MS of the worker', integer(10), 250)
    .option('--redis-url <url>', 'use this Redis instead of starting a redis-server on a free port')
    .option('--redis-save <spec>', 'persistence of the bench\'s own redis-server (e.g. "60 1" as in docker-compose.yml)', '')
    .option('--profile', 'CPU-profile the worker of the first ingest run into each store (and, in the live parts, the paced worker and the API server) and print their hottest functions', false)
    .option('--json <path>', 'also write every figure as JSON')
    .option('--worst-words <n>', 'worst-case part: MAX_TRACKED_WORDS (the formula is evaluated with the same settings)', integer(1), defaults.MAX_TRACKED_WORDS)
    .option('--worst-rooms <n>', 'worst-case part: MAX_TRACKED_ROOMS', integer(1), defaults.MAX_TRACKED_ROOMS)
    .option('--worst-per-room <n>', 'worst-case part: MAX_TRACKED_PER_ROOM', integer(1), defaults.MAX_TRACKED_PER_ROOM)
    .option('--worst-window-top <n>', 'worst-case part: WINDOW_TOP', integer(1), defaults.WINDOW_TOP)
    .option('--worst-room-window-top <n>', 'worst-case part: ROOM_WINDOW_TOP', integer(1), defaults.ROOM_WINDOW_TOP)
    .option('--worst-live-seconds <n>', 'worst-case part: seconds of real time a full slice is written every second (the 1 s buckets live 62 s)', integer(1), 63)
    .parse()
  return program.opts<Options>()
}

function log (line = ''): void {
  console.log(line)
}

const results: Record<string, unknown> = {}

async function machine (redis: BenchRedis, options: Options): Promise<void> {
  const cpuList = cpus()
  const info = {
    cores: cpuList.length,
    cpu: cpuList[0]?.model ?? 'unknown',
    node: process.version,
    redis: redis.description,
    loadAverageAtStart: loadavg().map((l) => l.toFixed(2)).join(' ')
  }
  results.machine = info
  results.options = options
  log(`machine: ${info.cores} cores, ${info.cpu}; node ${info.node}; ${info.redis}`)
  log(`load average at start: ${info.loadAverageAtStart} (the load generator, Redis and the worker share these cores)`)
  log(`command: npm run bench -- ${process.argv.slice(2).join(' ')}`)
  log()
}

interface WorkerResult {
  messages: number
  storedMessages: number
  seconds: number
  cpuSeconds: number
  flushes: number
  meanFlushMs: number
  maxFlushMs: number
  maxBatch: number
  /** Seconds the worker's reader waited, by cause (BackPressure.pausedMs). */
  readerPausedSeconds: { store: number, counting: number }
  /** Seconds the counting thread was busy; null without one. */
  countingBusySeconds: number | null
  samples: Array<{ at: number, committed: number, rss: number, heapUsed: number }>
}

/** What held the worker back in a run: its reader's pauses by cause and its counting thread's busy share. */
function limits (worker: WorkerResult): string {
  const { store, counting } = worker.readerPausedSeconds
  const thread = worker.countingBusySeconds === null ? 'no counting thread' : `counting thread busy ${formatNumber(worker.countingBusySeconds, 1)} s (${formatNumber(100 * worker.countingBusySeconds / worker.seconds)} %)`
  return `reader paused ${formatNumber(store + counting, 1)} s of ${formatNumber(worker.seconds, 1)} s (for the store ${formatNumber(store, 1)}, for the counting thread ${formatNumber(counting, 1)}); ${thread}`
}

interface BareResult {
  seconds: number
  cpuSeconds: number
  parsed: number
  failed: number
}

function namespace (): string {
  return `bench:${randomBytes(6).toString('hex')}:`
}

/**
 * The profiles of a process, its main thread's first: `--cpu-prof` writes one
 * per thread, named CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile
 * (thread 0 is the main thread; the worker's counting thread is another).
 */
function threadProfiles (dir: string): Array<{ file: string, thread: number }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ file: join(dir, f), thread: Number(f.split('.')[4]) }))
    .sort((a, b) => a.thread - b.thread)
}

/** The main thread's profile in `dir`, or null. */
function mainThreadProfile (dir: string): string | null {
  return threadProfiles(dir).find((profile) => profile.thread === 0)?.file ?? null
}

/** Prints the hottest functions of each thread of the worker profiled into `dir`, and the shares of its main thread (nothing when not profiled). */
function printWorkerProfile (dir: string | null): void {
  if (dir === null) return
  for (const { file, thread } of threadProfiles(dir)) {
    if (thread === 0) {
      log(`  worker CPU profile, main thread (${file}), self time:`)
      for (const line of summariseProfile(file, 25)) log(`    ${line}`)
      log('  worker main thread, ' + profileShares(file).join('\n    '))
    } else {
      log(`  worker CPU profile, thread ${thread} (the counting thread, if it shows batch-builder.ts) (${file}), self time:`)
      for (const line of summariseProfile(file, 15)) log(`    ${line}`)
    }
  }
}

class Bench {
  private loadGenerator!: Child
  private block!: StreamBlock
  private dayBlock: StreamBlock | null = null
  private port = 0
  private expectedMessages = 0

  constructor (private readonly options: Options, private readonly redis: BenchRedis) {}

  async start (withDay: boolean): Promise<void> {
    const { seed, block, dayEvents } = this.options
    let started = performance.now()
    const loaded = loadStreamBlock('default', seed, block, (path) => log(`generating the stream block once (${formatNumber(block)} events, cached in ${path}) ...`))
    this.block = loaded
    this.expectedMessages = chatMessagesIn(loaded, this.options.events)
    log(`stream block: ${formatNumber(loaded.events)} events, ${formatNumber(bytesPerEvent(loaded), 0)} bytes/event, ${formatNumber(100 * loaded.chatBefore[loaded.events]! / loaded.events, 1)} % chat messages (ready in ${formatNumber((performance.now() - started) / 1000, 1)} s); ` +
      'tmi-sent-ts rewritten to the time of each write as it is served')
    const blocks: Array<{ profile: ProfileName, base: string, events: number }> = [{ profile: 'default', base: loaded.base, events: block }]
    if (withDay) {
      started = performance.now()
      const day = loadStreamBlock('day', seed, dayEvents, (path) => log(`generating the day once (${formatNumber(dayEvents)} events of the day profile, cached in ${path}) ...`))
      this.dayBlock = day
      log(`day block: ${formatNumber(day.events)} events, ${formatNumber(bytesPerEvent(day), 0)} bytes/event, ${formatNumber(100 * day.chatBefore[day.events]! / day.events, 1)} % chat messages (ready in ${formatNumber((performance.now() - started) / 1000, 1)} s); ` +
        'its times moved so that the day ends when it is served')
      blocks.push({ profile: 'day', base: day.base, events: dayEvents })
    }
    this.loadGenerator = Child.start('load-generator')
    this.loadGenerator.send({ type: 'load', blocks })
    this.port = (await this.loadGenerator.next('listening', 600_000)).port as number
  }

  async stop (): Promise<void> {
    await this.loadGenerator.stop()
  }

  private streamUrl (events: number, rate = 0, record = false): string {
    return `http://127.0.0.1:${this.port}/?events=${events}&rate=${rate}${record ? '&record=1' : ''}`
  }

  private async bareRun (): Promise<BareResult> {
    const child = Child.start('bare-parse')
    try {
      child.send({ type: 'run-bare', streamUrl: this.streamUrl(this.options.events), expectedEvents: this.options.events })
      return await child.next('bare-result', 3_600_000) as unknown as BareResult
    } finally {
      await child.stop()
    }
  }

  private async workerRun (store: StoreKind, events: number, expectedMessages: number, profileDir: string | null, sampleMemoryMs = 0, redisUrl = this.redis.url): Promise<{ worker: WorkerResult, redis: ReturnType<typeof counterDelta>, namespace: string }> {
    const ns = namespace()
    const child = Child.start('worker', profileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir])
    try {
      const before = await redisCounters(this.redis.admin)
      child.send({ type: 'run-worker', store, streamUrl: this.streamUrl(events), redisUrl, namespace: ns, expectedMessages, flushIntervalMs: this.options.flushInterval, sampleMemoryMs })
      const worker = await child.next('worker-result', 7_200_000) as unknown as WorkerResult
      const after = await redisCounters(this.redis.admin)
      return { worker, redis: counterDelta(before, after), namespace: ns }
    } finally {
      await child.stop()
    }
  }

  /** The simulated day into each store `parts` asks for (bench/day.ts). */
  async day (parts: DayPart[]): Promise<void> {
    const block = this.dayBlock!
    const events = this.options.dayEvents
    const cluster = parts.includes('day-cluster') ? await startRedisCluster() : null
    try {
      const context = {
        runs: this.options.runs,
        events,
        messages: chatMessagesIn(block, events),
        flushIntervalMs: this.options.flushInterval,
        redis: this.redis,
        // The worker child builds its store from the same defaults.
        config: loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent' }, null),
        streamUrl: (n: number) => `http://127.0.0.1:${this.port}/?block=day&events=${n}&rate=0`,
        log
      }
      for (const part of parts) results[part] = await runDay(context, part, cluster, namespace)
    } finally {
      await cluster?.close()
    }
  }

  /** Ingest: bare loop, then the worker into Redis (and the embedded store), per run. */
  async ingest (withRedis: boolean, withMemory: boolean, withCluster: boolean): Promise<void> {
    const { runs, events } = this.options
    const expected = this.expectedMessages
    log(`== ingest: ${formatNumber(events)} events (${formatNumber(expected)} chat messages) per run, unpaced HTTP SSE from the load generator`)
    const rows: Record<string, number[]> = { bare: [], bareCpu: [], redis: [], redisCpu: [], redisServerCpu: [], redisCommands: [], redisRatio: [], redisCpuRatio: [], memory: [], memoryCpu: [], memoryRatio: [], memoryCpuRatio: [], cluster: [], clusterCpu: [], clusterRatio: [], clusterServerCpu: [] }
    // A Redis Cluster (docs/STORAGE.md#sharding-on-a-redis-cluster): three masters on this machine, started like the tests' (all on loopback, sharing the cores).
    const cluster = withCluster ? await startRedisCluster() : null
    if (cluster !== null) log(`Redis Cluster: 3 masters (no replicas) on ${cluster.nodes.join(', ')}, ${CLUSTER_SHARDS} shards`)
    try {
    let profileDir: string | null = null
    if (this.options.profile) {
      profileDir = join(CACHE_DIR, 'profiles', new Date().toISOString().replace(/[:.]/g, '-'))
      mkdirSync(profileDir, { recursive: true })
    }
    for (let run = 1; run <= runs; run++) {
      const bare = await this.bareRun()
      const bareRate = expected / bare.seconds
      const bareCpuPerMessage = 1e6 * bare.cpuSeconds / expected
      rows.bare!.push(bareRate)
      rows.bareCpu!.push(bareCpuPerMessage)
      log(`run ${run}: bare loop ${formatNumber(bareRate)} msg/s (${formatNumber(bareCpuPerMessage, 2)} µs CPU/msg)`)
      for (const store of [withRedis ? 'redis' : null, cluster !== null ? 'cluster' : null, withMemory ? 'memory' : null] as const) {
        if (store === null) continue
        const storeProfileDir = run === 1 && profileDir !== null ? join(profileDir, store) : null
        if (storeProfileDir !== null) mkdirSync(storeProfileDir, { recursive: true })
        if (store === 'cluster') {
          const mastersBefore = await Promise.all(cluster!.admins.map(redisCounters))
          const { worker, namespace: ns } = await this.workerRun('cluster', events, expected, storeProfileDir, 0, cluster!.nodes.join(','))
          const mastersAfter = await Promise.all(cluster!.admins.map(redisCounters))
          const mastersCpu = mastersAfter.reduce((sum, counters, i) => sum + counterDelta(mastersBefore[i]!, counters).cpuSeconds, 0)
          const rate = worker.messages / worker.seconds
          rows.cluster!.push(rate)
          rows.clusterCpu!.push(1e6 * worker.cpuSeconds / worker.messages)
          rows.clusterServerCpu!.push(1e6 * mastersCpu / worker.messages)
          rows.clusterRatio!.push(rate / bareRate)
          if (worker.storedMessages !== expected) log(`  WARNING: the cluster store counted ${worker.storedMessages} messages, the stream had ${expected}`)
          log(`run ${run}: worker -> Redis Cluster ${formatNumber(rate)} msg/s (ratio ${formatNumber(rate / bareRate, 3)}), ${formatNumber(1e6 * worker.cpuSeconds / worker.messages, 2)} µs worker CPU/msg, ` +
            `${worker.flushes} flushes (mean ${formatNumber(worker.meanFlushMs)} ms, max ${formatNumber(worker.maxFlushMs)} ms); Redis ${formatNumber(1e6 * mastersCpu / worker.messages, 2)} µs CPU/msg summed over the masters`)
          log(`  ${limits(worker)}`)
          await cluster!.deleteKeysWithPrefix(ns)
          printWorkerProfile(storeProfileDir)
          continue
        }
        const { worker, redis, namespace: ns } = await this.workerRun(store, events, expected, storeProfileDir)
        const rate = worker.messages / worker.seconds
        const cpuPerMessage = 1e6 * worker.cpuSeconds / worker.messages
        const commands = [...redis.commands].filter(([name]) => name !== 'info').reduce((sum, [, c]) => sum + c.calls, 0)
        const line = `run ${run}: worker -> ${store === 'redis' ? 'Redis' : 'embedded store'} ${formatNumber(rate)} msg/s (ratio ${formatNumber(rate / bareRate, 3)}), ` +
          `${formatNumber(cpuPerMessage, 2)} µs worker CPU/msg, ${worker.flushes} flushes (mean ${formatNumber(worker.meanFlushMs)} ms, max ${formatNumber(worker.maxFlushMs)} ms, largest ${formatNumber(worker.maxBatch)} msgs)`
        if (worker.storedMessages !== expected) log(`  WARNING: the store counted ${worker.storedMessages} messages, the stream had ${expected}`)
        if (store === 'redis') {
          rows.redis!.push(rate)
          rows.redisCpu!.push(cpuPerMessage)
          rows.redisRatio!.push(rate / bareRate)
          rows.redisCpuRatio!.push(bareCpuPerMessage / cpuPerMessage)
          rows.redisServerCpu!.push(1e6 * redis.cpuSeconds / worker.messages)
          rows.redisCommands!.push(commands / worker.messages)
          log(`${line}; Redis ${formatNumber(1e6 * redis.cpuSeconds / worker.messages, 2)} µs CPU/msg, ${formatNumber(commands / worker.messages, 2)} commands/msg`)
          log(`  ${limits(worker)}`)
          if (run === 1 || this.options.profile) this.printRedisProfile(redis, worker.messages)
          await deleteNamespace(this.redis.admin, ns)
        } else {
          rows.memory!.push(rate)
          rows.memoryCpu!.push(cpuPerMessage)
          rows.memoryRatio!.push(rate / bareRate)
          rows.memoryCpuRatio!.push(bareCpuPerMessage / cpuPerMessage)
          log(line)
          log(`  ${limits(worker)}`)
        }
        printWorkerProfile(storeProfileDir)
      }
    }
    } finally {
      await cluster?.close()
    }
    const summary: Record<string, Spread> = {}
    for (const [name, values] of Object.entries(rows)) if (values.length > 0) summary[name] = spread(values)
    results.ingest = { events, messages: expected, runs: rows, summary }
    log('ingest summary (min / median / max):')
    log(`  bare read+split+JSON.parse loop  ${formatSpread(summary.bare!, 0, ' msg/s')}   (${formatSpread(summary.bareCpu!, 2, ' µs CPU/msg')})`)
    if (summary.redis !== undefined) {
      log(`  worker -> Redis                  ${formatSpread(summary.redis, 0, ' msg/s')}   (${formatSpread(summary.redisCpu!, 2, ' µs CPU/msg')})`)
      log(`    ratio to bare (wall)           ${formatSpread(summary.redisRatio!, 3)}   target >= 0.5; absolute target >= 250,000 msg/s`)
      log(`    ratio to bare (CPU per msg)    ${formatSpread(summary.redisCpuRatio!, 3)}`)
      log(`    Redis server                   ${formatSpread(summary.redisServerCpu!, 2, ' µs CPU/msg')}, ${formatSpread(summary.redisCommands!, 2, ' commands/msg')}`)
    }
    if (summary.cluster !== undefined) {
      log(`  worker -> Redis Cluster          ${formatSpread(summary.cluster, 0, ' msg/s')}   (${formatSpread(summary.clusterCpu!, 2, ' µs CPU/msg')}; 3 masters, ${CLUSTER_SHARDS} shards, same machine)`)
      log(`    ratio to bare (wall)           ${formatSpread(summary.clusterRatio!, 3)}`)
      log(`    Redis servers (summed)         ${formatSpread(summary.clusterServerCpu!, 2, ' µs CPU/msg')}`)
    }
    if (summary.memory !== undefined) {
      log(`  worker -> embedded store         ${formatSpread(summary.memory, 0, ' msg/s')}   (${formatSpread(summary.memoryCpu!, 2, ' µs CPU/msg')})`)
      log(`    ratio to bare (wall)           ${formatSpread(summary.memoryRatio!, 3)}`)
      log(`    ratio to bare (CPU per msg)    ${formatSpread(summary.memoryCpuRatio!, 3)}`)
    }
    log()
  }

  private printRedisProfile (redis: ReturnType<typeof counterDelta>, messages: number): void {
    const total = [...redis.commands.values()].reduce((sum, c) => sum + c.usec, 0)
    const script = (redis.commands.get('evalsha')?.usec ?? 0)
    const inner = total - script
    log(`  Redis time by command (run 1; scripts' inner commands counted under their names; EVALSHA includes them):`)
    for (const [name, c] of [...redis.commands].sort((a, b) => b[1].usec - a[1].usec).slice(0, 10)) {
      log(`    ${name.padEnd(18)} ${formatNumber(c.calls / messages, 3).padStart(8)} calls/msg  ${formatNumber(c.usec / c.calls, 2).padStart(9)} µs/call  ${formatNumber(c.usec / messages, 2).padStart(7)} µs/msg`)
    }
    if (script > 0) log(`    Lua interpreter overhead (EVALSHA time not spent in its commands): ${formatNumber(Math.max(0, script - inner) / messages, 2)} µs/msg`)
  }

  /**
   * Freshness and API figures: the worker ingests a paced stream into `store` while the API serves it
   * (into the embedded store the API runs in the worker's process, as `chat-stats start` does). The api and fanout parts run over Redis only.
   */
  async live (freshness: boolean, api: boolean, fanout = false, store: StoreKind = 'redis'): Promise<void> {
    const { rate, runs, freshnessSeconds, apiSeconds, connections } = this.options
    if (store !== 'redis' && (api || fanout)) throw new Error('the api and fanout parts measure the API over Redis only')
    const where = store === 'redis' ? 'Redis' : store === 'cluster' ? `a 3-master Redis Cluster (${CLUSTER_SHARDS} shards)` : 'the embedded store (the API in the worker\'s process)'
    const cluster = store === 'cluster' ? await startRedisCluster() : null
    const redisUrl = cluster === null ? this.redis.url : cluster.nodes.join(',')
    // The Redis processes whose CPU the parts use: none for the embedded store.
    const admins = cluster !== null ? cluster.admins : store === 'redis' ? [this.redis.admin] : []
    const ns = namespace()
    // With --profile, the paced worker's CPU profile too (where a flush's time goes at a sustained rate).
    const liveProfileDir = this.options.profile ? join(CACHE_DIR, 'profiles', `live-${new Date().toISOString().replace(/[:.]/g, '-')}`) : null
    if (liveProfileDir !== null) mkdirSync(liveProfileDir, { recursive: true })
    const worker = Child.start('worker', liveProfileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', liveProfileDir])
    // --expose-gc: the fan-out figure reads the API's memory after a GC. With --profile, the API's CPU profile too (where a request's time goes).
    // Into the embedded store the API runs in the worker's process (no API child).
    const apiProfileDir = liveProfileDir === null || store === 'memory' ? null : join(liveProfileDir, 'api')
    if (apiProfileDir !== null) mkdirSync(apiProfileDir, { recursive: true })
    const apiServer = store === 'memory' ? null : Child.start('api', ['--expose-gc', ...(apiProfileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', apiProfileDir])])
    const bareApi = api ? Child.start('api') : null
    const before = await Promise.all(admins.map(redisCounters))
    try {
      let apiUrl = ''
      if (apiServer !== null) {
        apiServer.send({ type: 'serve-api', redisUrl, namespace: ns, store: store === 'cluster' ? 'cluster' : 'redis' })
        apiUrl = (await apiServer.next('listening', 60_000)).url as string
      }
      let bareUrl = ''
      if (bareApi !== null) {
        bareApi.send({ type: 'serve-bare-api' })
        bareUrl = (await bareApi.next('listening', 60_000)).url as string
      }
      const apiRatio = async (label: string): Promise<ApiRatioResult> => await measureApiRatios({ apiUrl, bareUrl, apiPid: apiServer!.pid, barePid: bareApi?.pid, runs, seconds: apiSeconds, connections, label, log })
      // The worker idle (not started yet): nothing writes to the store while the API is measured.
      if (api) results.apiIdle = await apiRatio('worker idle')
      // A stream long enough for every measurement; the worker is stopped when they are done.
      const events = Math.ceil(rate * 1.2 * (10 + runs * ((freshness ? freshnessSeconds : 0) + (api ? (1 + API_ROUTES.length) * apiSeconds + 2 : 0)) + (fanout ? this.options.fanoutSeconds + 30 : 0)))
      worker.send({ type: 'run-worker', store, streamUrl: this.streamUrl(events, rate, freshness), redisUrl, namespace: ns, expectedMessages: 0, flushIntervalMs: this.options.flushInterval, sampleMemoryMs: 0, serveApi: apiServer === null })
      if (apiServer === null) apiUrl = (await worker.next('listening', 60_000)).url as string
      await worker.next('connected', 60_000)
      const startedAt = performance.now()

      if (freshness) {
        log(`== freshness: stream paced at ${formatNumber(rate)} chat messages/s into ${where}; delay from the load generator's write to the API's GET /stats totalMessages counting it (polled every 10 ms)`)
        const p50: number[] = []
        const p99: number[] = []
        for (let run = 1; run <= runs; run++) {
          this.loadGenerator.send({ type: 'probe', apiUrl, intervalMs: 10, warmupMs: run === 1 ? 5000 : 0, durationMs: freshnessSeconds * 1000 })
          const r = await this.loadGenerator.next('probe-result', 600_000 + freshnessSeconds * 1000)
          if (r.messages === 0) {
            // Nothing written during the window became visible in it: the worker (or the store) is behind the paced rate, and the delay grows without bound.
            log(`run ${run}: no message written during the ${freshnessSeconds} s window became visible within it (${r.polls as number} polls): the worker is behind ${formatNumber(rate)} msg/s, so the delay grows without bound; run with a lower --rate to measure a sustainable one`)
            continue
          }
          p50.push(r.p50 as number)
          p99.push(r.p99 as number)
          log(`run ${run}: p50 ${formatNumber(r.p50 as number)} ms, p99 ${formatNumber(r.p99 as number)} ms, max ${formatNumber(r.max as number)} ms over ${formatNumber(r.messages as number)} messages (${r.polls as number} polls)`)
        }
        results[store === 'redis' ? 'freshness' : store === 'memory' ? 'freshness-embedded' : 'freshness-cluster'] = { rate, p50, p99, summary: { p50: spread(p50), p99: spread(p99) } }
        if (p99.length === 0) log(`freshness summary: not measurable at ${formatNumber(rate)} msg/s (behind in every run)   target p99 <= 500 ms`)
        else log(`freshness summary (min / median / max over ${p99.length} runs): p50 ${formatSpread(spread(p50), 0, ' ms')}, p99 ${formatSpread(spread(p99), 0, ' ms')}   target p99 <= 500 ms`)
        log()
      }

      if (api) results.api = await apiRatio(`while the worker ingests ${formatNumber(rate)} msg/s into Redis`)
      if (fanout) results.fanout = await measureFanout({ apiUrl, api: apiServer!, clients: this.options.sseClients, seconds: this.options.fanoutSeconds, log })
      worker.send({ type: 'stop' })
      const result = await worker.next('worker-result', 120_000) as unknown as WorkerResult
      const seconds = (performance.now() - startedAt) / 1000
      log(`(during these parts the worker committed ${formatNumber(result.messages / seconds)} msg/s for a paced ${formatNumber(rate)} msg/s into ${where}; ${formatNumber(1e6 * result.cpuSeconds / result.messages, 2)} µs worker CPU/msg${apiServer === null ? ' with the API\'s in the same process' : ''}; mean flush ${formatNumber(result.meanFlushMs)} ms, max ${formatNumber(result.maxFlushMs)} ms)`)
      if (admins.length > 0) {
        const after = await Promise.all(admins.map(redisCounters))
        const cpuSeconds = after.reduce((sum, counters, i) => sum + counterDelta(before[i]!, counters).cpuSeconds, 0)
        log(`(Redis CPU during these parts: ${formatNumber(100 * cpuSeconds / seconds)} % of one core${admins.length > 1 ? `, summed over the ${admins.length} masters` : ''})`)
      }
      log()
    } finally {
      await Promise.all([worker.stop(), apiServer?.stop(), bareApi?.stop()])
      const apiProfile = apiProfileDir === null ? null : mainThreadProfile(apiProfileDir)
      if (apiProfile !== null) {
        log(`API server CPU profile (${apiProfile}), self time over the whole part:`)
        for (const line of summariseProfile(apiProfile, 25)) log(`    ${line}`)
      }
      const profile = liveProfileDir === null ? null : mainThreadProfile(liveProfileDir)
      if (profile !== null) {
        log(`paced worker CPU profile (${profile}), self time:`)
        for (const line of summariseProfile(profile, 25)) log(`    ${line}`)
      }
      if (store === 'redis') await deleteNamespace(this.redis.admin, ns)
      if (cluster !== null) {
        await cluster.deleteKeysWithPrefix(ns)
        await cluster.close()
      }
    }
  }

  /** The long run: worker RSS over time, Redis memory and commands per message. */
  async memory (): Promise<void> {
    const events = this.options.memoryEvents
    const expected = chatMessagesIn(this.block, events)
    const runs = this.options.runs
    log(`== memory: ${runs} unpaced run(s) of ${formatNumber(events)} events (${formatNumber(expected)} chat messages) into Redis, each in a fresh namespace`)
    const rows: Record<string, number[]> = { rate: [], rssStart: [], rssMiddle: [], rssEnd: [], rssPeak: [], usedMemory: [], commands: [] }
    const perRun: unknown[] = []
    for (let run = 1; run <= runs; run++) {
      const { worker, redis, namespace: ns } = await this.workerRun('redis', events, expected, null, 1000)
      try {
        const at = (fraction: number): WorkerResult['samples'][number] => worker.samples.find((s) => s.committed >= fraction * expected) ?? worker.samples.at(-1)!
        const start = worker.samples[0]!
        const middle = at(0.5)
        const end = worker.samples.at(-1)!
        const peak = Math.max(...worker.samples.map((s) => s.rss))
        const keys = new RedisKeys(ns)
        const cards: Record<string, number> = {}
        for (const category of CATEGORIES) cards[category] = await this.redis.admin.zcard(keys.top(category))
        const usedMemory = (await redisCounters(this.redis.admin)).usedMemory
        const commands = [...redis.commands].filter(([name]) => name !== 'info').reduce((sum, [, c]) => sum + c.calls, 0)
        const evalsha = redis.commands.get('evalsha')?.calls ?? 0
        const rate = worker.messages / worker.seconds
        rows.rate!.push(rate)
        rows.rssStart!.push(start.rss)
        rows.rssMiddle!.push(middle.rss)
        rows.rssEnd!.push(end.rss)
        rows.rssPeak!.push(peak)
        rows.usedMemory!.push(usedMemory)
        rows.commands!.push(commands / worker.messages)
        perRun.push({ worker, usedMemory, commandsPerMessage: commands / worker.messages, roundTripsPerMessage: evalsha / worker.messages, topListSizes: cards })
        log(`run ${run}: rate ${formatNumber(rate)} msg/s over ${formatNumber(worker.seconds)} s; ${worker.storedMessages === expected ? 'the store counted every message once' : `WARNING: the store counted ${worker.storedMessages}, expected ${expected}`}`)
        log(`  worker RSS: start ${mib(start.rss)}, middle ${mib(middle.rss)} (${formatNumber(middle.committed)} msgs), end ${mib(end.rss)}; peak ${mib(peak)}; heap used at end ${mib(end.heapUsed)}`)
        log(`  Redis used_memory at the end: ${mib(usedMemory)}; all-time list sizes ${Object.entries(cards).map(([c, n]) => `${c} ${formatNumber(n)}`).join(', ')} (bound MAX_TRACKED_WORDS = 1,000,000 each)`)
        log(`  Redis commands per message: ${formatNumber(commands / worker.messages, 3)} (scripts' inner commands included); round trips per message: ${formatNumber(evalsha / worker.messages, 6)}`)
      } finally {
        await deleteNamespace(this.redis.admin, ns)
      }
    }
    const summary = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, spread(v)]))
    results.memory = { events, messages: expected, runs: perRun, summary }
    const mibSpread = (s: Spread): string => `${mib(s.min)} / ${mib(s.median)} / ${mib(s.max)}`
    log(`memory summary (min / median / max over ${runs} run(s)):`)
    log(`  rate                            ${formatSpread(summary.rate!, 0, ' msg/s')}`)
    log(`  worker RSS start / middle / end ${mibSpread(summary.rssStart!)}  |  ${mibSpread(summary.rssMiddle!)}  |  ${mibSpread(summary.rssEnd!)}   target: flat`)
    log(`  worker RSS peak                 ${mibSpread(summary.rssPeak!)}`)
    log(`  Redis used_memory at the end    ${mibSpread(summary.usedMemory!)}`)
    log(`  Redis commands per message      ${formatSpread(summary.commands!, 3)}`)
    log()
  }
}

async function main (): Promise<void> {
  const options = parseOptions()
  const redis = options.redisUrl === undefined ? await startOwnRedis(options.redisSave) : await useRedis(options.redisUrl)
  const bench = new Bench(options, redis)
  try {
    await machine(redis, options)
    const only = new Set(options.only)
    const dayParts = (Object.keys(DAY_PARTS) as DayPart[]).filter((part) => only.has(part))
    // The worst-case part writes batches itself: it needs no stream block or load generator.
    if (options.only.some((part) => part !== 'worst-case')) await bench.start(dayParts.length > 0)
    if (only.has('ingest') || only.has('embedded') || only.has('cluster')) await bench.ingest(only.has('ingest'), only.has('embedded'), only.has('cluster'))
    if (only.has('freshness') || only.has('api') || only.has('fanout')) await bench.live(only.has('freshness'), only.has('api'), only.has('fanout'))
    for (const [part, store] of Object.entries(FRESHNESS_PARTS)) if (only.has(part as FreshnessPart)) await bench.live(true, false, false, store)
    if (only.has('memory')) await bench.memory()
    if (dayParts.length > 0) await bench.day(dayParts)
    if (only.has('worst-case')) {
      results['worst-case'] = await runWorstCase({
        settings: { maxTrackedWords: options.worstWords, maxTrackedRooms: options.worstRooms, maxTrackedPerRoom: options.worstPerRoom, windowTop: options.worstWindowTop, roomWindowTop: options.worstRoomWindowTop, failedLogSize: 1000 },
        liveSeconds: options.worstLiveSeconds,
        redis,
        namespace: namespace(),
        log
      })
    }
    log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
    if (options.json !== undefined) writeFileSync(options.json, JSON.stringify(results, null, 2))
  } finally {
    await bench.stop().catch(() => {})
    await redis.close()
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})
