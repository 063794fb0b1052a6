import { chattersInRoomsFor, DEFAULT_SHAPE, roomIdsFor } from './generator.js'
import { flatString, mix32, Random, Zipf } from './prng.js'
import type { StreamShape } from './shape.js'
import { BOT_NICKS, buildNames, EMOTES, isCanonicalWord, latinSyllable, NICKS, ROOMS, syntheticWord } from './vocabulary.js'

/**
 * The `day` profile: one day of a Twitch-like firehose, for the bench's
 * memory figure (docs/PERFORMANCE.md#memory). Beside the default profile's grammar it
 * has the breadth that makes storage grow: 60,000 rooms with a Zipf tail,
 * 400,000 nicks, a tail of 500,000 rarer words, and words typed once
 * (typos, names, inside jokes) that keep coming as long as the stream runs.
 * Its `tmi-sent-ts` run in order over the 24 h before `startMs`, so a run
 * of `events` events read in minutes lays down a whole day of windows.
 */

/** Rooms of the day: the default profile's 3,000 first, then the long tail. */
export const DAY_ROOM_COUNT = 60_000
/** Nicks of the day: the default profile's 40,000 first (7919 must not divide it: see chatterNick). */
export const DAY_NICK_COUNT = 400_000
/** Ranks of the rare-word tail beyond the 5,000-word vocabulary. */
export const DAY_TAIL_WORDS = 500_000
/** Share of word tokens drawn from the tail (Zipf over DAY_TAIL_WORDS): words seen a few to a few thousand times a day. */
export const DAY_TAIL_WORD_SHARE = 0.07
/** Share of word tokens that are new words, made from the event's own draws, so almost every one is seen once. */
export const DAY_FRESH_WORD_SHARE = 0.03
/** The events a day is spread over when the caller does not say. */
export const DAY_DEFAULT_EVENTS = 10_000_000
export const DAY_MS = 86_400_000
/**
 * How far an event's time may be later than the clock's straight line:
 * rooms lag each other by up to 200 ms (Twitch stamps a message where the
 * room's chat server receives it) plus up to 50 ms per event.
 */
export const DAY_JITTER_MS = 250
const ROOM_LAG_MS = 200

/** Rooms (with `#`) and nicks of the day, built once on first use (about a second: the default profile does not pay it). */
interface DayPools {
  rooms: string[]
  roomZipf: Zipf
  roomIds: number[]
  roomIdTags: string[]
  chattersInRoom: number[]
  roomLagMs: Uint8Array
  nicks: string[]
  tailZipf: Zipf
  tailWords: Array<string | undefined>
}

let pools: DayPools | null = null

/**
 * flatString for a pool of hundreds of thousands: V8 builds strings under
 * 13 characters flat already, and interning every name was most of the
 * pools' build time.
 */
function flatName (name: string): string {
  return name.length < 13 ? name : flatString(name)
}

function dayPools (): DayPools {
  if (pools !== null) return pools
  const defaultRooms = ROOMS.map((room) => room.slice(1))
  const rooms = buildNames(DAY_ROOM_COUNT, defaultRooms, [], 3).map((name) => flatName('#' + name))
  const roomIds = roomIdsFor(DAY_ROOM_COUNT)
  pools = {
    rooms,
    // Exponent 1.0 (the default's 1.1 over 3,000 rooms): the top room gets about 9 % of the messages, the tail rooms a few each a day.
    roomZipf: new Zipf(DAY_ROOM_COUNT, 1.0),
    roomIds,
    roomIdTags: roomIds.map((id) => flatString(';room-id=' + id)),
    chattersInRoom: chattersInRoomsFor(DAY_ROOM_COUNT),
    roomLagMs: Uint8Array.from({ length: DAY_ROOM_COUNT }, (_, rank) => mix32(rank ^ 0x1a9) % ROOM_LAG_MS),
    nicks: buildNames(DAY_NICK_COUNT, NICKS, BOT_NICKS, 4).map(flatName),
    tailZipf: new Zipf(DAY_TAIL_WORDS, 1.0),
    tailWords: new Array<string | undefined>(DAY_TAIL_WORDS)
  }
  return pools
}

const EMOTE_WORDS = new Set(EMOTES.map((emote) => emote.text.toLowerCase()))

/** A Latin-script pseudo-word of `syllables` syllables; never an emote's name, so it only counts as a word. */
function latinWord (random: Random, syllables: number): string {
  let word = ''
  for (let i = 0; i < syllables; i++) word += latinSyllable(random, true)
  return EMOTE_WORDS.has(word) ? word + 'x' : word
}

/** Tail word of rank `rank`: the same word for every seed and event, like the vocabulary's. */
function tailWord (day: DayPools, rank: number): string {
  let word = day.tailWords[rank]
  if (word === undefined) {
    const random = new Random(mix32(rank + 0x7a11))
    const made = syntheticWord(random)
    // A made word that is not canonical (edge punctuation cannot occur, but a rule may change) or is an emote name becomes a Latin one.
    word = flatName(isCanonicalWord(made) && !EMOTE_WORDS.has(made) ? made : latinWord(random, 3))
    day.tailWords[rank] = word
  }
  return word
}

export interface DayProfileOptions {
  /** Events the day is spread over (event `events` is the last of the day); later events go on at the same pace. */
  events: number
  /** End of the day (epoch ms): event times run from `startMs` - 24 h to just before `startMs`. */
  startMs: number
}

/** Event times are written with 13 digits (the bench rewrites them in place), so the day must lie between 2001 and 2286. */
const MIN_DAY_START_MS = 1e12 + DAY_MS

/** Checks the options, naming the first bad one; null when they are good. */
export function dayProfileProblem (options: DayProfileOptions): string | null {
  if (!Number.isSafeInteger(options.events) || options.events < 1) return `events must be a whole number from 1 (got ${options.events})`
  if (!Number.isSafeInteger(options.startMs) || options.startMs < MIN_DAY_START_MS || options.startMs >= 1e13) {
    return `start must be epoch milliseconds from ${MIN_DAY_START_MS} to 9999999999999 (got ${options.startMs})`
  }
  return null
}

/** The `day` profile's shape for a run of `options.events` events ending at `options.startMs`. */
export function dayShape (options: DayProfileOptions): StreamShape {
  const problem = dayProfileProblem(options)
  if (problem !== null) throw new RangeError(`day profile: ${problem}`)
  const { events, startMs } = options
  const day = dayPools()
  const first = startMs - DAY_MS
  // The straight line leaves room for the jitter, so no event is stamped at or after startMs.
  const msPerEvent = (DAY_MS - DAY_JITTER_MS) / events
  return {
    ...DEFAULT_SHAPE,
    rooms: day.rooms,
    roomZipf: day.roomZipf,
    roomIds: day.roomIds,
    roomIdTags: day.roomIdTags,
    chattersInRoom: day.chattersInRoom,
    nicks: day.nicks,
    rareWord: (random) => {
      const draw = random.float()
      if (draw < DAY_FRESH_WORD_SHARE) return latinWord(random, 3 + random.int(2))
      if (draw < DAY_FRESH_WORD_SHARE + DAY_TAIL_WORD_SHARE) return tailWord(day, day.tailZipf.sample(random))
      return null
    },
    sentTs: (random, index, roomRank) => {
      const lag = roomRank < 0 ? 0 : day.roomLagMs[roomRank] as number
      return first + Math.floor((index - 1) * msPerEvent) + lag + random.int(DAY_JITTER_MS - ROOM_LAG_MS)
    }
  }
}
