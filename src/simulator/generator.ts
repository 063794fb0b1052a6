import { flatString, mix32, Random } from './prng.js'
import type { StreamShape } from './shape.js'
import {
  BOT_NICKS, CHATTER_ZIPF, EMOTE_ZIPF, EMOTES, koreanDisplayName, LEADING_PUNCTUATION, NICKS,
  PUNCTUATION_TOKENS, ROOM_ZIPF, ROOMS, TRAILING_PUNCTUATION, VOCABULARY, WORD_ZIPF, type Emote
} from './vocabulary.js'

/**
 * The synthetic firehose: event `index` of run `seed` is a pure function of
 * the two, in the reference interface's format
 * (`event: privmsg\nid: <index>\nse-data: <json>\n\n`).
 *
 * Besides the text, the generator reports what it meant the event to count
 * as (its intent: the words and emotes it put in the body), written without
 * the project's parser or tokenizer, so tests can check the two agree.
 */

/** What an event was built to count as. Words are canonical (NFC, lower-case); emotes verbatim. */
export type EventIntent =
  | { kind: 'chat', command: string, room: string, nick: string, words: string[], emotes: string[] }
  | { kind: 'system', command: string, room: string }
  | { kind: 'failed', malformation: Malformation }

export type Malformation = 'invalid-json' | 'truncated-json' | 'wrong-field-type' | 'not-an-object'

export interface GeneratedEvent {
  /** The exact text served for this index, including any keep-alive or ping before the event. */
  text: string
  intent: EventIntent
  /** Events of another type (pings) sent before this one: neither messages nor failures. */
  skippedBefore: number
}

/**
 * The event mix: share of indexes of each kind (the rest are chat messages
 * with an empty command). Documented in the report and checked by tests.
 */
export const EVENT_MIX = {
  malformed: 0.005,
  clearchat: 0.01,
  clearmsg: 0.005,
  notice: 0.0015,
  roomstate: 0.001,
  usernoticeSystem: 0.0025,
  privmsgWithoutNick: 0.001,
  usernoticeChat: 0.02,
  privmsgCommand: 0.005,
  /** Of the chat messages with an empty command: room given only in `target`. */
  roomInTarget: 0.005,
  /** Independent of the kind: a `: keep-alive` comment before the event. */
  keepAlive: 0.004,
  /** Independent of the kind: an `event: ping` before the event. */
  ping: 0.002
} as const

// Cumulative thresholds of the kind draw, in the order of EVENT_MIX.
const KIND_THRESHOLDS = (() => {
  let total = 0
  const cut = (share: number): number => (total += share)
  return {
    malformed: cut(EVENT_MIX.malformed),
    clearchat: cut(EVENT_MIX.clearchat),
    clearmsg: cut(EVENT_MIX.clearmsg),
    notice: cut(EVENT_MIX.notice),
    roomstate: cut(EVENT_MIX.roomstate),
    usernoticeSystem: cut(EVENT_MIX.usernoticeSystem),
    privmsgWithoutNick: cut(EVENT_MIX.privmsgWithoutNick),
    usernoticeChat: cut(EVENT_MIX.usernoticeChat),
    privmsgCommand: cut(EVENT_MIX.privmsgCommand)
  }
})()

/** Time of the first event: the reference sample's, so timestamps look like the real ones. */
const FIRST_SENT_TS = 1641241341776
/** Nominal event rate behind tmi-sent-ts (the served rate does not change the text). */
const NOMINAL_RATE = 5000
const MAX_CHATTERS_PER_ROOM = 8000
const MENTIONABLE_CHATTERS = 1000
const NON_BMP_EMOJI = ['😂', '🤣', '💀', '😭', '🙏', '👀', '🥺', '🐐', '🔥', '👍']
const ODD_SEPARATORS = ['\u3000', '\u00a0', '  ', '\t', ' \u2003 ']
const COLORS = ['', '', '#FF0000', '#1E90FF', '#8A2BE2', '#FF69B4', '#00FF7F', '#DAA520', '#5F9EA0', '#FFFFFF', '#1976D2', '#B22222', '#9ACD32', '#FF4500', '#2E8B57', '#D2691E']
const NOTICES = [
  ['emote_only_on', 'This room is now in emote-only mode.'],
  ['slow_on', 'This room is now in slow mode. You may send messages every 30 seconds.'],
  ['subs_on', 'This room is now in subscribers-only mode.'],
  ['followers_off', 'This room is no longer in followers-only mode.']
] as const
const USERNOTICE_KINDS = ['resub', 'resub', 'resub', 'sub', 'subgift', 'announcement'] as const

