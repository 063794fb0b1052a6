import { incrementCount } from '../model/counts.js'
import { emotesTag, forEachEmote } from '../model/emotes.js'
import { EventCommands } from '../model/event-commands.js'
import { eventTime } from '../model/event-time.js'
import { DEFAULT_MAX_NAME_BYTES } from '../model/names.js'
import { type ChatPayload, cutRaw, decodePayloadInto, roomOf, systemCommand } from '../model/payload.js'
import { forEachWord, HAS_WIDE_WHITE_SPACE } from '../model/tokenize.js'
import type { Batch, CountSlice, Counts, FailedMessage, RoomSlice } from '../store/types.js'
import { CountTable, type TableEntries } from './count-table.js'

/** Failed messages kept per batch (the store keeps the newest 1,000 overall). */
export const MAX_FAILED_LOG = 1000

export interface EventTally {
  messages: number
  system: number
  failed: number
  skipped: number
}

/**
 * What a new slice adds to pendingUpdates: its seven empty maps weigh about
 * 1.2 KB, as much as about 12 counter updates (≈ 100 B each), so a replay
 * spread over many seconds reaches MAX_PENDING_UPDATES by its memory, not
 * only by its counters.
 */
export const SLICE_UPDATES = 12

/** The most an event adds besides its words and emotes: a new slice, a new room, and a system event's two command counts (a chat message's nick adds 2 of those 4). */
const EVENT_FIXED_UPDATES = SLICE_UPDATES + 1 + 4

/**
 * An upper bound on the counter updates (pendingUpdates) that addEvent(data)
 * can add to any builder, read from the raw text without parsing it: the
 * worker's thread charges each event it sends to the counting thread this
 * much until the thread has counted it, so MAX_PENDING_UPDATES holds with
 * events in flight (back-pressure.ts). It averages 35 over the simulator's
 * firehose (374 characters and about 6 updates an event), where one update
 * per character, the bound before it, charged 374 (ARCHITECTURE.md).
 *
 * Besides EVENT_FIXED_UPDATES, an event adds 2 per new member, and only its
 * words and emotes can be many:
 * - words: the body's words are at most its white-space characters plus
 *   one. A valid JSON string holds white space raw only as a space (tabs and
 *   line ends must be escaped) or as a character above ASCII; an escape
 *   starts with a backslash and makes one character.
 * - emotes: each is one START-END range of the emotes tag, with its own
 *   dash. Without escapes, the tag's value is raw text from `emotes=` to the
 *   next ';' or '"': the dashes of every such stretch bound them (tag names
 *   and ids have dashes too, and are not counted).
 * With escapes, an escape makes one character, white space or a dash, so
 * words and emotes are at most spaces + dashes + backslashes + 1. Text with
 * raw white space above ASCII (rare; NFC maps no other character to white
 * space) is charged as if every character were a member, which bounds any
 * event too.
 */
export function maxUpdatesOf (data: string): number {
  if (HAS_WIDE_WHITE_SPACE.test(data)) return EVENT_FIXED_UPDATES + 2 * data.length
  const escapes = occurrences(data, '\\')
  const emotes = escapes === 0 ? emoteDashes(data) : occurrences(data, '-') + escapes
  return EVENT_FIXED_UPDATES + 2 * (occurrences(data, ' ') + emotes + 1)
}

function occurrences (text: string, char: string): number {
  let n = 0
  for (let at = text.indexOf(char); at !== -1; at = text.indexOf(char, at + 1)) n++
  return n
}

/** The dashes from each `emotes=` of unescaped JSON text to the next ';' or '"' (see maxUpdatesOf). */
function emoteDashes (data: string): number {
  let n = 0
  for (let at = data.indexOf('emotes='); at !== -1; at = data.indexOf('emotes=', at + 7)) {
    const semicolon = data.indexOf(';', at)
    const quote = data.indexOf('"', at)
    const end = semicolon === -1 ? quote : quote === -1 ? semicolon : Math.min(semicolon, quote)
    for (let dash = data.indexOf('-', at); dash !== -1 && (end === -1 || dash < end); dash = data.indexOf('-', dash + 1)) n++
  }
  return n
}

