#!/usr/bin/env node
import { statSync } from 'node:fs'
import { Writable } from 'node:stream'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { destination as pinoDestination, type Logger } from 'pino'
import { startApiServer } from './api/server.js'
import type { WorkerStatus } from './api/services/worker-status.js'
import { type Config, ConfigError, type ConfigUses, loadConfig, usesRedis } from './config.js'
import { fileSource, httpSource, type ChunkSource } from './ingest/sources.js'
import { createLogger, prettyDestination, redactUrl } from './logger.js'
import { watchWorker, WORKER_METRIC_HOOKS } from './metrics.js'
import { closeOnSignal, createStore, stopWhenLauncherDies } from './runtime.js'
import { PROFILE_NAMES, profileShape, runSimulateCommand, type SimulatorHandle, startSimulator } from './simulator/index.js'
import type { StatsStore } from './store/types.js'
import { formatVerifyReport, verifyAgainstSimulator } from './verify.js'
import { packageVersion } from './version.js'
import { ReplayRefusedError } from './worker/capture-replay.js'
import { useCountingThread } from './worker/counting.js'
import { Worker, type WorkerProgress } from './worker/worker.js'

/**
 * `chat-stats`: start (API + worker + embedded store + built-in simulator),
 * api, worker, simulate, verify. Usage errors (a wrong flag, a bad option
 * value, a --file that cannot be read) exit 2 with one line; configuration
 * errors exit 1 with a message naming the variable; verify exits 1 when the
 * store differs from the expected counts.
 */

const version = packageVersion()

function integer (name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number`)
    const n = Number(value)
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`)
    return n
  }
}