const HEX: string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

function hex32 (value: number): string {
  return (HEX[value >>> 24] as string) + (HEX[(value >>> 16) & 255] as string) + (HEX[(value >>> 8) & 255] as string) + (HEX[value & 255] as string)
}

/** A version-4 UUID from the event's generator. */
function uuid (random: Random): string {
  const a = hex32(random.next())
  const b = hex32(random.next())
  const c = hex32(random.next())
  const d = hex32(random.next())
  return `${a}-${b.slice(0, 4)}-4${b.slice(5)}-${'89ab'[random.int(4)] as string}${c.slice(1, 4)}-${c.slice(4)}${d}`
}

function codePoints (text: string): number {
  let n = text.length
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) n--
  }
  return n
}

/** True when `text` has a character JSON must escape (`"`, `\`, a control character). */
function needsJsonEscape (text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true
  }
  return false
}

/** Stable numeric ids for rooms of popularity rank 0..count-1, as Twitch's room-id. */
export function roomIdsFor (count: number): number[] {
  return Array.from({ length: count }, (_, rank) => 20_000_000 + (mix32(rank * 2 + 1) % 900_000_000))
}

/** What a user's tags always say: user-id, colour and display name, fixed per nick. */
interface User {
  id: number
  color: string
  displayName: string
  /** `color=...;display-name=...;emotes=` of a chat message's tags, ready to use. */
  chatTagsMiddle: string
  /** `;user-id=...;user-type=` ending a chat message's tags. */
  chatTagsEnd: string
}

const users = new Map<string, User>()

function user (nick: string): User {
  let found = users.get(nick)
  if (found === undefined) {
    let h = 0x811c9dc5
    for (let i = 0; i < nick.length; i++) h = Math.imul(h ^ nick.charCodeAt(i), 0x01000193)
    const id = 10_000_000 + (mix32(h) % 900_000_000)
    const style = mix32(id) % 100
    const displayName = style < 3
      ? koreanDisplayName(new Random(id))
      : style < 40 ? nick.charAt(0).toUpperCase() + nick.slice(1) : style < 45 ? nick.toUpperCase() : nick
    const color = COLORS[id % COLORS.length] as string
    const isBot = BOT_NICKS.includes(nick)
    found = {
      id,
      color,
      displayName,
      chatTagsMiddle: flatString('color=' + color + ';display-name=' + displayName + ';emotes='),
      chatTagsEnd: flatString(';user-id=' + id + (isBot ? ';user-type=mod' : ';user-type='))
    }
    // Bounded by the nick pools of the profiles in use (and the bots).
    users.set(nick, found)
  }
  return found
}

/** How many people chat in the room of popularity rank r: thousands in the top rooms, a few dozen in the tail. */
export function chattersInRoomsFor (count: number): number[] {
  return Array.from({ length: count }, (_, rank) => Math.max(25, Math.min(MAX_CHATTERS_PER_ROOM, Math.floor(MAX_CHATTERS_PER_ROOM / Math.pow(rank + 1, 0.6)))))
}

function chattersInRoom (shape: StreamShape, rank: number): number {
  return shape.chattersInRoom[rank] as number
}

/**
 * A room's chatters are a slice of the global nick pool picked by the room:
 * chatter k of room r is nick (offset(r) + k * 7919) mod the pool's size
 * (7919 is a prime that divides no pool size, so a room's chatters are
 * distinct). People chat in a few rooms, so per-room nick lists stay far
 * below MAX_TRACKED_PER_ROOM.
 */
