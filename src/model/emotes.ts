/**
 * Emotes of a chat message from its IRCv3 `emotes` tag:
 * `ID:START-END,START-END/ID:START-END`, inclusive ranges into the body in
 * Unicode code points. The emote is the body text at the range, verbatim.
 * A malformed or out-of-range entry is skipped; it never fails the message.
 */

/** The value of the `emotes` tag in a `key=value;key=value` tag string, or ''. */
export function emotesTag (tags: string): string {
  let at = tags.startsWith('emotes=') ? 0 : tags.indexOf(';emotes=')
  if (at === -1) return ''
  at += at === 0 ? 7 : 8
  const end = tags.indexOf(';', at)
  return end === -1 ? tags.slice(at) : tags.slice(at, end)
}

const RANGE = /^(\d{1,9})-(\d{1,9})$/

/** Calls `onEmote` for each emote occurrence named by `tag` in `body`. */
export function forEachEmote (body: string, tag: string, onEmote: (emote: string) => void): void {
  if (tag === '') return
  // Code-point offsets equal UTF-16 offsets unless the body has surrogate pairs.
  let codePoints: string[] | null = null
  const hasSurrogates = /[\ud800-\udfff]/.test(body)
  for (const entry of tag.split('/')) {
    const colon = entry.indexOf(':')
    if (colon <= 0) continue
    for (const range of entry.slice(colon + 1).split(',')) {
      const match = RANGE.exec(range)
      if (match === null) continue
      const start = Number(match[1])
      const end = Number(match[2])
      if (end < start) continue
      if (hasSurrogates) {
        codePoints ??= Array.from(body)
        if (end >= codePoints.length) continue
        onEmote(codePoints.slice(start, end + 1).join(''))
      } else {
        if (end >= body.length) continue
        onEmote(body.slice(start, end + 1))
      }
    }
  }
}

/** The emotes of a body, in tag order, with repeats. */
export function emotesOf (body: string, tags: string): string[] {
  const out: string[] = []
  forEachEmote(body, emotesTag(tags), (emote) => out.push(emote))
  return out
}
