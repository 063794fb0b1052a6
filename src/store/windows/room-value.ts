import { ROOM_CATEGORIES, type Counts, type RoomCategory, type RoomSlice } from '../types.js'
import { addCount, addCounts } from './counts.js'
import { addToTrimmed, emptyTrimmed, mergeTrimmed, trimCounts, type TrimmedList } from './trimmed-list.js'

/**
 * One tracked room in one window bucket: its messages, its system events by
 * command (few: never trimmed) and its words, nicks and emotes each trimmed
 * to ROOM_WINDOW_TOP with their own err (see TrimmedList).
 */
export interface RoomWindowValue {
  messages: number
  events: Counts
  words: TrimmedList
  nicks: TrimmedList
  emotes: TrimmedList
}

/** Exact counts of one room within one open bucket (what the writer holds while the bucket may change). */
export interface RoomCounts {
  messages: number
  events: Counts
  words: Counts
  nicks: Counts
  emotes: Counts
}

/** A room with nothing counted. */
export function emptyRoomCounts (): RoomCounts {
  return { messages: 0, events: new Map(), words: new Map(), nicks: new Map(), emotes: new Map() }
}

/** A copy whose maps can change without touching the original. */
export function copyRoomCounts (room: RoomCounts): RoomCounts {
  return { messages: room.messages, events: new Map(room.events), words: new Map(room.words), nicks: new Map(room.nicks), emotes: new Map(room.emotes) }
}

/** Adds one room's slice into exact counts. */
export function addRoomSlice (into: RoomCounts, slice: RoomSlice): void {
  into.messages += slice.messages
  addCounts(into.events, slice.events)
  for (const category of ROOM_CATEGORIES) addCounts(into[category], slice[category])
}

/** The stored value of exact room counts, each list trimmed to `top`. */
export function roomValueOf (counts: RoomCounts, top: number): RoomWindowValue {
  return {
    messages: counts.messages,
    events: new Map(counts.events),
    words: trimCounts(counts.words, top),
    nicks: trimCounts(counts.nicks, top),
    emotes: trimCounts(counts.emotes, top)
  }
}

/** The empty value (a room with nothing in a bucket). */
export function emptyRoomValue (): RoomWindowValue {
  return { messages: 0, events: new Map(), words: emptyTrimmed(), nicks: emptyTrimmed(), emotes: emptyTrimmed() }
}

/** The sum of several values of one room (the children of a bucket being built), lists trimmed to `top`. */
export function mergeRoomValues (values: readonly RoomWindowValue[], top: number): RoomWindowValue {
  const events: Counts = new Map()
  let messages = 0
  for (const value of values) {
    messages += value.messages
    for (const [command, n] of value.events) addCount(events, command, n)
  }
  const list = (category: RoomCategory): TrimmedList => mergeTrimmed(values.map((v) => v[category]), top)
  return { messages, events, words: list('words'), nicks: list('nicks'), emotes: list('emotes') }
}

/** A stored value plus one room's counts that arrived late for its bucket (lists trimmed again to `top`). */
export function addToRoomValue (value: RoomWindowValue, late: RoomSlice | RoomCounts, top: number): RoomWindowValue {
  const events = new Map(value.events)
  addCounts(events, late.events)
  return {
    messages: value.messages + late.messages,
    events,
    words: addToTrimmed(value.words, late.words, top),
    nicks: addToTrimmed(value.nicks, late.nicks, top),
    emotes: addToTrimmed(value.emotes, late.emotes, top)
  }
}