function chatterNick (shape: StreamShape, roomRank: number, chatter: number): string {
  const count = shape.nicks.length
  return shape.nicks[(mix32(roomRank + 0x1234567) % count + chatter * 7919) % count] as string
}

interface Message {
  /** The body as a JSON string literal. */
  bodyJson: string
  body: string
  emotesTag: string
  words: string[]
  emotes: string[]
}

/**
 * Builds a chat body token by token, keeping its length in code points so
 * emote ranges are right whatever comes before them (emoji, decomposed
 * accents, odd white space).
 */
class BodyBuilder {
  private body = ''
  private codePointLength = 0
  private needsEscape = false
  /** Ranges by emote id, in order of first use; created with the first emote. */
  private emoteRanges: Map<string, string> | null = null
  readonly words: string[] = []
  readonly emotes: string[] = []

  private readonly separatorCodePoints: number

  constructor (private readonly separator: string) {
    this.separatorCodePoints = codePoints(separator)
    this.needsEscape = needsJsonEscape(separator)
  }

  addWord (typed: string, word: string | null): void {
    this.append(typed)
    if (word !== null) this.words.push(word)
  }

  addEmote (emote: Emote): void {
    const start = this.codePointLength + (this.body === '' ? 0 : this.separatorCodePoints)
    this.append(emote.text)
    const range = `${start}-${this.codePointLength - 1}`
    this.emoteRanges ??= new Map()
    const ranges = this.emoteRanges.get(emote.id)
    this.emoteRanges.set(emote.id, ranges === undefined ? range : `${ranges},${range}`)
    this.emotes.push(emote.text)
    if (emote.word !== null) this.words.push(emote.word)
  }

  /** Surrounds the body with white space; only for bodies without emotes, whose ranges it would shift. */
  wrap (before: string, after: string): void {
    if (this.emoteRanges !== null) throw new Error('wrap() would shift the emote ranges')
    this.body = before + this.body + after
  }

  finish (random: Random): Message {
    let tag = ''
    if (this.emoteRanges !== null) for (const [id, ranges] of this.emoteRanges) tag += (tag === '' ? '' : '/') + id + ':' + ranges
    if (tag !== '' && random.chance(0.01)) {
      // A broken entry the worker must skip without failing the message.
      const end = this.codePointLength
      tag += random.pick([`/25:${end + 2}-${end + 6}`, '/25:7-3', '/garbage', '/86:-', `/9:${end - 1}-${end}`])
    }
    const bodyJson = this.needsEscape ? JSON.stringify(this.body) : '"' + this.body + '"'
    return { bodyJson, body: this.body, emotesTag: tag, words: this.words, emotes: this.emotes }
  }

  hasEmotes (): boolean {
    return this.emoteRanges !== null
  }

  private append (text: string): void {
    if (this.body !== '') {
      this.body += this.separator
      this.codePointLength += this.separatorCodePoints
    }
    this.body += text
    let length = text.length
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c >= 0xd800 && c <= 0xdbff) length--
      else if (c < 0x20 || c === 0x22 || c === 0x5c) this.needsEscape = true
    }
    this.codePointLength += length
  }
}

function typeWord (shape: StreamShape, random: Random, builder: BodyBuilder): void {
  const rare = shape.rareWord === null ? null : shape.rareWord(random)
  if (rare !== null) {
    builder.addWord(rare, rare)
    return
  }
  const entry = VOCABULARY[WORD_ZIPF.sample(random)] as (typeof VOCABULARY)[number]
  const casing = random.float()
  const spellings = entry.decomposed !== null && random.chance(0.15) ? entry.decomposed : entry
  let typed = casing < 0.08 && spellings.capitalized !== null
    ? spellings.capitalized
    : casing < 0.1 && spellings.upper !== null ? spellings.upper : spellings.word
  if (random.chance(0.02)) typed = random.pick(LEADING_PUNCTUATION) + typed
  if (random.chance(0.08)) typed += random.pick(TRAILING_PUNCTUATION)
  builder.addWord(typed, entry.word)
}

