import { StreamParser } from '../ingest/stream-parser.js'
import { emotesTag, forEachEmote } from '../model/emotes.js'
import { classifyPayload, decodePayload } from '../model/payload.js'
import { forEachWord } from '../model/tokenize.js'
import { compareTopEntries, compareValues } from '../store/top-order.js'
import type { TopEntry } from '../store/types.js'
import { generateEvent, generateEventWithIntent } from './generator.js'

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

function bump (counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

class Tally {
  readonly counts: ExpectedCounts

  constructor (seed: number, count: number) {
    this.counts = {
      seed,
      count,
      messages: 0,
      failed: 0,
      skipped: 0,
      lastEventId: count > 0 ? String(count) : '',
      events: new Map(),
      words: new Map(),
      nicks: new Map(),
      rooms: new Map(),
      emotes: new Map(),
      roomDetail: new Map()
    }
  }

  room (room: string): ExpectedRoomCounts {
    let detail = this.counts.roomDetail.get(room)
    if (detail === undefined) {
      detail = { messages: 0, words: new Map(), nicks: new Map(), emotes: new Map(), events: new Map() }
      this.counts.roomDetail.set(room, detail)
    }
    return detail
  }

  system (command: string, room: string): void {
    bump(this.counts.events, command)
    if (room !== '') bump(this.room(room).events, command)
  }

  /** Counts one chat message; returns the room's detail so words and emotes land there too. */
  message (nick: string, room: string): ExpectedRoomCounts | null {
    this.counts.messages++
    bump(this.counts.nicks, nick)
    if (room === '') return null
    bump(this.counts.rooms, room)
    const detail = this.room(room)
    detail.messages++
    bump(detail.nicks, nick)
    return detail
  }

  word (word: string, detail: ExpectedRoomCounts | null): void {
    bump(this.counts.words, word)
    if (detail !== null) bump(detail.words, word)
  }

  emote (emote: string, detail: ExpectedRoomCounts | null): void {
    bump(this.counts.emotes, emote)
    if (detail !== null) bump(detail.emotes, emote)
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
 * payload decoding, classification, word and emote rules.
 */
export function expectedCounts (seed: number, count: number): ExpectedCounts {
  checkCount(count)
  const tally = new Tally(seed, count)
  const parser = new StreamParser({
    onEvent: (data) => {
      const decoded = decodePayload(data)
      if (!decoded.ok) {
        tally.counts.failed++
        return
      }
      const event = classifyPayload(decoded.payload)
      if (event.kind === 'system') {
        tally.system(event.command, event.room)
        return
      }
      const detail = tally.message(event.nick, event.room)
      forEachWord(event.body, (word) => tally.word(word, detail))
      forEachEmote(event.body, emotesTag(event.tags), (emote) => tally.emote(emote, detail))
    },
    onFailure: () => { tally.counts.failed++ },
    onSkipped: () => { tally.counts.skipped++ }
  })
  for (let first = 1; first <= count; first += EVENTS_PER_CHUNK) {
    const last = Math.min(count, first + EVENTS_PER_CHUNK - 1)
    let chunk = ''
    for (let index = first; index <= last; index++) chunk += generateEvent(seed, index)
    parser.push(Buffer.from(chunk, 'utf8'))
  }
  parser.end(true)
  return tally.counts
}

/**
 * The counts after events 1..count of run `seed` according to what the
 * generator meant each event to be, without the parser or the word rule.
 * Tests compare it with expectedCounts: agreement is what makes either trustworthy.
 */
export function intendedCounts (seed: number, count: number): ExpectedCounts {
  checkCount(count)
  const tally = new Tally(seed, count)
  for (let index = 1; index <= count; index++) {
    const { intent, skippedBefore } = generateEventWithIntent(seed, index)
    tally.counts.skipped += skippedBefore
    if (intent.kind === 'failed') {
      tally.counts.failed++
    } else if (intent.kind === 'system') {
      tally.system(intent.command, intent.room)
    } else {
      const detail = tally.message(intent.nick, intent.room)
      for (const word of intent.words) tally.word(word, detail)
      for (const emote of intent.emotes) tally.emote(emote, detail)
    }
  }
  return tally.counts
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
