/**
 * Words of a chat body (docs/COUNTING.md#words): NFC-normalise, split on Unicode
 * white space, strip leading and trailing Unicode punctuation, lower-case,
 * drop empty tokens and tokens longer than 64 code points.
 *
 * This runs for every message, so it scans character codes instead of
 * splitting with regular expressions: ASCII is decided by table, and only
 * a non-ASCII character at the edge of a token is tested against \p{P}.
 */
import { ownSlice } from './names.js'

export const MAX_WORD_CODE_POINTS = 64

// Bodies that are plain ASCII need no normalisation: most of the firehose.
// eslint-disable-next-line no-control-regex -- the ASCII range starts at NUL
const NON_ASCII = /[^\x00-\x7f]/
/** A character isWideWhiteSpace accepts, anywhere in a string (a test keeps the two the same). */
export const HAS_WIDE_WHITE_SPACE = /[\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/
const PUNCTUATION = /^\p{P}$/u

/** Per ASCII code: 1 = white space, 2 = punctuation (\p{P}), 4 = upper-case letter. */
const ASCII_CLASS = new Uint8Array(128)
for (const c of [9, 10, 11, 12, 13, 32]) ASCII_CLASS[c] = 1
for (const c of '!"#%&\'()*,-./:;?@[\\]_{}') ASCII_CLASS[c.charCodeAt(0)] = 2
for (let c = 65; c <= 90; c++) ASCII_CLASS[c] = 4

/** Unicode White_Space outside ASCII (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). */
export function isWideWhiteSpace (c: number): boolean {
  return c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
}

/**
 * Per UTF-16 unit above ASCII: 0 not yet known, 1 lower-casing keeps it, 2 it
 * changes it (or it is a surrogate: left to toLowerCase). A token none of
 * whose units changes is its own lower case, so most tokens skip
 * toLowerCase, which is slow for non-ASCII strings.
 */
const WIDE_CASE = new Uint8Array(65536)

function lowerCaseChanges (c: number): boolean {
  let state = WIDE_CASE[c]!
  if (state === 0) {
    const unit = String.fromCharCode(c)
    state = (c >= 0xd800 && c <= 0xdfff) || unit.toLowerCase() !== unit ? 2 : 1
    WIDE_CASE[c] = state
  }
  return state === 2
}

const wideIsPunctuation = new Map<number, boolean>()

function isWidePunctuation (codePoint: number): boolean {
  let known = wideIsPunctuation.get(codePoint)
  if (known === undefined) {
    known = PUNCTUATION.test(String.fromCodePoint(codePoint))
    // The cache holds only code points seen at token edges; \p{P} has under a thousand members, the rest are bounded by the set of edge characters seen.
    if (wideIsPunctuation.size < 65_536) wideIsPunctuation.set(codePoint, known)
  }
  return known
}

/** Calls `onWord` for each word occurrence of `body`, in order. */
export function forEachWord (body: string, onWord: (word: string) => void): void {
  const ascii = !NON_ASCII.test(body)
  const text = ascii ? body : body.normalize('NFC')
  const length = text.length
  let i = 0
  while (i < length) {
    // Skip white space.
    let c = text.charCodeAt(i)
    while (c < 128 ? ASCII_CLASS[c] === 1 : isWideWhiteSpace(c)) {
      if (++i === length) return
      c = text.charCodeAt(i)
    }
    const start = i
    let lower = false
    let wide = false
    while (i < length) {
      c = text.charCodeAt(i)
      if (c < 128) {
        const kind = ASCII_CLASS[c]!
        if (kind === 1) break
        if (kind === 4) lower = true
      } else {
        if (isWideWhiteSpace(c)) break
        wide = true
        if (!lower && lowerCaseChanges(c)) lower = true
      }
      i++
    }
    // The token is text[start, i): strip punctuation from both ends.
    let s = start
    let e = i
    while (s < e) {
      c = text.charCodeAt(s)
      if (c < 128) {
        if (ASCII_CLASS[c] !== 2) break
        s++
      } else {
        const codePoint = text.codePointAt(s)!
        if (!isWidePunctuation(codePoint)) break
        s += codePoint > 0xffff ? 2 : 1
      }
    }
    while (e > s) {
      c = text.charCodeAt(e - 1)
      if (c < 128) {
        if (ASCII_CLASS[c] !== 2) break
        e--
      } else {
        const pair = c >= 0xdc00 && c <= 0xdfff && e - 2 >= s && isHighSurrogate(text.charCodeAt(e - 2))
        const codePoint = pair ? text.codePointAt(e - 2)! : c
        if (!isWidePunctuation(codePoint)) break
        e -= pair ? 2 : 1
      }
    }
    if (s === e) continue
    // Lower-casing makes a new string; otherwise the word must not be a view of its message.
    const word = lower ? text.slice(s, e).toLowerCase() : ownSlice(text, s, e)
    // String length is UTF-16 units, an upper bound of code points.
    if (word.length > MAX_WORD_CODE_POINTS && (!wide || codePointLength(word) > MAX_WORD_CODE_POINTS)) continue
    onWord(word)
  }
}

function isHighSurrogate (c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff
}

/** The words of `body`, in order, with repeats. */
export function tokenize (body: string): string[] {
  const words: string[] = []
  forEachWord(body, (word) => words.push(word))
  return words
}

export function codePointLength (text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}
