import { createRequire } from 'node:module'

/**
 * Stop words for `?stopwords=exclude` (SPEC section 2), from the maintained
 * `stopwords-iso` lists of the languages most present in Twitch chat.
 * Entries are lower-cased and NFC-normalised like the tokenizer's words, so
 * a word from the store matches its list entry exactly.
 */
export const STOPWORD_LANGUAGES = ['en', 'es', 'pt', 'de', 'fr', 'it', 'ru', 'tr', 'pl', 'nl', 'ko', 'ja'] as const

const require = createRequire(import.meta.url)
const lists = require('stopwords-iso') as Record<string, readonly string[] | undefined>

function buildStopwords (): ReadonlySet<string> {
  const words = new Set<string>()
  for (const language of STOPWORD_LANGUAGES) {
    const list = lists[language]
    if (list === undefined) throw new Error(`stopwords-iso has no list for ${language}`)
    for (const word of list) words.add(word.normalize('NFC').toLowerCase())
  }
  return words
}

export const STOPWORDS: ReadonlySet<string> = buildStopwords()

/** True when `word` (a word as the tokenizer emits it) is a stop word: the `exclude` predicate of a top query. */
export function isStopword (word: string): boolean {
  return STOPWORDS.has(word)
}