/**
/**
 * Aggregates decoded events into the counts of the next flush. Counts are
 * kept per event second (docs/COUNTING.md#event-time: `tmi-sent-ts`, else arrival) so the
 * store can file them in exact time buckets; a replay brings many seconds,
 * in any order, and take() hands them over ascending.
 *
 * The hot path counts nicks, words and emotes once, into the message's room
 * (or a room-less tally); the stream-wide lists are sums of those, built in
 * unpackBatch. A batch has several times fewer distinct (room, member) pairs
 * than occurrences, so this halves the counter updates per message. Every
 * list of the batch is a group of one CountTable: a tally (one room, the
 * room-less messages or the system events of one second) holds four groups,
 * tally × 4 + its kind (WORDS, NICKS, EMOTES, EVENTS).
 */
export class BatchBuilder {
  private slices: SliceTally[] = []
  /** The index of each second's slice. */
  private readonly sliceIndex = new Map<number, number>()
  private current: SliceTally | null = null
  /** The tallies of this batch (PackedBatch has their meaning). */
  private tallySlices: number[] = []
  private tallyKinds: number[] = []
  private tallyRooms: string[] = []
  private tallyMessages: number[] = []
  /** The current slice's tally of `roomName`, or -1: consecutive events often share a room. */
  private roomTally = -1
  private roomName = ''
  private readonly table = new CountTable()
  /** The groups the word and emote callbacks count into (the current message's room). */
  private wordsGroup = 0
  private emotesGroup = 0
  private failedCount = 0
  private failedLog: FailedMessage[] = []
  private lastEventId: string | undefined
  private lastMessageAt: number | undefined
  private readonly payload: ChatPayload = { command: '', room: '', nick: '', target: '', body: '', tags: '' }
  private readonly countWord = (word: string): void => { this.bump(this.wordsGroup, word) }
  private readonly countEmote = (emote: string): void => { this.bump(this.emotesGroup, emote) }
  /**
   * Distinct counter updates held: the measure of memory the back-pressure
   * bound uses. A new (room, member) pair counts 2: itself and, at most, one
   * new member of the stream-wide list it adds to.
   */
  pendingUpdates = 0
  /** Events seen since the builder was created, by outcome. */
  readonly tally: EventTally = { messages: 0, system: 0, failed: 0, skipped: 0 }

  /**
   * `maxNameBytes`: MAX_NAME_BYTES, the longest nick, room, emote or command
   * counted (docs/COUNTING.md#long-names). `commands`: the system-event
   * commands counted so far, bounded by MAX_EVENT_COMMANDS
   * (docs/COUNTING.md#system-event-commands); the flush pipeline shares one
   * with its builders and loads it from the store.
   */
  constructor (
    private readonly clock: () => number = Date.now,
    private readonly maxNameBytes = DEFAULT_MAX_NAME_BYTES,
    private readonly commands: EventCommands = new EventCommands()
  ) {}

  /** Counts one privmsg event's data as a chat message, a system event or a failed message. */
  addEvent (data: string, id: string): void {
    const now = this.clock()
    const payload = this.payload
    const chat = decodePayloadInto(data, payload, this.maxNameBytes)
    if (typeof chat === 'string') {
      this.addFailureAt(data, chat, id, now)
      return
    }
    const command = chat ? '' : systemCommand(payload)
    if (!chat) {
      const refused = this.commands.admit(command)
      if (refused !== null) {
        this.addFailureAt(data, refused, id, now)
        return
      }
    }
    const at = eventTime(payload.tags, now)
    const slice = this.sliceAt(at)
    const room = roomOf(payload)
    if (!chat) {
      this.tally.system++
      this.bump(slice.events * 4 + EVENTS, command)
      if (room !== '') this.bump(this.roomTallyOf(slice, room) * 4 + EVENTS, command)
    } else {
      this.tally.messages++
      slice.messages++
      const tally = room !== '' ? this.roomTallyOf(slice, room) : this.roomlessTallyOf(slice)
      this.tallyMessages[tally]!++
      this.bump(tally * 4 + NICKS, payload.nick)
      this.wordsGroup = tally * 4 + WORDS
      forEachWord(payload.body, this.countWord)
      const tag = emotesTag(payload.tags)
      if (tag !== '') {
        this.emotesGroup = tally * 4 + EMOTES
        forEachEmote(payload.body, tag, this.countEmote, this.maxNameBytes)
      }
      // The time of the latest chat message (the stores keep the latest across batches too).
      if (this.lastMessageAt === undefined || at > this.lastMessageAt) this.lastMessageAt = at
    }
    if (id !== '') this.lastEventId = id
  }

