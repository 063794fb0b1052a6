import { generateEventWithIntent, type GeneratedEvent } from './generator.js'
import { mix32, Random } from './prng.js'
import type { StreamShape } from './shape.js'
import { EMOTES, type Emote, isCanonicalWord } from './vocabulary.js'

/**
 * A burst: for a run of events, one word or emote floods one room, as when
 * chat reacts to something on stream. Events in [first, last] are, with
 * probability `share` each, replaced by a chat message of `room` whose body
 * is the token (an emote of the simulator's list, with its `emotes` tag, or
 * a word). The replaced event's id, time (the profile's clock) and position
 * stay, so resumption and event time work as without the burst, and the rest
 * of the stream is untouched. Deterministic for a seed, like the stream.
 */
export interface Burst {
  /** An emote of the simulator's list (`PogChamp`, counted as an emote and as its word) or a canonical word (`pog`). */
  token: string
  /** A room of the profile, with its `#`. */
  room: string
  /** First event index of the burst (from 1). */
  first: number
  /** Last event index of the burst. */
  last: number
  /** Share of the events in [first, last] that become burst messages, in (0, 1]. */
  share: number
}

/** Why `burst` does not fit `shape`, naming the field, or null when it does. */
export function burstProblem (burst: Burst, shape: StreamShape): string | null {
  if (typeof burst.token !== 'string' || (!EMOTES.some((emote) => emote.text === burst.token) && !isCanonicalWord(burst.token))) {
    return `token must be an emote of the simulator (${EMOTES.slice(0, 3).map((e) => e.text).join(', ')}, ...) or a lower-case word without edge punctuation (got ${JSON.stringify(burst.token)})`
  }
  if (!shape.rooms.includes(burst.room)) return `room must be one of the profile's rooms, such as ${shape.rooms[0] ?? '#room'} (got ${JSON.stringify(burst.room)})`
  if (!Number.isSafeInteger(burst.first) || burst.first < 1) return `first must be an event index from 1 (got ${burst.first})`
  if (!Number.isSafeInteger(burst.last) || burst.last < burst.first) return `last must be an event index from first (${burst.first}) on (got ${burst.last})`
  if (typeof burst.share !== 'number' || !(burst.share > 0 && burst.share <= 1)) return `share must be a number in (0, 1] (got ${burst.share})`
  return null
}

/**
 * The generator of a stream with `burst` applied: event `index` of run
 * `seed` is the stream's own event or, inside the burst and when the burst's
 * draw says so, a burst message. Throws a RangeError naming a bad field.
 */
export function burstGenerator (shape: StreamShape, burst: Burst): (seed: number, index: number) => GeneratedEvent {
  const problem = burstProblem(burst, shape)
  if (problem !== null) throw new RangeError(`burst: ${problem}`)
  const roomRank = shape.rooms.indexOf(burst.room)
  const emote = EMOTES.find((e) => e.text === burst.token)
  const length = Array.from(burst.token).length
  return (seed, index) => {
    const event = generateEventWithIntent(seed, index, shape)
    if (index < burst.first || index > burst.last) return event
    // Its own draws, so the stream's events keep theirs.
    const random = Random.forEvent(mix32(seed ^ 0xb0a57), index)
    return random.chance(burst.share) ? burstMessage(shape, burst, random, index, roomRank, emote, length) : event
  }
}

function burstMessage (shape: StreamShape, burst: Burst, random: Random, index: number, roomRank: number, emote: Emote | undefined, length: number): GeneratedEvent {
  const nick = shape.nicks[random.int(shape.nicks.length)] as string
  const sent = shape.sentTs(random, index, roomRank)
  const tags = `badges=;color=;display-name=${nick};emotes=${emote === undefined ? '' : `${emote.id}:0-${length - 1}`};id=burst-${index}` +
    `;mod=0;room-id=${shape.roomIds[roomRank] as number};subscriber=0;tmi-sent-ts=${sent};turbo=0;user-type=`
  const payload = JSON.stringify({ command: '', room: burst.room, nick, target: '', body: burst.token, tags })
  const words = emote === undefined ? [burst.token] : emote.word === null ? [] : [emote.word]
  return {
    text: `event: privmsg\nid: ${index}\nse-data: ${payload}\n\n`,
    intent: { kind: 'chat', command: '', room: burst.room, nick, words, emotes: emote === undefined ? [] : [emote.text] },
    skippedBefore: 0
  }
}

const BURST_SPEC = /^(.+)@(#[^\s:]+):(\d{1,15})-(\d{1,15}):(\d*\.?\d+)$/

/**
 * A burst from its command-line form, `TOKEN@ROOM:FIRST-LAST:SHARE`
 * (`PogChamp@#xqc:180000-240000:0.05`: from event 180,000 to 240,000, 5 % of
 * the events become PogChamp in #xqc). Throws a RangeError saying what is
 * wrong; burstProblem then checks the values against a profile.
 */
export function parseBurst (spec: string): Burst {
  const match = BURST_SPEC.exec(spec)
  if (match === null) throw new RangeError(`must be TOKEN@ROOM:FIRST-LAST:SHARE, such as PogChamp@#xqc:180000-240000:0.05 (got ${JSON.stringify(spec.slice(0, 100))})`)
  const [, token, room, first, last, share] = match as unknown as [string, string, string, string, string, string]
  return { token, room, first: Number(first), last: Number(last), share: Number(share) }
}
