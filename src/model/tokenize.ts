/**
 * Words of a chat body (SPEC section 1): NFC-normalise, split on Unicode
 * white space, strip leading and trailing Unicode punctuation, lower-case,
 * drop empty tokens and tokens longer than 64 code points.
 */

export const MAX_WORD_CODE_POINTS = 64

const WHITE_SPACE = /\p{White_Space}+/u
const EDGE_PUNCTUATION = /^\p{P}+|\p{P}+$/gu
// Bodies that are plain ASCII need no normalisation: most of the firehose.
// eslint-disable-next-line no-control-regex -- the ASCII range starts at NUL
const NON_ASCII = /[^\x00-\x7f]/

/** Calls `onWord` for each word occurrence of `body`, in order. */
export function forEachWord (body: string, onWord: (word: string) => void): void {
  const text = NON_ASCII.test(body) ? body.normalize('NFC') : body
  const tokens = text.split(WHITE_SPACE)
  for (const token of tokens) {
    if (token === '') continue
    const word = token.replace(EDGE_PUNCTUATION, '').toLowerCase()
    if (word === '') continue
    // String length is UTF-16 units, an upper bound of code points.
    if (word.length > MAX_WORD_CODE_POINTS && codePointLength(word) > MAX_WORD_CODE_POINTS) continue
    onWord(word)
  }
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
