import { StreamParser } from '../ingest/stream-parser.js'
import { DEFAULT_MAX_EVENT_COMMANDS, EventCommands } from '../model/event-commands.js'
import { emotesTag, forEachEmote } from '../model/emotes.js'
import { DEFAULT_MAX_NAME_BYTES } from '../model/names.js'
import { classifyPayload, decodePayload } from '../model/payload.js'
import { forEachWord } from '../model/tokenize.js'
import { compareTopEntries, compareValues } from '../store/top-order.js'
import type { TopEntry } from '../store/types.js'
import { DEFAULT_SHAPE, generateEvent, generateEventWithIntent } from './generator.js'
import type { StreamShape } from './shape.js'

/**
 * The exact counts a correct worker ends with after events 1..count of a
 * simulator run, so tests and users can check a deployment end to end.
 */

export interface ExpectedRoomCounts {
  messages: number
  words: Map<string, number>
  nicks: Map<string, number>
  emotes: Map<string, number>
  /** System events aimed at the room, by command. */
  events: Map<string, number>
}

export interface ExpectedCounts {
  seed: number
  count: number
  /** Chat messages. */
  messages: number
  /** Failed messages (malformed events). */
  failed: number
  /** Events of another type (pings): neither messages nor failures. */
  skipped: number
  /** The id of the last event ('' when count is 0): the worker's committed position. */
  lastEventId: string
  /** System events by command (an empty command reported as PRIVMSG). */
  events: Map<string, number>
  words: Map<string, number>
  nicks: Map<string, number>
  rooms: Map<string, number>
  emotes: Map<string, number>
  /** Every room with a chat message or a system event. */
  roomDetail: Map<string, ExpectedRoomCounts>
}

/** A count held by reference, so counting an existing key is one map lookup instead of two. */
interface Counter { n: number }
type Counters = Map<string, Counter>

function bump (counters: Counters, key: string): void {
  const counter = counters.get(key)
  if (counter === undefined) counters.set(key, { n: 1 })
  else counter.n++
}

function toCounts (counters: Counters): Map<string, number> {
  const counts = new Map<string, number>()
  for (const [key, counter] of counters) counts.set(key, counter.n)
  return counts
}

interface RoomTally {
  messages: number
  words: Counters
  nicks: Counters
  emotes: Counters
  events: Counters
}

class Tally {
  messages = 0
  failed = 0
  skipped = 0
  readonly events: Counters = new Map()
  readonly words: Counters = new Map()
  readonly nicks: Counters = new Map()
  readonly rooms: Counters = new Map()
  readonly emotes: Counters = new Map()
  readonly roomDetail = new Map<string, RoomTally>()

  room (room: string): RoomTally {
    let detail = this.roomDetail.get(room)
    if (detail === undefined) {
      detail = { messages: 0, words: new Map(), nicks: new Map(), emotes: new Map(), events: new Map() }
      this.roomDetail.set(room, detail)
    }
    return detail
  }

  system (command: string, room: string): void {
    bump(this.events, command)
    if (room !== '') bump(this.room(room).events, command)
  }

  /** Counts one chat message; returns the room's detail so words and emotes land there too. */
  message (nick: string, room: string): RoomTally | null {
    this.messages++
    bump(this.nicks, nick)
    if (room === '') return null
    bump(this.rooms, room)
    const detail = this.room(room)
    detail.messages++
    bump(detail.nicks, nick)
    return detail
  }

  word (word: string, detail: RoomTally | null): void {
    bump(this.words, word)
    if (detail !== null) bump(detail.words, word)
  }

  emote (emote: string, detail: RoomTally | null): void {
    bump(this.emotes, emote)
    if (detail !== null) bump(detail.emotes, emote)
  }

  result (seed: number, count: number): ExpectedCounts {
    const roomDetail = new Map<string, ExpectedRoomCounts>()
    for (const [room, detail] of this.roomDetail) {
      roomDetail.set(room, {
        messages: detail.messages,
        words: toCounts(detail.words),
        nicks: toCounts(detail.nicks),
        emotes: toCounts(detail.emotes),
        events: toCounts(detail.events)
      })
    }
    return {
      seed,
      count,
      messages: this.messages,
      failed: this.failed,
      skipped: this.skipped,
      lastEventId: count > 0 ? String(count) : '',
      events: toCounts(this.events),
      words: toCounts(this.words),
      nicks: toCounts(this.nicks),
      rooms: toCounts(this.rooms),
      emotes: toCounts(this.emotes),
      roomDetail
    }
  }
}