  /** Counts a line or event that could not be read. */
  addFailure (raw: string, reason: string, id: string): void {
    this.addFailureAt(raw, reason, id, this.clock())
  }

  /** An event of another type: it only moves the stream position. */
  addSkipped (id: string): void {
    this.tally.skipped++
    if (id !== '') this.lastEventId = id
  }

  /** True when nothing has been added since the last take(). */
  get isEmpty (): boolean {
    return this.slices.length === 0 && this.failedCount === 0 && this.lastEventId === undefined
  }

  /** Hands over everything aggregated so far as a batch and starts afresh. */
  take (sequence: number): Batch {
    return unpackBatch(this.takePacked(sequence))
  }

  /** Forgets what was counted since the last take(), as take() would hand it over; the tally goes on (it counts what was read, dropped or not). */
  drop (): void {
    this.takePacked(0)
  }

  /**
   * take() in the form the counting thread hands over: flat arrays, which
   * cost less to copy between threads than a Map per list, and each count
   * once; unpackBatch builds the batch and its stream-wide sums on the
   * worker's thread, the less busy one.
   */
  takePacked (sequence: number): PackedBatch {
    const packed: PackedBatch = {
      sequence,
      seconds: this.slices.map((slice) => slice.second),
      messages: this.slices.map((slice) => slice.messages),
      tallySlices: this.tallySlices,
      tallyKinds: this.tallyKinds,
      tallyRooms: this.tallyRooms,
      tallyMessages: this.tallyMessages,
      entries: this.table.take(),
      failedCount: this.failedCount,
      failedLog: this.failedLog.length > MAX_FAILED_LOG ? this.failedLog.slice(-MAX_FAILED_LOG) : this.failedLog,
      lastEventId: this.lastEventId,
      lastMessageAt: this.lastMessageAt
    }
    this.slices = []
    this.sliceIndex.clear()
    this.current = null
    this.tallySlices = []
    this.tallyKinds = []
    this.tallyRooms = []
    this.tallyMessages = []
    this.roomTally = -1
    this.failedCount = 0
    this.failedLog = []
    this.lastEventId = undefined
    this.lastMessageAt = undefined
    this.pendingUpdates = 0
    return packed
  }

  private addFailureAt (raw: string, reason: string, id: string, now: number): void {
    this.tally.failed++
    this.failedCount++
    this.pendingUpdates++
    this.failedLog.push({ raw: cutRaw(raw), reason, at: now })
    if (this.failedLog.length > MAX_FAILED_LOG * 2) this.failedLog = this.failedLog.slice(-MAX_FAILED_LOG)
    if (id !== '') this.lastEventId = id
  }

  private bump (group: number, key: string): void {
    if (this.table.add(group, key)) this.pendingUpdates += 2
  }

  private sliceAt (atMs: number): SliceTally {
    const second = Math.floor(atMs / 1000)
    const current = this.current
    if (current !== null && current.second === second) return current
    let index = this.sliceIndex.get(second)
    if (index === undefined) {
      index = this.slices.length
      this.slices.push({ index, second, messages: 0, rooms: new Map(), roomless: -1, events: this.newTally(index, TALLY_SLICE_EVENTS, '') })
      this.sliceIndex.set(second, index)
      this.pendingUpdates += SLICE_UPDATES
    }
    this.current = this.slices[index]!
    // The room cache belongs to the slice it was looked up in.
    this.roomTally = -1
    return this.current
  }

  private newTally (slice: number, kind: number, room: string): number {
    this.tallySlices.push(slice)
    this.tallyKinds.push(kind)
    this.tallyRooms.push(room)
    this.tallyMessages.push(0)
    return this.tallyKinds.length - 1
  }

  private roomTallyOf (slice: SliceTally, room: string): number {
    if (this.roomTally !== -1 && this.roomName === room) return this.roomTally
    let tally = slice.rooms.get(room)
    if (tally === undefined) {
      tally = this.newTally(slice.index, TALLY_ROOM, room)
      slice.rooms.set(room, tally)
      this.pendingUpdates++
    }
    this.roomTally = tally
    this.roomName = room
    return tally
  }

