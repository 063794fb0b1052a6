/**
 * The length bound on names: nicks, rooms and emotes are counted verbatim
 * (docs/COUNTING.md#long-names), so MAX_NAME_BYTES bounds the members of
 * those lists as the 64-code-point rule bounds words.
 */

/** MAX_NAME_BYTES's default: the member size of the memory formula (ARCHITECTURE.md#memory-bounds); Twitch logins have at most 25 characters. */
export const DEFAULT_MAX_NAME_BYTES = 64

/**
 * The UTF-8 length of `text` when it is more than `maxBytes`, else 0. Cheap
 * on the hot path: a UTF-16 code unit is at most 3 bytes of UTF-8 (a
 * surrogate pair, two units, is 4), so a string of at most maxBytes / 3
 * units is surely within and its bytes are only counted when it may not be.
 */
export function bytesOver (text: string, maxBytes: number): number {
  if (text.length * 3 <= maxBytes) return 0
  const bytes = Buffer.byteLength(text, 'utf8')
  return bytes > maxBytes ? bytes : 0
}

/** V8 keeps a cut of this many UTF-16 units or more as a view of the string it was cut from. */
const VIEW_MIN_LENGTH = 13

/**
 * `source.slice(start, end)` as a string of its own. V8 keeps a longer cut
 * as a view that holds its whole source alive, so a word or emote kept in
 * an all-time list or a window bucket (the embedded store keeps them for up
 * to a day) would hold its message body, up to MAX_EVENT_BYTES, with it:
 * 200,000 tracked words could pin gigabytes that the memory bound does not
 * count (ARCHITECTURE.md#memory-bounds). Short cuts are copies already; a
 * JSON round trip is the cheapest flat copy measured (about 0.4 µs).
 */
export function ownSlice (source: string, start: number, end: number): string {
  const part = source.slice(start, end)
  return part.length >= VIEW_MIN_LENGTH && part.length < source.length ? JSON.parse(JSON.stringify(part)) as string : part
}
