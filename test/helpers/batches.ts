import type { Batch, CountSlice, Counts, FailedMessage, RoomSlice } from '../../src/store/types.js'

/** Counts written as an object, as pairs (exact insertion order, any key) or as a ready map. */
export type CountsInput = Record<string, number> | ReadonlyArray<readonly [string, number]> | ReadonlyMap<string, number>

export interface RoomInput {
  messages?: number
  words?: CountsInput
  nicks?: CountsInput
  emotes?: CountsInput
  events?: CountsInput
}

export interface SliceInput {
  messages?: number
  words?: CountsInput
  nicks?: CountsInput
  rooms?: CountsInput
  emotes?: CountsInput
  events?: CountsInput
  roomDetail?: Record<string, RoomInput> | ReadonlyArray<readonly [string, RoomInput]>
}

export interface BatchInput {
  failedCount?: number
  failedLog?: FailedMessage[]
  lastEventId?: string
  lastMessageAt?: number
}

/** A Counts map from an object or pairs. */
export function counts (input: CountsInput = {}): Counts {
  if (input instanceof Map) return new Map(input)
  return new Map(Array.isArray(input) ? input : Object.entries(input as Record<string, number>))
}

/** One room's slice; missing parts are empty. */
export function roomSlice (input: RoomInput = {}): RoomSlice {
  return {
    messages: input.messages ?? 0,
    words: counts(input.words),
    nicks: counts(input.nicks),
    emotes: counts(input.emotes),
    events: counts(input.events)
  }
}

/** A slice of epoch second `second`; missing parts are empty. */
export function slice (second: number, input: SliceInput = {}): CountSlice {
  const detail = input.roomDetail ?? {}
  const pairs = Array.isArray(detail) ? detail : Object.entries(detail)
  return {
    second,
    messages: input.messages ?? 0,
    words: counts(input.words),
    nicks: counts(input.nicks),
    rooms: counts(input.rooms),
    emotes: counts(input.emotes),
    events: counts(input.events),
    roomDetail: new Map(pairs.map(([room, r]) => [room, roomSlice(r)]))
  }
}

/** A batch; failedCount defaults to the length of failedLog. */
export function batch (sequence: number, slices: CountSlice[], input: BatchInput = {}): Batch {
  const failedLog = input.failedLog ?? []
  return {
    sequence,
    slices,
    failedCount: input.failedCount ?? failedLog.length,
    failedLog,
    lastEventId: input.lastEventId,
    lastMessageAt: input.lastMessageAt
  }
}

export interface ChatLine {
  nick: string
  /** '' = no room. */
  room?: string
  words?: string[]
  emotes?: string[]
}

/**
 * A slice built from chat messages the way the counting rules would count
 * them (one message per line: +1 nick, +1 room, +1 per word and emote, the
 * same inside the room), so tests state inputs, not hand-summed totals.
 */
export function chatSlice (second: number, lines: readonly ChatLine[], events: ReadonlyArray<{ command: string, room?: string }> = []): CountSlice {
  const s = slice(second)
  const bump = (map: Counts, key: string): void => { map.set(key, (map.get(key) ?? 0) + 1) }
  const roomOf = (room: string): RoomSlice => {
    let r = s.roomDetail.get(room)
    if (r === undefined) {
      r = roomSlice()
      s.roomDetail.set(room, r)
    }
    return r
  }
  for (const line of lines) {
    s.messages++
    bump(s.nicks, line.nick)
    const room = line.room !== undefined && line.room !== '' ? roomOf(line.room) : null
    if (room !== null) {
      bump(s.rooms, line.room!)
      room.messages++
      bump(room.nicks, line.nick)
    }
    for (const word of line.words ?? []) {
      bump(s.words, word)
      if (room !== null) bump(room.words, word)
    }
    for (const emote of line.emotes ?? []) {
      bump(s.emotes, emote)
      if (room !== null) bump(room.emotes, emote)
    }
  }
  for (const event of events) {
    bump(s.events, event.command)
    if (event.room !== undefined && event.room !== '') bump(roomOf(event.room).events, event.command)
  }
  return s
}
