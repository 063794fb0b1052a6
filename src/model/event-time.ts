/**
 * The time of a message (docs/COUNTING.md#event-time): its
 * `tmi-sent-ts` tag when present and believable, else its arrival time.
 * Pure: the arrival time is given.
 */

/** How far ahead of the worker's clock a `tmi-sent-ts` may be and still be taken as the event time. */
export const MAX_SENT_AHEAD_MS = 5000

const KEY = 'tmi-sent-ts='
const AFTER_SEPARATOR = ';' + KEY
/** More digits than this cannot be an epoch ms below Number.MAX_SAFE_INTEGER for sure. */
const MAX_DIGITS = 15

/**
 * The value of the `tmi-sent-ts` tag (epoch ms) in a `key=value;key=value`
 * tag string, or -1 when it is absent, empty or not plain decimal digits.
 * A targeted scan: splitting the ~300-character tag string of every message
 * measured about 8 times slower (ARCHITECTURE.md, "Event time").
 */
export function sentTimestamp (tags: string): number {
  // Twitch sorts its tags, so this one sits near the end: search from there.
  const at = tags.lastIndexOf(AFTER_SEPARATOR)
  if (at !== -1) return digitsFrom(tags, at + AFTER_SEPARATOR.length)
  return tags.startsWith(KEY) ? digitsFrom(tags, KEY.length) : -1
}

function digitsFrom (tags: string, from: number): number {
  let value = 0
  let i = from
  for (; i < tags.length; i++) {
    const d = tags.charCodeAt(i) - 48
    if (d === 59 - 48) break // ';' ends the value
    if (d < 0 || d > 9 || i - from >= MAX_DIGITS) return -1
    value = value * 10 + d
  }
  return i === from ? -1 : value
}

/**
 * A message's event time in epoch ms: its `tmi-sent-ts` when present and no
 * more than MAX_SENT_AHEAD_MS ahead of `arrivalMs`, else `arrivalMs`. An old
 * timestamp is kept, however old: the store decides what its windows and
 * series still hold.
 */
export function eventTime (tags: string, arrivalMs: number): number {
  const sent = sentTimestamp(tags)
  return sent >= 0 && sent <= arrivalMs + MAX_SENT_AHEAD_MS ? sent : arrivalMs
}
