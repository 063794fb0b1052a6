/**
 * Emotes of a chat message from its IRCv3 `emotes` tag:
 * `ID:START-END,START-END/ID:START-END`, inclusive ranges into the body in
 * Unicode code points. The emote is the body text at the range, verbatim.
 * A malformed or out-of-range entry is skipped; it never fails the message,
 * and so is one whose text is longer than MAX_NAME_BYTES of UTF-8
 * (docs/COUNTING.md#long-names).
 */
import { bytesOver, DEFAULT_MAX_NAME_BYTES, ownSlice } from './names.js'

/** The value of the `emotes` tag in a `key=value;key=value` tag string, or ''. */
export function emotesTag (tags: string): string {
  let at = tags.startsWith('emotes=') ? 0 : tags.indexOf(';emotes=')
  if (at === -1) return ''
  at += at === 0 ? 7 : 8
  const end = tags.indexOf(';', at)
  return end === -1 ? tags.slice(at) : tags.slice(at, end)
}

const SURROGATE = /[\ud800-\udfff]/

/**
 * The number written in tag[from, to) when it is 1 to 9 decimal digits, else -1.
 * (A hand-written scan: this runs for every emote of the firehose.)
 */
function digitsAt (tag: string, from: number, to: number): number {
  if (to <= from || to - from > 9) return -1
  let value = 0
  for (let i = from; i < to; i++) {
    const d = tag.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    value = value * 10 + d
  }
  return value
}

/** Calls `onEmote` for each emote occurrence named by `tag` in `body` of at most `maxBytes` (MAX_NAME_BYTES) of UTF-8. */
export function forEachEmote (body: string, tag: string, onEmote: (emote: string) => void, maxBytes = DEFAULT_MAX_NAME_BYTES): void {
  if (tag === '') return
  // Code-point offsets equal UTF-16 offsets unless the body has surrogate pairs.
  let codePoints: string[] | null = null
  let hasSurrogates: boolean | null = null
  const n = tag.length
  // Entries are ID:RANGES separated by '/'; ranges START-END separated by ','.
  for (let entry = 0; entry <= n;) {
    let entryEnd = tag.indexOf('/', entry)
    if (entryEnd === -1) entryEnd = n
    const colon = tag.indexOf(':', entry)
    if (colon > entry && colon < entryEnd) {
      for (let range = colon + 1; range <= entryEnd;) {
        let rangeEnd = tag.indexOf(',', range)
        if (rangeEnd === -1 || rangeEnd > entryEnd) rangeEnd = entryEnd
        const dash = tag.indexOf('-', range)
        if (dash !== -1 && dash < rangeEnd) {
          const start = digitsAt(tag, range, dash)
          const end = digitsAt(tag, dash + 1, rangeEnd)
          if (start !== -1 && end !== -1 && end >= start) {
            hasSurrogates ??= SURROGATE.test(body)
            // A code point is at least one byte: a range of more than maxBytes is skipped before it is cut out.
            if (end - start >= maxBytes) {
              // Skipped, like a malformed entry.
            } else if (hasSurrogates) {
              codePoints ??= Array.from(body)
              if (end < codePoints.length) {
                const emote = codePoints.slice(start, end + 1).join('')
                if (bytesOver(emote, maxBytes) === 0) onEmote(emote)
              }
            } else if (end < body.length) {
              const emote = ownSlice(body, start, end + 1)
              if (bytesOver(emote, maxBytes) === 0) onEmote(emote)
            }
          }
        }
        range = rangeEnd + 1
      }
    }
    entry = entryEnd + 1
  }
}

/** The emotes of a body, in tag order, with repeats (those of at most `maxBytes` of UTF-8). */
export function emotesOf (body: string, tags: string, maxBytes = DEFAULT_MAX_NAME_BYTES): string[] {
  const out: string[] = []
  forEachEmote(body, emotesTag(tags), (emote) => out.push(emote), maxBytes)
  return out
}