function typeToken (shape: StreamShape, random: Random, builder: BodyBuilder, emoteRate: number): void {
  if (emoteRate > 0 && random.chance(emoteRate)) {
    builder.addEmote(EMOTES[EMOTE_ZIPF.sample(random)] as Emote)
  } else if (random.chance(0.02)) {
    builder.addWord(random.pick(PUNCTUATION_TOKENS), null)
  } else {
    typeWord(shape, random, builder)
  }
}

function chatBody (shape: StreamShape, random: Random, roomRank: number, withEmotes: boolean): Message {
  const oddSpacing = random.chance(0.01)
  const builder = new BodyBuilder(oddSpacing ? random.pick(ODD_SEPARATORS) : ' ')
  const style = random.float()
  const emoteRate = withEmotes && random.chance(0.35) ? 0.3 : 0
  if (style < 0.005) return builder.finish(random) // an empty body, as in the reference sample
  if (random.chance(0.03)) {
    const nick = chatterNick(shape, roomRank, CHATTER_ZIPF.sample(random, Math.min(MENTIONABLE_CHATTERS, chattersInRoom(shape, roomRank))))
    // `@nick,` reads as the word nick; a trailing `_` of the nick is punctuation too, so those are not mentioned.
    if (!nick.endsWith('_')) builder.addWord('@' + nick + (random.chance(0.3) ? ',' : ''), nick)
  }
  if (emoteRate > 0 && random.chance(0.25)) {
    // Astral-plane emoji before an emote: the ranges count code points, not UTF-16 units.
    const emoji = random.pick(NON_BMP_EMOJI)
    builder.addWord(emoji, emoji)
  }
  if (style < 0.06) {
    // Spam: one token repeated ("rgb rgb rgb", "LUL LUL LUL").
    const times = 2 + random.int(5)
    if (withEmotes && random.chance(0.5)) {
      const emote = EMOTES[EMOTE_ZIPF.sample(random)] as Emote
      for (let i = 0; i < times; i++) builder.addEmote(emote)
    } else {
      const entry = VOCABULARY[WORD_ZIPF.sample(random, 200)] as (typeof VOCABULARY)[number]
      for (let i = 0; i < times; i++) builder.addWord(entry.word, entry.word)
    }
  } else {
    const tokens = style < 0.08 ? 15 + random.int(26) : Math.min(20, 1 + Math.floor(-Math.log(1 - random.float()) * 4))
    for (let i = 0; i < tokens; i++) typeToken(shape, random, builder, emoteRate)
  }
  if (oddSpacing && !builder.hasEmotes() && random.chance(0.3)) builder.wrap(' ', '\u3000')
  return builder.finish(random)
}

function sentTs (random: Random, index: number): number {
  return FIRST_SENT_TS + Math.floor(index * 1000 / NOMINAL_RATE) + random.int(250)
}

function chatTags (shape: StreamShape, random: Random, nick: string, isBot: boolean, roomRank: number, emotes: string, index: number): string {
  const { chatTagsMiddle, chatTagsEnd } = user(nick)
  const subscribed = !isBot && random.chance(0.3)
  const months = 1 + random.int(48)
  let badges = isBot ? 'moderator/1' : random.chance(0.02) ? 'vip/1' : ''
  if (subscribed) badges += (badges === '' ? '' : ',') + (months >= 12 ? 'subscriber/12' : months >= 6 ? 'subscriber/6' : months >= 3 ? 'subscriber/3' : 'subscriber/0')
  if (random.chance(0.25)) badges += badges === '' ? 'premium/1' : ',premium/1'
  if (random.chance(0.01)) badges += badges === '' ? 'glhf-pledge/1' : ',glhf-pledge/1'
  const nonce = random.chance(0.5) ? 'client-nonce=' + hex32(random.next()) + hex32(random.next()) + hex32(random.next()) + hex32(random.next()) + ';' : ''
  return 'badge-info=' + (subscribed ? 'subscriber/' + months : '') + ';badges=' + badges + ';' + nonce + chatTagsMiddle +
    emotes + (random.chance(0.01) ? ';first-msg=1' : ';first-msg=0') + ';flags=;id=' + uuid(random) +
    (isBot ? ';mod=1' : ';mod=0') + (shape.roomIdTags[roomRank] as string) + (subscribed ? ';subscriber=1' : ';subscriber=0') +
    ';tmi-sent-ts=' + shape.sentTs(random, index, roomRank) + (random.chance(0.01) ? ';turbo=1' : ';turbo=0') + chatTagsEnd
}