function checkCount (count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a whole number from 0, got ${count}`)
}

/** Events handed to the parser at once: big enough to be fast, small enough to keep memory flat. */
const EVENTS_PER_CHUNK = 512

/**
 * The counts after events 1..count of run `seed`, found by reading the
 * generated text exactly as the worker does: the project's stream parser,
 * payload decoding, classification, word and emote rules. `shape` is the
 * profile's (default: the default profile); `maxNameBytes` is the worker's
 * MAX_NAME_BYTES (the simulator's nicks are ASCII logins of at most 25
 * characters, its rooms those with a `#`, its emotes shorter: under the
 * setting's least value, 32, so any setting gives the same counts);
 * `maxEventCommands` is its MAX_EVENT_COMMANDS, applied from an empty store
 * (the simulator sends 6 commands, under the setting's least value, 8).
 */
export function expectedCounts (seed: number, count: number, shape: StreamShape = DEFAULT_SHAPE, maxNameBytes = DEFAULT_MAX_NAME_BYTES, maxEventCommands = DEFAULT_MAX_EVENT_COMMANDS): ExpectedCounts {
  checkCount(count)
  const tally = new Tally()
  const commands = new EventCommands(maxEventCommands)
  const parser = new StreamParser({
    onEvent: (data) => {
      const decoded = decodePayload(data, maxNameBytes)
      if (!decoded.ok) {
        tally.failed++
        return
      }
      const event = classifyPayload(decoded.payload)
      if (event.kind === 'system') {
        if (commands.admit(event.command) === null) tally.system(event.command, event.room)
        else tally.failed++
        return
      }
      const detail = tally.message(event.nick, event.room)
      forEachWord(event.body, (word) => tally.word(word, detail))
      forEachEmote(event.body, emotesTag(event.tags), (emote) => tally.emote(emote, detail), maxNameBytes)
    },
    onFailure: () => { tally.failed++ },
    onSkipped: () => { tally.skipped++ }
  })
  for (let first = 1; first <= count; first += EVENTS_PER_CHUNK) {
    const last = Math.min(count, first + EVENTS_PER_CHUNK - 1)
    let chunk = ''
    for (let index = first; index <= last; index++) chunk += generateEvent(seed, index, shape)
    parser.push(Buffer.from(chunk, 'utf8'))
  }
  parser.end(true)
  return tally.result(seed, count)
}

/**
 * The counts after events 1..count of run `seed` according to what the
 * generator meant each event to be, without the parser or the word rule.
 * Tests compare it with expectedCounts: agreement is what makes either trustworthy.
 */
export function intendedCounts (seed: number, count: number, shape: StreamShape = DEFAULT_SHAPE): ExpectedCounts {
  checkCount(count)
  const tally = new Tally()
  for (let index = 1; index <= count; index++) {
    const { intent, skippedBefore } = generateEventWithIntent(seed, index, shape)
    tally.skipped += skippedBefore
    if (intent.kind === 'failed') {
      tally.failed++
    } else if (intent.kind === 'system') {
      tally.system(intent.command, intent.room)
    } else {
      const detail = tally.message(intent.nick, intent.room)
      for (const word of intent.words) tally.word(word, detail)
      for (const emote of intent.emotes) tally.emote(emote, detail)
    }
  }
  return tally.result(seed, count)
}

/** The first `limit` entries of `counts` in top-list order (count descending, ties by value in code-point order). */
export function topEntries (counts: Map<string, number>, limit: number): TopEntry[] {
  const entries: TopEntry[] = []
  for (const [value, count] of counts) entries.push({ value, count })
  return entries.sort(compareTopEntries).slice(0, limit)
}

function mapJson (counts: Map<string, number>): string {
  const keys = [...counts.keys()].sort(compareValues)
  return '{' + keys.map((key) => `${JSON.stringify(key)}:${counts.get(key) as number}`).join(',') + '}'
}

/**
 * Expected counts as compact JSON, every object's keys in code-point order
 * (written by hand: JS objects would put integer-like keys such as "100" first),
 * so the output is byte-for-byte the same for the same run.
 */
export function expectedCountsToJson (counts: ExpectedCounts): string {
  const rooms = [...counts.roomDetail.keys()].sort(compareValues).map((room) => {
    const detail = counts.roomDetail.get(room) as ExpectedRoomCounts
    return `${JSON.stringify(room)}:{"emotes":${mapJson(detail.emotes)},"events":${mapJson(detail.events)},` +
      `"messages":${detail.messages},"nicks":${mapJson(detail.nicks)},"words":${mapJson(detail.words)}}`
  })
  return `{"count":${counts.count},"emotes":${mapJson(counts.emotes)},"events":${mapJson(counts.events)},` +
    `"failed":${counts.failed},"lastEventId":${JSON.stringify(counts.lastEventId)},"messages":${counts.messages},` +
    `"nicks":${mapJson(counts.nicks)},"roomDetail":{${rooms.join(',')}},"rooms":${mapJson(counts.rooms)},` +
    `"seed":${counts.seed},"skipped":${counts.skipped},"words":${mapJson(counts.words)}}`
}
