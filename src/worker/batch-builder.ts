import { addCounts } from '../model/counts.js'
import { emotesTag, forEachEmote } from '../model/emotes.js'
import { EventCommands } from '../model/event-commands.js'
import { eventTime } from '../model/event-time.js'
import { DEFAULT_MAX_NAME_BYTES } from '../model/names.js'
import { type ChatPayload, cutRaw, decodePayloadInto, roomOf, systemCommand } from '../model/payload.js'
import { forEachWord, HAS_WIDE_WHITE_SPACE } from '../model/tokenize.js'
import type { Batch, CountSlice, Counts, FailedMessage, RoomSlice } from '../store/types.js'

/** Failed messages kept per batch (the store keeps the newest 1,000 overall). */
export const MAX_FAILED_LOG = 1000

/**
 * The empty list every room slice starts with, shared. A batch holds a room
 * slice per (second, room) it saw, most with one or two messages: most never
 * count an emote or an event, and one that saw only system events counts no
 * nick or word. Four maps of their own in each were about 40 % of a batch's
 * memory on a replay spread over a day, and each was copied between threads
 * (ARCHITECTURE.md, "The worker's memory"). The builder gives a room its own
 * map before its first count in a list; nothing else writes to a room
 * slice's lists, so this one stays empty. A batch copied to another thread
 * keeps the sharing (a structured clone keeps an object referenced twice as
 * one).
 */
export const NO_COUNTS: Counts = new Map()

function newRoomSlice (): RoomSlice {
  return { messages: 0, words: NO_COUNTS, nicks: NO_COUNTS, emotes: NO_COUNTS, events: NO_COUNTS }
}