function usernoticeTags (shape: StreamShape, random: Random, nick: string, roomRank: number, emotes: string, index: number, kind: string): string {
  const { id, color, displayName } = user(nick)
  const months = 1 + random.int(60)
  const systemMsg = kind === 'announcement'
    ? ''
    : `system-msg=${displayName}\\ssubscribed\\swith\\sPrime.\\sThey've\\ssubscribed\\sfor\\s${months}\\smonths!;`
  return `badge-info=subscriber/${months};badges=subscriber/${months >= 6 ? 6 : 0},premium/1;color=${color};` +
    `display-name=${displayName};emotes=${emotes};flags=;id=${uuid(random)};login=${nick};mod=0;msg-id=${kind};` +
    `msg-param-cumulative-months=${months};msg-param-months=0;msg-param-should-share-streak=0;msg-param-sub-plan=Prime;` +
    `room-id=${shape.roomIds[roomRank] as number};subscriber=1;${systemMsg}tmi-sent-ts=${shape.sentTs(random, index, roomRank)};user-id=${id};user-type=`
}

/**
 * The payload's JSON, fields in the reference order. Written by hand: names,
 * commands and chat tags never need escaping, and JSON.stringify was most of
 * the generation time. `bodyJson` and `tagsJson` are string literals already.
 */
function payloadJson (command: string, room: string, nick: string, target: string, bodyJson: string, tagsJson: string): string {
  return '{"command":"' + command + '","room":"' + room + '","nick":"' + nick + '","target":"' + target + '","body":' + bodyJson + ',"tags":' + tagsJson + '}'
}

interface Built {
  json: string
  intent: EventIntent
}

const EMPTY_MESSAGE: Message = { bodyJson: '""', body: '', emotesTag: '', words: [], emotes: [] }

function chatEvent (shape: StreamShape, random: Random, index: number, command: '' | 'PRIVMSG' | 'USERNOTICE'): Built {
  const roomRank = shape.roomZipf.sample(random)
  const room = shape.rooms[roomRank] as string
  const isBot = command === '' && random.chance(0.02)
  const nick = isBot ? random.pick(BOT_NICKS) : chatterNick(shape, roomRank, CHATTER_ZIPF.sample(random, chattersInRoom(shape, roomRank)))
  if (command === 'USERNOTICE') {
    const kind = random.pick(USERNOTICE_KINDS)
    // Many subs come without a message of their own.
    const message = kind === 'subgift' || random.chance(0.4) ? EMPTY_MESSAGE : chatBody(shape, random, roomRank, true)
    const tags = usernoticeTags(shape, random, nick, roomRank, message.emotesTag, index, kind)
    return {
      json: payloadJson('USERNOTICE', '', nick, room, message.bodyJson, JSON.stringify(tags)),
      intent: { kind: 'chat', command, room, nick, words: message.words, emotes: message.emotes }
    }
  }
  const message = chatBody(shape, random, roomRank, true)
  const tags = chatTags(shape, random, nick, isBot, roomRank, message.emotesTag, index)
  const inTarget = random.chance(EVENT_MIX.roomInTarget)
  return {
    json: payloadJson(command, inTarget ? '' : room, nick, inTarget ? room : '', message.bodyJson, '"' + tags + '"'),
    intent: { kind: 'chat', command, room, nick, words: message.words, emotes: message.emotes }
  }
}

/** System events are rare: plain JSON.stringify is fast enough and escapes whatever they hold. */
function systemJson (command: string, room: string, nick: string, target: string, body: string, tags: string): string {
  return JSON.stringify({ command, room, nick, target, body, tags })
}

