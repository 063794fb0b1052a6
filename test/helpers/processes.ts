import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ExpectedCounts } from '../../src/simulator/index.js'
import { readSnapshot } from '../../src/store/memory/snapshot.js'
import type { CountsDump } from './dump.js'

/**
 * `chat-stats` CLI processes for fault-injection tests: spawned as the real
 * command (`node --import tsx src/cli.ts ...`) in a working directory with no
 * .env, their JSON log lines parsed, their memory sampled from /proc, and
 * every one of them killed by cleanupProcesses() even when a test fails.
 */

const CLI = join(import.meta.dirname, '../../src/cli.ts')
// Resolved here so the CLI runs from any working directory.
const TSX = import.meta.resolve('tsx')

/** One pino log line of a process (non-JSON output is kept as `msg` with level 0). */
export interface LogLine {
  level: number
  msg: string
  time: number
  [field: string]: unknown
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
  /** Date.now() when the exit was seen. */
  at: number
}

export interface ChatStatsProcess {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  readonly logs: LogLine[]
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>
  /** Null while the process runs. */
  exitStatus: ExitStatus | null
  /** Largest resident set seen (VmHWM / VmRSS from /proc), in bytes. */
  peakRssBytes: () => number
  /** Current resident set in bytes (0 once exited). */
  rssBytes: () => number
  /** Resolves with the first log line (already logged or to come) that matches. */
  waitForLog: (match: (line: LogLine) => boolean, description: string, timeoutMs?: number) => Promise<LogLine>
  /** Sends a signal, after a last memory sample. */
  signal: (signal: NodeJS.Signals) => void
  /** SIGKILL (unless it already exited) and wait for the exit. */
  kill: () => Promise<ExitStatus>
  /** The last log lines and stderr, for assertion messages. */
  tail: (lines?: number) => string
}

const running = new Set<ChatStatsProcess>()
const tempDirs = new Set<string>()

/** A fresh temporary directory, removed by cleanupProcesses(). */
export function makeTempDir (label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `chat-stats-${label}-`))
  tempDirs.add(dir)
  return dir
}

/** Reads VmRSS and VmHWM of a process in bytes; zeros when it is gone. */
export function readProcessMemory (pid: number): { rss: number, hwm: number } {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return { rss: 0, hwm: 0 }
  }
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)
    return match === null ? 0 : Number(match[1]) * 1024
  }
  return { rss: field('VmRSS'), hwm: field('VmHWM') }
}

export interface StartOptions {
  /** The process environment (PATH is added); nothing else is inherited. */
  env: Record<string, string>
  /** A label for messages. */
  name?: string
  /** How often memory is sampled; default 100 ms. */
  sampleIntervalMs?: number
}

/** Spawns `chat-stats <args>` in a temporary working directory without a .env. */
export function startChatStats (args: string[], options: StartOptions): ChatStatsProcess {
  const cwd = makeTempDir('cwd')
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  if (child.pid === undefined) throw new Error(`could not spawn chat-stats ${args.join(' ')}`)
  const pid = child.pid
  const name = options.name ?? `chat-stats ${args.join(' ')} (${pid})`
  const logs: LogLine[] = []
  const waiters: Array<{ match: (line: LogLine) => boolean, resolve: (line: LogLine) => void }> = []
  let stderr = ''
  let peak = 0

  const sample = (): void => {
    const { rss, hwm } = readProcessMemory(pid)
    peak = Math.max(peak, rss, hwm)
  }
  const sampler = setInterval(sample, options.sampleIntervalMs ?? 100)
  sampler.unref()

  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: LogLine
    try {
      const parsed = JSON.parse(text) as unknown
      line = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? parsed as LogLine
        : { level: 0, msg: text, time: Date.now() }
    } catch {
      line = { level: 0, msg: text, time: Date.now() }
    }
    logs.push(line)
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i] as (typeof waiters)[number]
      if (waiter.match(line)) {
        waiters.splice(i, 1)
        waiter.resolve(line)
      }
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (text: string) => {
    // Keep the end: a crash report is what matters.
    stderr = (stderr + text).slice(-20_000)
  })

  const handle: ChatStatsProcess = {
    name,
    pid,
    child,
    logs,
    exitStatus: null,
    exited: new Promise<ExitStatus>((resolve) => {
      child.on('exit', (code, signal) => {
        clearInterval(sampler)
        handle.exitStatus = { code, signal, at: Date.now() }
        running.delete(handle)
        resolve(handle.exitStatus)
      })
    }),
    peakRssBytes: () => {
      if (handle.exitStatus === null) sample()
      return peak
    },
    rssBytes: () => readProcessMemory(pid).rss,
    waitForLog: async (match, description, timeoutMs = 60_000) => {
      const found = logs.find(match)
      if (found !== undefined) return found
      return await new Promise<LogLine>((resolve, reject) => {
        const waiter = {
          match,
          resolve: (line: LogLine) => {
            clearTimeout(timer)
            resolve(line)
          }
        }
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1)
          reject(new Error(`${name}: no log line "${description}" within ${timeoutMs} ms\n${handle.tail()}`))
        }, timeoutMs)
        waiters.push(waiter)
      })
    },
    signal: (signal) => {
      if (handle.exitStatus !== null) return
      sample()
      child.kill(signal)
    },
    kill: async () => {
      handle.signal('SIGKILL')
      return await handle.exited
    },
    tail: (count = 15) => {
      const lines = logs.slice(-count).map((line) => JSON.stringify(line).slice(0, 400))
      return `--- ${name}: last log lines ---\n${lines.join('\n')}\n--- stderr ---\n${stderr.slice(-3000)}`
    }
  }
  running.add(handle)
  return handle
}

