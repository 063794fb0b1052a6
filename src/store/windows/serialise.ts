import type { TopEntry } from '../types.js'
import type { RoomWindowValue } from './room-value.js'
import type { TrimmedList } from './trimmed-list.js'

/*
 * The stored text of window values (Redis strings and hash fields, and the
 * embedded store's snapshot). A flat JSON array: [err, value1, count1,
 * value2, count2, ...] for a list: the design's JSON baseline, flattened
 * (no array per entry), and readable with redis-cli.
 */

/** The text of a trimmed list: `[err,"v1",c1,"v2",c2,...]`. */
export function encodeTrimmed (list: TrimmedList): string {
  return JSON.stringify(flattenTrimmed(list))
}

/** Parses `encodeTrimmed`'s text; throws SyntaxError/TypeError on anything else. */
export function decodeTrimmed (text: string): TrimmedList {
  return unflattenTrimmed(JSON.parse(text) as unknown)
}

/** The JSON value behind encodeTrimmed (to embed in a larger document, e.g. the embedded store's snapshot). */
export function flattenTrimmed (list: TrimmedList): Array<string | number> {
  const flat: Array<string | number> = [list.err]
  for (const { value, count } of list.entries) flat.push(value, count)
  return flat
}

/** The inverse of flattenTrimmed; throws TypeError on anything else. */
export function unflattenTrimmed (flat: unknown): TrimmedList {
  if (!Array.isArray(flat) || flat.length % 2 !== 1 || typeof flat[0] !== 'number') throw new TypeError('not a stored trimmed list')
  const entries: TopEntry[] = []
  for (let i = 1; i < flat.length; i += 2) {
    const value: unknown = flat[i]
    const count: unknown = flat[i + 1]
    if (typeof value !== 'string' || typeof count !== 'number') throw new TypeError('not a stored trimmed list')
    entries.push({ value, count })
  }
  return { entries, err: flat[0] }
}

/** The text of a room's window value: `[messages,{events},words,nicks,emotes]`, each list as in encodeTrimmed. */
export function encodeRoomValue (value: RoomWindowValue): string {
  return JSON.stringify(flattenRoomValue(value))
}

/** Parses `encodeRoomValue`'s text; throws SyntaxError/TypeError on anything else. */
export function decodeRoomValue (text: string): RoomWindowValue {
  return unflattenRoomValue(JSON.parse(text) as unknown)
}

/** The JSON value behind encodeRoomValue. */
export function flattenRoomValue (value: RoomWindowValue): unknown[] {
  return [value.messages, Object.fromEntries(value.events), flattenTrimmed(value.words), flattenTrimmed(value.nicks), flattenTrimmed(value.emotes)]
}

/** The inverse of flattenRoomValue; throws TypeError on anything else. */
export function unflattenRoomValue (parsed: unknown): RoomWindowValue {
  if (!Array.isArray(parsed) || parsed.length !== 5 || typeof parsed[0] !== 'number' || typeof parsed[1] !== 'object' || parsed[1] === null) {
    throw new TypeError('not a stored room window value')
  }
  const events = new Map<string, number>()
  for (const [command, n] of Object.entries(parsed[1] as Record<string, unknown>)) {
    if (typeof n !== 'number') throw new TypeError('not a stored room window value')
    events.set(command, n)
  }
  return {
    messages: parsed[0],
    events,
    words: unflattenTrimmed(parsed[2]),
    nicks: unflattenTrimmed(parsed[3]),
    emotes: unflattenTrimmed(parsed[4])
  }
}