function systemEvent (shape: StreamShape, random: Random, index: number, command: string): Built {
  const roomRank = shape.roomZipf.sample(random)
  const room = shape.rooms[roomRank] as string
  const ts = shape.sentTs(random, index, roomRank)
  const id = shape.roomIds[roomRank] as number
  let json: string
  switch (command) {
    case 'CLEARCHAT': {
      const banned = chatterNick(shape, roomRank, CHATTER_ZIPF.sample(random, chattersInRoom(shape, roomRank)))
      // An empty body clears the whole chat; otherwise one user is timed out or banned.
      json = random.chance(0.1)
        ? systemJson(command, '', '', room, '', `room-id=${id};tmi-sent-ts=${ts}`)
        : systemJson(command, '', '', room, banned, `${random.chance(0.8) ? `ban-duration=${random.pick([1, 10, 60, 600, 86400])};` : ''}room-id=${id};target-user-id=${user(banned).id};tmi-sent-ts=${ts}`)
      break
    }
    case 'CLEARMSG': {
      const author = chatterNick(shape, roomRank, CHATTER_ZIPF.sample(random, chattersInRoom(shape, roomRank)))
      json = systemJson(command, '', '', room, chatBody(shape, random, roomRank, false).body, `login=${author};room-id=;target-msg-id=${uuid(random)};tmi-sent-ts=${ts}`)
      break
    }
    case 'NOTICE': {
      const [msgId, text] = random.pick(NOTICES)
      json = systemJson(command, '', '', room, text, `msg-id=${msgId}`)
      break
    }
    case 'ROOMSTATE':
      json = systemJson(command, '', '', room, '', `emote-only=0;followers-only=-1;r9k=0;room-id=${id};slow=${random.pick([0, 0, 3, 30])};subs-only=0`)
      break
    case 'USERNOTICE': {
      const raider = shape.rooms[shape.roomZipf.sample(random)] as string
      json = systemJson(command, '', '', room, '', `msg-id=raid;msg-param-displayName=${raider.slice(1)};msg-param-viewerCount=${1 + random.int(5000)};room-id=${id};system-msg=A\\sraid\\sis\\scoming;tmi-sent-ts=${ts}`)
      break
    }
    default: {
      // A privmsg with no nick: not a chat message, a system event reported as PRIVMSG.
      json = systemJson('', room, '', '', chatBody(shape, random, roomRank, false).body, `room-id=${id};tmi-sent-ts=${ts}`)
    }
  }
  return { json, intent: { kind: 'system', command: command === '' ? 'PRIVMSG' : command, room } }
}

function malformedEvent (shape: StreamShape, random: Random, index: number): Built {
  const draw = random.float()
  if (draw < 0.4) {
    // As in the reference sample: the body's opening quote lost, `"body":<you actually...`.
    const { json } = chatEvent(shape, random, index, '')
    const bodyAt = json.indexOf('"body":"')
    return { json: json.slice(0, bodyAt + 7) + '<' + json.slice(bodyAt + 8), intent: { kind: 'failed', malformation: 'invalid-json' } }
  }
  if (draw < 0.6) {
    // Cut inside the tags, which end in ASCII, so the cut never splits a character.
    const { json } = chatEvent(shape, random, index, '')
    return { json: json.slice(0, json.length - 2 - random.int(20)), intent: { kind: 'failed', malformation: 'truncated-json' } }
  }
  if (draw < 0.8) {
    const roomRank = shape.roomZipf.sample(random)
    const room = shape.rooms[roomRank] as string
    const nick = chatterNick(shape, roomRank, CHATTER_ZIPF.sample(random, chattersInRoom(shape, roomRank)))
    const variant = random.int(3)
    const json = variant === 0
      ? `{"command":"","room":${JSON.stringify(room)},"nick":${JSON.stringify(nick)},"target":"","body":${random.int(100_000)},"tags":""}`
      : variant === 1
        ? `{"command":"","room":${JSON.stringify(room)},"nick":null,"target":"","body":"hello","tags":""}`
        : `{"command":"","room":${JSON.stringify(room)},"nick":${JSON.stringify(nick)},"target":"","body":"hi","tags":{"emotes":""}}`
    return { json, intent: { kind: 'failed', malformation: 'wrong-field-type' } }
  }
  const json = random.pick([
    `[${JSON.stringify(shape.rooms[shape.roomZipf.sample(random)] as string)},"privmsg","hello"]`,
    '"just a string"',
    'null',
    String(random.int(1_000_000)),
    'true'
  ])
  return { json, intent: { kind: 'failed', malformation: 'not-an-object' } }
}