  private roomlessTallyOf (slice: SliceTally): number {
    if (slice.roomless === -1) slice.roomless = this.newTally(slice.index, TALLY_ROOMLESS, '')
    return slice.roomless
  }
}

/** The kinds of list of a tally: an entry's group is tally × 4 + kind. */
const WORDS = 0
const NICKS = 1
const EMOTES = 2
const EVENTS = 3

/** Whose counts a tally holds: a room's (RoomSlice), the room-less chat messages' of a second (summed into its stream-wide lists only), or the system events of a second (its stream-wide events list). */
export const TALLY_ROOM = 0
export const TALLY_ROOMLESS = 1
export const TALLY_SLICE_EVENTS = 2

/** One second of a batch being counted. */
interface SliceTally {
  /** Its place in the batch's slices (the order first seen). */
  index: number
  second: number
  messages: number
  /** The tally of each room with events in this second. */
  rooms: Map<string, number>
  /** The tally of chat messages without a room, or -1. */
  roomless: number
  /** The tally of this second's system events. */
  events: number
}

/** A batch as BatchBuilder.takePacked hands it over (unpackBatch makes it a Batch). */
export interface PackedBatch {
  sequence: number
  /** Per slice, in the order first seen: its epoch second and its chat messages. */
  seconds: number[]
  messages: number[]
  /** Per tally (an entry's group, divided by 4): its slice, whose counts (TALLY_*), its room ('' but for TALLY_ROOM) and its chat messages. */
  tallySlices: number[]
  tallyKinds: number[]
  tallyRooms: string[]
  tallyMessages: number[]
  entries: TableEntries
  failedCount: number
  failedLog: FailedMessage[]
  lastEventId: string | undefined
  lastMessageAt: number | undefined
}

function newRoomSlice (messages: number): RoomSlice {
  return { messages, words: new Map(), nicks: new Map(), emotes: new Map(), events: new Map() }
}

function newSlice (second: number, messages: number): CountSlice {
  return {
    second,
    messages,
    words: new Map(),
    nicks: new Map(),
    rooms: new Map(),
    emotes: new Map(),
    events: new Map(),
    roomDetail: new Map()
  }
}

/**
 * The batch a PackedBatch holds, with its slices ascending: each room's
 * lists, and the stream-wide lists as the sums over the rooms and the
 * room-less messages of each second.
 */
export function unpackBatch (packed: PackedBatch): Batch {
  const slices = packed.seconds.map((second, i) => newSlice(second, packed.messages[i]!))
  const tallies = packed.tallyKinds.length
  // Per group: the list its counts are, and the stream-wide list they add to.
  const lists: Array<Counts | undefined> = new Array<Counts | undefined>(tallies * 4).fill(undefined)
  const sums: Array<Counts | undefined> = new Array<Counts | undefined>(tallies * 4).fill(undefined)
  for (let tally = 0; tally < tallies; tally++) {
    const slice = slices[packed.tallySlices[tally]!]!
    const group = tally * 4
    const kind = packed.tallyKinds[tally]
    if (kind === TALLY_SLICE_EVENTS) {
      lists[group + EVENTS] = slice.events
      continue
    }
    if (kind === TALLY_ROOM) {
      const room = packed.tallyRooms[tally]!
      const detail = newRoomSlice(packed.tallyMessages[tally]!)
      slice.roomDetail.set(room, detail)
      if (detail.messages > 0) slice.rooms.set(room, detail.messages)
      lists[group + WORDS] = detail.words
      lists[group + NICKS] = detail.nicks
      lists[group + EMOTES] = detail.emotes
      lists[group + EVENTS] = detail.events
    }
    sums[group + WORDS] = slice.words
    sums[group + NICKS] = slice.nicks
    sums[group + EMOTES] = slice.emotes
  }
  const { groups, keys, counts } = packed.entries
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!
    const key = keys[i]!
    const n = counts[i]!
    lists[group]?.set(key, n)
    const sum = sums[group]
    if (sum !== undefined) incrementCount(sum, key, n)
  }
  slices.sort((a, b) => a.second - b.second)
  return {
    sequence: packed.sequence,
    slices,
    failedCount: packed.failedCount,
    failedLog: packed.failedLog,
    lastEventId: packed.lastEventId,
    lastMessageAt: packed.lastMessageAt
  }
}