/** The configuration, or exit 1 with the message naming the variable; `uses` as for loadConfig. */
function configOrExit (uses?: ConfigUses): Config {
  try {
    return loadConfig(process.env, '.env', uses)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`chat-stats: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}

/** A Worker with the configured limits, feeding the metrics (and `showProgress`, a progress bar). */
function workerFor (config: Config, source: ChunkSource, logger: Logger, store: StatsStore, showProgress?: (p: WorkerProgress) => void, append = false): Worker {
  const worker = new Worker({
    append,
    store,
    source,
    logger: logger.child({ component: 'worker' }),
    flushIntervalMs: config.FLUSH_INTERVAL_MS,
    maxEventBytes: config.MAX_EVENT_BYTES,
    maxNameBytes: config.MAX_NAME_BYTES,
    maxEventCommands: config.MAX_EVENT_COMMANDS,
    maxPendingUpdates: config.MAX_PENDING_UPDATES,
    countingThread: useCountingThread(config.COUNTING_THREAD),
    leaseTtlMs: config.LEASE_TTL_MS,
    streamStallMs: config.STREAM_STALL_MS,
    hooks: WORKER_METRIC_HOOKS,
    onProgress: showProgress
  })
  watchWorker(worker)
  return worker
}

/** What a worker reads, and the built-in simulator serving it when there is one (closed on shutdown). */
interface StreamChoice {
  source: ChunkSource
  simulator: SimulatorHandle | null
}

/**
 * A capture file when `file` is given, else CHAT_INTERFACE_URL; null when
 * neither is set. With `exitAtEnd` the interface is read like a file: once,
 * to the end of its response (a simulator with --count ends it after its last
 * event), with no reconnection.
 */
function configuredStream (config: Config, file?: string, exitAtEnd = false): StreamChoice | null {
  if (file !== undefined) return { source: fileSource(file), simulator: null }
  const url = config.CHAT_INTERFACE_URL
  if (url === undefined) return null
  const source = httpSource(url, redactUrl(url))
  return { source: exitAtEnd ? { ...source, kind: 'file' } : source, simulator: null }
}

/** Usage error (exit 2, one line) unless `path` is '-' or a readable regular file: checked before the store opens. */
function checkInputFile (path: string): void {
  if (path === '-') return
  let problem: string | null = null
  try {
    if (!statSync(path).isFile()) problem = 'not a file'
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    problem = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message
  }
  if (problem === null) return
  process.stderr.write(`chat-stats worker: cannot read --file ${path}: ${problem}\n`)
  process.exit(2)
}

/** Starts the built-in simulator (SIMULATOR_RATE, SIMULATOR_SEED) on a free loopback port and reads it. */
async function builtInSimulator (config: Config, logger: Logger): Promise<StreamChoice> {
  // The live profile stamps each event with the time it is made, so the windows and the rate fill as a new user watches (docs/COUNTING.md#event-time).
  const simulator = await startSimulator({ seed: config.SIMULATOR_SEED, rate: config.SIMULATOR_RATE, port: 0, host: '127.0.0.1', shape: profileShape('live'), logger: logger.child({ component: 'simulator' }) })
  logger.info({ rate: config.SIMULATOR_RATE, seed: config.SIMULATOR_SEED }, 'no CHAT_INTERFACE_URL: counting the built-in simulator')
  return { source: httpSource(simulator.url, 'built-in simulator'), simulator }
}

function workerStatusOf (worker: Worker): WorkerStatus {
  const stalledForMs = worker.stalledForMs
  return { connected: worker.connected, role: worker.role === 'active' ? 'active' : worker.role === 'standby' ? 'standby' : 'none', stalledForMs: stalledForMs === null ? null : Math.round(stalledForMs) }
}

async function openStore (config: Config, logger: Logger): Promise<StatsStore> {
  const { store, description } = createStore(config, logger)
  logger.info({ store: description }, 'opening the store')
  await store.open()
  return store
}

async function startCommand (): Promise<void> {
  const config = configOrExit()
  const logger = createLogger(config)
  const store = await openStore(config, logger)
  // `start` needs no setting: without CHAT_INTERFACE_URL it counts the built-in simulator.
  const { source, simulator } = configuredStream(config) ?? await builtInSimulator(config, logger)
  const worker = workerFor(config, source, logger, store)
  const api = await startApiServer({
    config,
    store,
    logger,
    workerStatus: () => workerStatusOf(worker)
  })
  logger.info({ address: api.address }, `dashboard and API on ${api.address}, docs at ${api.address}/documentation`)
  const running = worker.run().catch((err: unknown) => { logger.error({ err }, 'worker stopped on an error') })
  closeOnSignal(logger, async () => {
    await worker.stop()
    await running
    await api.close()
    await simulator?.close()
    await store.close()
  })
}

async function apiCommand (): Promise<void> {
  const config = configOrExit()
  // The embedded store lives inside the process that counts: an API process of its own
  // would serve a snapshot file frozen at whatever the worker last wrote (issue 14, item 10).
  if (!usesRedis(config)) {
    process.stderr.write('chat-stats api: needs Redis (REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES): the embedded store is only live inside the process that counts; run `chat-stats start` for API and worker in one process\n')
    process.exit(1)
  }
  const logger = createLogger(config)
  const store = await openStore(config, logger)
  const api = await startApiServer({ config, store, logger })
  logger.info({ address: api.address }, `API on ${api.address}, docs at ${api.address}/documentation`)
  closeOnSignal(logger, async () => {
    await api.close()
    await store.close()
  })
}

/** The progress bar's last text, redrawn below each log line. */
let shownBar = ''

/**
 * Log lines for a terminal that also shows the progress bar: each line clears
 * the bar first and redraws it after, so lines and bar never share a row.
 */
function logsAboveTheBar (): Writable {
  return new Writable({
    write (chunk: Buffer, _encoding, callback) {
      process.stderr.write('\r\x1b[K')
      process.stdout.write(chunk)
      if (shownBar !== '') process.stderr.write(shownBar)
      callback()
    }
  })
}

function progressBar (progress: WorkerProgress): void {
  const width = 30
  const fraction = progress.fraction ?? 0
  const filled = Math.round(fraction * width)
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled)
  const share = progress.fraction === null ? '' : `${(fraction * 100).toFixed(1)}% `
  shownBar = `[${bar}] ${share}${progress.eventsPerSecond.toLocaleString('en')} ev/s  messages ${progress.messages.toLocaleString('en')}  failed ${progress.failed.toLocaleString('en')}   `
  process.stderr.write(`\r${shownBar}`)
}

async function workerCommand (options: { file?: string, fallbackSimulator?: boolean, exitAtEnd?: boolean, append?: boolean }): Promise<void> {
  const config = configOrExit()
  if (options.file !== undefined) checkInputFile(options.file)
  const onTerminal = options.file !== undefined && process.stderr.isTTY
  const logger = createLogger(config, onTerminal && process.stdout.isTTY ? prettyDestination(logsAboveTheBar()) : undefined)
  const stream = configuredStream(config, options.file, options.exitAtEnd === true) ?? (options.fallbackSimulator === true ? await builtInSimulator(config, logger) : null)
  if (stream === null) {
    process.stderr.write('chat-stats: invalid configuration: CHAT_INTERFACE_URL is required by `worker` (or pass --file PATH)\n')
    process.exit(1)
  }
  const { source, simulator } = stream
  const store = await openStore(config, logger)
  const worker = workerFor(config, source, logger, store, onTerminal ? progressBar : undefined, options.append === true)
  // Health and metrics for orchestrators and Prometheus, on WORKER_PORT when set.
  const operations = config.WORKER_PORT === undefined
    ? null
    : await startApiServer({ config, store, logger, workerStatus: () => workerStatusOf(worker), routes: 'operations', port: config.WORKER_PORT })
  if (operations !== null) logger.info({ address: operations.address }, `worker health and metrics on ${operations.address}`)
  closeOnSignal(logger, async () => {
    await worker.stop()
    await operations?.close()
    await simulator?.close()
    await store.close()
  })
  try {
    await worker.run()
  } catch (err) {
    await store.close()
    if (err instanceof ReplayRefusedError) {
      // A usage matter (another store, or --append), not a fault: one line, exit 2.
      if (onTerminal) process.stderr.write('\n')
      process.stderr.write(`chat-stats worker: ${err.message}\n`)
      process.exit(2)
    }
    logger.error({ err }, 'cannot read the stream')
    process.exit(1)
  }
  if (onTerminal) process.stderr.write('\n')
  shownBar = ''
  await operations?.close()
  await store.close()
  const { messages, system, failed, skipped } = worker.tally
  logger.info({ messages, system, failed, skipped }, 'end of input: counts committed')
  logger.flush?.()
}

async function verifyCommand (options: { seed: number, count: number }): Promise<void> {
  const config = configOrExit()
  // stdout carries the report; the store's own log lines go to stderr.
  const logger = createLogger(config, pinoDestination(2))
  const { store, description } = createStore(config, logger)
  await store.open()
  let report
  try {
    report = await verifyAgainstSimulator(store, options.seed, options.count, {
      maxTrackedWords: config.MAX_TRACKED_WORDS,
      maxTrackedRooms: config.MAX_TRACKED_ROOMS,
      maxTrackedPerRoom: config.MAX_TRACKED_PER_ROOM
    })
  } finally {
    await store.close()
  }
  process.stdout.write(`store: ${description}\n${formatVerifyReport(report)}`)
  process.exitCode = report.differences.length === 0 ? 0 : 1
}

function buildProgram (): Command {
  const program = new Command('chat-stats')
    .description('Real-time statistics over a live chat firehose.')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`chat-stats: ${text.replace(/^error: /, '')}`) })

  program.command('start')
    .description('API, dashboard and worker in one process: the embedded store unless Redis is configured, the built-in simulator unless CHAT_INTERFACE_URL is set')
    .action(startCommand)

  program.command('api')
    .description('the API and dashboard, reading the store (REDIS_URL or REDIS_HOST for Redis)')
    .action(apiCommand)

  program.command('worker')
    .description('read CHAT_INTERFACE_URL (or a capture with --file) and count into the store')
    .option('--file <path>', 'replay a captured stream from a file (- for stdin), then exit after the final flush')
    .option('--append', 'with --file: count the whole capture on top of what the store holds, even when the store cannot tell which of its events it already counted (a capture without event ids into a store that holds counts)')
    .option('--fallback-simulator', 'with no CHAT_INTERFACE_URL, count the built-in simulator instead of stopping (the docker compose demo)')
    .option('--exit-at-end', 'read CHAT_INTERFACE_URL once: when the interface ends its response (a simulator with --count), flush and exit 0 instead of reconnecting')
    .action(workerCommand)

  program.command('verify')
    .description("compare every count in the store (Redis, cluster or embedded snapshot) with the simulator's exact counts for --seed and --count; exit 0 when equal, 1 when not")
    .addOption(new Option('--seed <n>', 'the simulator seed').argParser(integer('--seed', 0, 2 ** 32 - 1)).makeOptionMandatory())
    .addOption(new Option('--count <n>', 'how many events the simulator sent').argParser(integer('--count', 0, Number.MAX_SAFE_INTEGER)).makeOptionMandatory())
    .action(verifyCommand)

  program.command('simulate')
    .description('serve a realistic synthetic chat firehose in the reference format (deterministic for a seed)')
    .addOption(new Option('--rate <n>', 'events per second (0 = as fast as the client reads)').argParser(integer('--rate', 0, 10_000_000)).default(1000))
    .addOption(new Option('--seed <n>', 'random seed').argParser(integer('--seed', 0, 2 ** 32 - 1)).default(1))
    .addOption(new Option('--port <n>', 'port to listen on (0 = any free port)').argParser(integer('--port', 0, 65535)).default(4100))
    .addOption(new Option('--host <address>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--count <n>', 'end the stream after this many events').argParser(integer('--count', 1, Number.MAX_SAFE_INTEGER)))
    .option('--expect', 'print the exact counts a correct worker ends with for --seed and --count, as JSON, and exit')
    .addOption(new Option('--profile <name>', 'default (timestamps of January 2022, byte for byte the same on every run), live (the same stream stamped with the time of serving, so windows fill) or day (a day of Twitch-like breadth over --count events)').choices(PROFILE_NAMES).default('default'))
    .addOption(new Option('--start <ms>', 'day profile: end of the day in epoch ms (default: now)').argParser(integer('--start', 0, Number.MAX_SAFE_INTEGER)))
    .option('--burst <spec>', 'TOKEN@ROOM:FIRST-LAST:SHARE: from event FIRST to LAST, that share of the events become the word or emote TOKEN in ROOM (e.g. PogChamp@#xqc:180000-240000:0.05)')
    .action(async (options: { rate: number, seed: number, port: number, host: string, count?: number, expect?: boolean, profile: string, start?: number, burst?: string }) => {
      // The simulator opens no store: the store variables' combinations are not its business.
      const config = configOrExit({ store: false })
      await runSimulateCommand({ ...options, expect: options.expect === true }, { stdout: process.stdout, logger: createLogger(config) })
    })

  for (const command of program.commands) {
    command.exitOverride().configureOutput({ outputError: (text, write) => write(`chat-stats ${command.name()}: ${text.replace(/^error: /, '')}`) })
  }
  return program
}

async function main (argv: string[]): Promise<void> {
  stopWhenLauncherDies(process.env)
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      process.exit(err.exitCode === 0 ? 0 : 2)
    }
    throw err
  }
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`chat-stats: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