function buildEvent (shape: StreamShape, random: Random, index: number): Built {
  const kind = random.float()
  const t = KIND_THRESHOLDS
  if (kind < t.malformed) return malformedEvent(shape, random, index)
  if (kind < t.clearchat) return systemEvent(shape, random, index, 'CLEARCHAT')
  if (kind < t.clearmsg) return systemEvent(shape, random, index, 'CLEARMSG')
  if (kind < t.notice) return systemEvent(shape, random, index, 'NOTICE')
  if (kind < t.roomstate) return systemEvent(shape, random, index, 'ROOMSTATE')
  if (kind < t.usernoticeSystem) return systemEvent(shape, random, index, 'USERNOTICE')
  if (kind < t.privmsgWithoutNick) return systemEvent(shape, random, index, '')
  if (kind < t.usernoticeChat) return chatEvent(shape, random, index, 'USERNOTICE')
  if (kind < t.privmsgCommand) return chatEvent(shape, random, index, 'PRIVMSG')
  return chatEvent(shape, random, index, '')
}

function checkArguments (seed: number, index: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer from 0 to 4294967295, got ${seed}`)
  if (!Number.isSafeInteger(index) || index < 1) throw new RangeError(`event index must be a whole number from 1, got ${index}`)
}

/** The default profile's pools: 3,000 rooms, 40,000 nicks, the 5,000-word vocabulary, 5,000 events/s from January 2022. */
export const DEFAULT_SHAPE: StreamShape = {
  rooms: ROOMS,
  roomZipf: ROOM_ZIPF,
  roomIds: roomIdsFor(ROOMS.length),
  roomIdTags: roomIdsFor(ROOMS.length).map((id) => flatString(';room-id=' + id)),
  chattersInRoom: chattersInRoomsFor(ROOMS.length),
  nicks: NICKS,
  rareWord: null,
  sentTs
}

/** Event `index` (from 1) of run `seed` (of the default profile unless `shape` says otherwise), its text and what it was built to count as. */
export function generateEventWithIntent (seed: number, index: number, shape: StreamShape = DEFAULT_SHAPE): GeneratedEvent {
  checkArguments(seed, index)
  const random = Random.forEvent(seed, index)
  // The preamble draws come first so they never depend on the event's own content.
  const preamble = random.float()
  const built = buildEvent(shape, random, index)
  let text = `event: privmsg\nid: ${index}\nse-data: ${built.json}\n\n`
  let skippedBefore = 0
  if (preamble < EVENT_MIX.keepAlive) {
    text = ': keep-alive\n\n' + text
  } else if (preamble < EVENT_MIX.keepAlive + EVENT_MIX.ping) {
    text = `event: ping\ndata: {"ts":${shape.sentTs(random, index, -1)}}\n\n` + text
    skippedBefore = 1
  }
  return { text, intent: built.intent, skippedBefore }
}

/**
 * The exact SSE text of event `index` (from 1) of run `seed`:
 * `event: privmsg\nid: <index>\nse-data: <json>\n\n`, sometimes preceded by
 * a keep-alive comment or an `event: ping`. A pure function of its arguments
 * (`shape`: the profile's pools and clock, default the default profile's).
 */
export function generateEvent (seed: number, index: number, shape: StreamShape = DEFAULT_SHAPE): string {
  return generateEventWithIntent(seed, index, shape).text
}

/** Events `first`..`last` (inclusive) of run `seed`, concatenated. */
export function generateRange (seed: number, first: number, last: number): string {
  let text = ''
  for (let index = first; index <= last; index++) text += generateEvent(seed, index)
  return text
}