/** Kills every process still running and removes the temporary directories (a test file's last cleanup). */
export async function cleanupProcesses (): Promise<void> {
  await Promise.all([...running].map(async (process) => await process.kill()))
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

/** Kills the given processes that still run (one test's cleanup, when tests of a file run concurrently). */
export async function killAll (processes: Iterable<ChatStatsProcess>): Promise<void> {
  await Promise.all([...processes].map(async (process) => await process.kill()))
}

/**
 * The simulator's expected counts for events 1..count of `seed`, computed by
 * `chat-stats simulate --expect` in a child process, so a long computation
 * runs beside the test instead of blocking its event loop (and the simulator
 * serving the worker).
 */
export async function expectedCountsFromCli (seed: number, count: number): Promise<ExpectedCounts> {
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'simulate', '--expect', '--seed', String(seed), '--count', String(count)], {
    cwd: makeTempDir('expect'),
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const stdout: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`chat-stats simulate --expect exited with ${code}: ${stderr}`)
  type Json = Record<string, number>
  const parsed = JSON.parse(Buffer.concat(stdout).toString('utf8')) as {
    seed: number, count: number, messages: number, failed: number, skipped: number, lastEventId: string,
    events: Json, words: Json, nicks: Json, rooms: Json, emotes: Json,
    roomDetail: Record<string, { messages: number, words: Json, nicks: Json, emotes: Json, events: Json }>
  }
  const map = (object: Json): Map<string, number> => new Map(Object.entries(object))
  return {
    seed: parsed.seed,
    count: parsed.count,
    messages: parsed.messages,
    failed: parsed.failed,
    skipped: parsed.skipped,
    lastEventId: parsed.lastEventId,
    events: map(parsed.events),
    words: map(parsed.words),
    nicks: map(parsed.nicks),
    rooms: map(parsed.rooms),
    emotes: map(parsed.emotes),
    roomDetail: new Map(Object.entries(parsed.roomDetail).map(([room, detail]) => [room, {
      messages: detail.messages,
      words: map(detail.words),
      nicks: map(detail.nicks),
      emotes: map(detail.emotes),
      events: map(detail.events)
    }]))
  }
}

/** Polls `condition` until it returns true; throws with `description` (a function: evaluated at the timeout) after `timeoutMs`. */
export async function waitUntil (condition: () => boolean | Promise<boolean>, description: string | (() => string), timeoutMs = 60_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof description === 'string' ? description : description()}`)
    await sleep(intervalMs)
  }
}

/** The environment of a worker on the Redis store at `redisUrl` under `namespace`. */
export function redisWorkerEnv (redisUrl: string, namespace: string, interfaceUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    REDIS_NAMESPACE: namespace,
    CHAT_INTERFACE_URL: interfaceUrl,
    LOG_LEVEL: 'info',
    // Simulator runs have more distinct members (and 3,000 rooms) than the default bounds; trimming would make counts inexact by design.
    MAX_TRACKED_WORDS: '10000000',
    MAX_TRACKED_PER_ROOM: '10000000',
    MAX_TRACKED_ROOMS: '100000',
    ...extra
  }
}

/** The environment of a worker on the embedded store, snapshotting to `snapshotPath`. */
export function memoryWorkerEnv (snapshotPath: string, interfaceUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SNAPSHOT_PATH: snapshotPath,
    CHAT_INTERFACE_URL: interfaceUrl,
    LOG_LEVEL: 'info',
    MAX_TRACKED_WORDS: '10000000',
    MAX_TRACKED_PER_ROOM: '10000000',
    MAX_TRACKED_ROOMS: '100000',
    ...extra
  }
}

/** Everything an embedded-store snapshot holds, in the form of test/helpers/dump.ts (null when there is no file yet). */
export async function dumpSnapshotCounts (path: string): Promise<CountsDump | null> {
  const state = await readSnapshot(path)
  if (state === null) return null
  const roomDetail: CountsDump['roomDetail'] = new Map()
  for (const [room, detail] of state.rooms) {
    roomDetail.set(room, {
      messages: detail.messages,
      events: detail.events,
      words: detail.words.counts,
      nicks: detail.nicks.counts,
      emotes: detail.emotes.counts
    })
  }
  return {
    messages: state.totalMessages,
    failed: state.failedMessages,
    lastEventId: state.lastEventId,
    events: state.events,
    words: state.top.words.counts,
    nicks: state.top.nicks.counts,
    rooms: state.top.rooms.counts,
    emotes: state.top.emotes.counts,
    roomDetail
  }
}

/** Events a dump accounts for (messages, system events, failures) against the expected ones: what was lost and what was counted twice. */
export function lostAndDoubled (dump: CountsDump, expected: ExpectedCounts): { lost: number, doubled: number } {
  const sum = (counts: Map<string, number>): number => { let n = 0; for (const v of counts.values()) n += v; return n }
  const got = dump.messages + sum(dump.events) + dump.failed
  const want = expected.messages + sum(expected.events) + expected.failed
  return { lost: Math.max(0, want - got), doubled: Math.max(0, got - want) }
}

/** Bytes as MiB with one decimal, for reports. */
export function mib (bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
