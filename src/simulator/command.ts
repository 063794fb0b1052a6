import { burstProblem, parseBurst, type Burst } from './burst.js'
import { expectedCounts, expectedCountsToJson } from './expected.js'
import { isProfileName, PROFILE_NAMES, profileProblem, profileShape } from './profiles.js'
import { SimulatorOptionError, startSimulator, type SimulatorHandle, type SimulatorLogger } from './server.js'
import type { StreamShape } from './shape.js'

export interface SimulateCommandOptions {
  seed: number | string
  /** Events per second; 0 = as fast as the client reads. */
  rate: number | string
  port: number | string
  /** Default 127.0.0.1. */
  host?: string | undefined
  /** Total events (required with `expect`). */
  count?: number | string | undefined
  /** Print the expected counts for (seed, count) as JSON instead of serving. */
  expect?: boolean | undefined
  /** Profile by name (profiles.ts): `default` (the default), `live` (its stream stamped with the time of serving) or `day`, a day of Twitch-like breadth spread over `count` events. */
  profile?: string | undefined
  /** `day` profile: end of the day in epoch ms (default: now); given, the stream is the same on every run. */
  start?: number | string | undefined
  /** A burst, `TOKEN@ROOM:FIRST-LAST:SHARE` (burst.ts): a word or emote flooding one room for a run of events. */
  burst?: string | undefined
}

export interface SimulateCommandIo {
  stdout: { write: (text: string, callback?: (err?: Error | null) => void) => unknown }
  /** Gets the "serving URL" line; without one, that line goes to stdout. */
  logger?: SimulatorLogger | undefined
  /** Stops the server when aborted. Default: the first SIGINT or SIGTERM. */
  signal?: AbortSignal | undefined
  /** Called once the server listens. */
  onListening?: ((handle: SimulatorHandle) => void) | undefined
}

function wholeNumber (option: string, value: number | string, minimum: number, maximum: number): number {
  const number = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(number) || number < minimum || number > maximum) {
    throw new SimulatorOptionError(`--${option}`, `must be a whole number from ${minimum} to ${maximum} (got ${JSON.stringify(value)})`)
  }
  return number
}

function burstOption (spec: string, shape: StreamShape): Burst {
  let burst: Burst
  try {
    burst = parseBurst(spec)
  } catch (err) {
    throw new SimulatorOptionError('--burst', (err as Error).message)
  }
  const problem = burstProblem(burst, shape)
  if (problem !== null) throw new SimulatorOptionError('--burst', problem)
  return burst
}

function processSignals (): { signal: AbortSignal, dispose: () => void } {
  const controller = new AbortController()
  const abort = (): void => controller.abort()
  process.once('SIGINT', abort)
  process.once('SIGTERM', abort)
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', abort)
      process.off('SIGTERM', abort)
    }
  }
}

/**
 * `chat-stats simulate`: serves the firehose until stopped (SIGINT/SIGTERM or
 * `io.signal`), logging one line with its URL; with `expect`, prints the
 * exact counts a correct worker ends with after events 1..count as JSON
 * (keys sorted, maps as objects) and returns. Throws SimulatorOptionError
 * naming a bad option.
 */
export async function runSimulateCommand (options: SimulateCommandOptions, io: SimulateCommandIo): Promise<void> {
  const seed = wholeNumber('seed', options.seed, 0, 0xffffffff)
  const rate = wholeNumber('rate', options.rate, 0, Number.MAX_SAFE_INTEGER)
  const port = wholeNumber('port', options.port, 0, 65535)
  const count = options.count === undefined ? undefined : wholeNumber('count', options.count, 0, Number.MAX_SAFE_INTEGER)
  const profile = options.profile ?? 'default'
  if (!isProfileName(profile)) throw new SimulatorOptionError('--profile', `must be one of ${PROFILE_NAMES.join(', ')} (got ${JSON.stringify(profile)})`)
  // A day without --start ends now; the line below says which start to give to serve the same stream again.
  const startMs = options.start !== undefined
    ? wholeNumber('start', options.start, 0, Number.MAX_SAFE_INTEGER)
    : profile === 'day' ? Math.floor(Date.now() / 1000) * 1000 : undefined
  // A day spreads over the events served: with --count, exactly those.
  const profileOptions = { events: count === 0 ? undefined : count, startMs }
  const problem = profileProblem(profile, profileOptions)
  if (problem !== null) throw new SimulatorOptionError(options.start === undefined ? '--profile' : '--start', problem)
  const shape = profileShape(profile, profileOptions)
  const burst = options.burst === undefined ? undefined : burstOption(options.burst, shape)

  if (options.expect === true) {
    if (burst !== undefined) throw new SimulatorOptionError('--expect', 'counts the stream without a burst: leave out --burst')
    if (count === undefined) throw new SimulatorOptionError('--expect', 'needs --count: the counts are those after events 1..count')
    const json = expectedCountsToJson(expectedCounts(seed, count, shape))
    await new Promise<void>((resolve, reject) => {
      io.stdout.write(json + '\n', (err) => err == null ? resolve() : reject(err))
    })
    return
  }

  const handle = await startSimulator({ seed, rate, port, host: options.host, count, logger: io.logger, shape, burst })
  if (io.logger === undefined) io.stdout.write(`simulator serving ${handle.url} (seed ${seed}, ${startMs === undefined ? '' : `profile ${profile} ending ${new Date(startMs).toISOString()} (--start ${startMs}), `}${rate === 0 ? 'unpaced' : `${rate} events/s`}${count === undefined ? '' : `, ${count} events`})\n`)
  io.onListening?.(handle)
  const signals = io.signal === undefined ? processSignals() : null
  const signal = io.signal ?? (signals as { signal: AbortSignal }).signal
  try {
    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
  } finally {
    signals?.dispose()
    await handle.close()
  }
}
