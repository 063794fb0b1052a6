import { DAY_DEFAULT_EVENTS, dayProfileProblem, dayShape } from './day-profile.js'
import { DEFAULT_SHAPE } from './generator.js'
import type { StreamShape } from './shape.js'

/**
 * Simulator profiles by name (`chat-stats simulate --profile <name>`, the
 * bench): `default` is the firehose every test counts exactly (3,000 rooms,
 * timestamps from January 2022 at 5,000 events/s); `live` is the same
 * stream stamped with the time each event is made, as a live interface
 * would (the same text but for the times, so the same counts, and windows
 * that fill under event time); `day` is a day of Twitch-like breadth ending
 * at a given time (day-profile.ts).
 */
export const PROFILE_NAMES = ['default', 'live', 'day'] as const
export type ProfileName = typeof PROFILE_NAMES[number]

export interface ProfileOptions {
  /** `day`: events the day is spread over (default 10,000,000). */
  events?: number | undefined
  /** `day`: end of the day, epoch ms (default: now, rounded down to the second). */
  startMs?: number | undefined
}

export function isProfileName (name: string): name is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(name)
}

/** Why `options` do not fit profile `name`, or null when they do. */
export function profileProblem (name: ProfileName, options: ProfileOptions = {}): string | null {
  if (name !== 'day') return options.startMs === undefined ? null : `the ${name} profile has its own clock: a start is for the day profile`
  return dayProfileProblem(dayOptions(options))
}

function dayOptions (options: ProfileOptions): { events: number, startMs: number } {
  return { events: options.events ?? DAY_DEFAULT_EVENTS, startMs: options.startMs ?? Math.floor(Date.now() / 1000) * 1000 }
}

/** The pools and clock of profile `name`; throws a RangeError naming a bad option. */
export function profileShape (name: ProfileName, options: ProfileOptions = {}): StreamShape {
  const problem = profileProblem(name, options)
  if (problem !== null) throw new RangeError(`profile ${name}: ${problem}`)
  if (name === 'day') return dayShape(dayOptions(options))
  return name === 'live' ? LIVE_SHAPE : DEFAULT_SHAPE
}

/** The default profile's pools with the clock of the machine: the same single draw for the jitter keeps every other byte. */
const LIVE_SHAPE: StreamShape = { ...DEFAULT_SHAPE, sentTs: (random) => Date.now() - random.int(250) }