function newSlice (second: number): CountSlice {
  return {
    second,
    messages: 0,
    words: new Map(),
    nicks: new Map(),
    rooms: new Map(),
    emotes: new Map(),
    events: new Map(),
    roomDetail: new Map()
  }
}

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
 * Aggregates decoded events into the counts of the next flush. Counts are
 * kept per event second (docs/COUNTING.md#event-time: `tmi-sent-ts`, else arrival) so the
 * store can file them in exact time buckets; a replay brings many seconds,
 * in any order, and take() hands them over ascending.
 *
 * The hot path counts nicks, words and emotes once, into the message's room
 * (or a room-less tally); the stream-wide lists are sums of those, built in
 * take(). A batch has several times fewer distinct (room, member) pairs than
 * occurrences, so this halves the map updates per message.
 */
export class BatchBuilder {
  private slices: CountSlice[] = []
  /** Per slice (same index): counts of chat messages without a room, or null. */
  private roomless: Array<RoomSlice | null> = []
  /** The index of each second's slice. */
  private readonly sliceIndex = new Map<number, number>()
  /** False once a slice was added for a second before the latest one: take() sorts then. */
  private ascending = true
  private current: CountSlice | null = null
  private currentIndex = -1
  private room: RoomSlice | null = null
  private roomName = ''
  /** The maps the word and emote callbacks count into (the current message's room). */
  private words: Counts = new Map()
  private emotes: Counts = new Map()
  private failedCount = 0
  private failedLog: FailedMessage[] = []
  private lastEventId: string | undefined
  private lastMessageAt: number | undefined
  private readonly payload: ChatPayload = { command: '', room: '', nick: '', target: '', body: '', tags: '' }
  private readonly countWord = (word: string): void => { this.bump(this.words, word) }
  private readonly countEmote = (emote: string): void => { this.bump(this.emotes, emote) }
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
      this.bump(slice.events, command)
      if (room !== '') {
        const detail = this.roomSlice(slice, room)
        if (detail.events === NO_COUNTS) detail.events = new Map()
        this.bump(detail.events, command)
      }
    } else {
      this.tally.messages++
      slice.messages++
      const detail = room !== '' ? this.roomSlice(slice, room) : this.roomlessSlice()
      detail.messages++
      if (detail.nicks === NO_COUNTS) detail.nicks = new Map()
      this.bump(detail.nicks, payload.nick)
      if (detail.words === NO_COUNTS) detail.words = new Map()
      this.words = detail.words
      forEachWord(payload.body, this.countWord)
      const tag = emotesTag(payload.tags)
      if (tag !== '') {
        if (detail.emotes === NO_COUNTS) detail.emotes = new Map()
        this.emotes = detail.emotes
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
    const { batch, roomless } = this.takeUnsummed(sequence)
    sumStreamWide(batch, roomless)
    return batch
  }

  /** Forgets what was counted since the last take(), as take() would hand it over; the tally goes on (it counts what was read, dropped or not). */
  drop (): void {
    this.takeUnsummed(0)
  }

  /**
   * take() without the stream-wide lists, which sumStreamWide(batch,
   * roomless) adds: the counting thread hands its batch over this way, so
   * the copy between threads carries each count once and the sums are made
   * on the worker's thread, the less busy one.
   */
  takeUnsummed (sequence: number): UnsummedBatch {
    let slices = this.slices
    let roomless = this.roomless
    if (!this.ascending) {
      const order = slices.map((_, i) => i).sort((a, b) => (slices[a] as CountSlice).second - (slices[b] as CountSlice).second)
      slices = order.map((i) => this.slices[i] as CountSlice)
      roomless = order.map((i) => this.roomless[i] ?? null)
    }
    const batch: Batch = {
      sequence,
      slices,
      failedCount: this.failedCount,
      failedLog: this.failedLog.length > MAX_FAILED_LOG ? this.failedLog.slice(-MAX_FAILED_LOG) : this.failedLog,
      lastEventId: this.lastEventId,
      lastMessageAt: this.lastMessageAt
    }
    this.slices = []
    this.roomless = []
    this.sliceIndex.clear()
    this.ascending = true
    this.current = null
    this.currentIndex = -1
    this.room = null
    this.failedCount = 0
    this.failedLog = []
    this.lastEventId = undefined
    this.lastMessageAt = undefined
    this.pendingUpdates = 0
    return { batch, roomless }
  }

  private addFailureAt (raw: string, reason: string, id: string, now: number): void {
    this.tally.failed++
    this.failedCount++
    this.pendingUpdates++
    this.failedLog.push({ raw: cutRaw(raw), reason, at: now })
    if (this.failedLog.length > MAX_FAILED_LOG * 2) this.failedLog = this.failedLog.slice(-MAX_FAILED_LOG)
    if (id !== '') this.lastEventId = id
  }

  private bump (counts: Counts, key: string): void {
    const n = counts.get(key)
    if (n === undefined) {
      counts.set(key, 1)
      this.pendingUpdates += 2
    } else {
      counts.set(key, n + 1)
    }
  }

  private sliceAt (atMs: number): CountSlice {
    const second = Math.floor(atMs / 1000)
    const current = this.current
    if (current !== null && current.second === second) return current
    let index = this.sliceIndex.get(second)
    if (index === undefined) {
      const last = this.slices[this.slices.length - 1]
      if (last !== undefined && second < last.second) this.ascending = false
      this.slices.push(newSlice(second))
      this.roomless.push(null)
      index = this.slices.length - 1
      this.sliceIndex.set(second, index)
      this.pendingUpdates += SLICE_UPDATES
    }
    this.current = this.slices[index]!
    this.currentIndex = index
    // The room cache belongs to the slice it was looked up in.
    this.room = null
    return this.current
  }

  private roomSlice (slice: CountSlice, room: string): RoomSlice {
    // Consecutive events often share a room: skip the map lookup then.
    if (this.room !== null && this.roomName === room) return this.room
    let detail = slice.roomDetail.get(room)
    if (detail === undefined) {
      detail = newRoomSlice()
      slice.roomDetail.set(room, detail)
      this.pendingUpdates++
    }
    this.room = detail
    this.roomName = room
    return detail
  }

  private roomlessSlice (): RoomSlice {
    let detail = this.roomless[this.currentIndex]
    if (detail === undefined || detail === null) {
      detail = newRoomSlice()
      this.roomless[this.currentIndex] = detail
    }
    return detail
  }
}

/** A batch from takeUnsummed: per slice (same index), the counts of its chat messages without a room, or null. */
export interface UnsummedBatch {
  batch: Batch
  roomless: Array<RoomSlice | null>
}

/** Fills the stream-wide lists of a batch from takeUnsummed (take() does this itself). */
export function sumStreamWide (batch: Batch, roomless: ReadonlyArray<RoomSlice | null>): void {
  batch.slices.forEach((slice, i) => { fillStreamWideCounts(slice, roomless[i] ?? null) })
}

/** The stream-wide lists of a slice: the sums over its rooms and its room-less messages. */
function fillStreamWideCounts (slice: CountSlice, roomless: RoomSlice | null): void {
  for (const [room, detail] of slice.roomDetail) {
    if (detail.messages > 0) slice.rooms.set(room, detail.messages)
    addCounts(slice.nicks, detail.nicks)
    addCounts(slice.words, detail.words)
    addCounts(slice.emotes, detail.emotes)
  }
  if (roomless !== null) {
    addCounts(slice.nicks, roomless.nicks)
    addCounts(slice.words, roomless.words)
    addCounts(slice.emotes, roomless.emotes)
  }
}
