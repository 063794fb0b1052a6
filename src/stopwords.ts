import { createRequire } from 'node:module'

/**
 * Stop words for `?stopwords=exclude` (docs/API.md#filters), from the maintained
 * `stopwords-iso` lists of the languages most present in Twitch chat, less
 * CHAT_VOCABULARY.
 * Entries are lower-cased and NFC-normalised like the tokenizer's words, so
 * a word from the store matches its list entry exactly.
 */
export const STOPWORD_LANGUAGES = ['en', 'es', 'pt', 'de', 'fr', 'it', 'ru', 'tr', 'pl', 'nl', 'ko', 'ja'] as const

/**
 * Chat's own vocabulary: never a stop word, even where a stopwords-iso list
 * has it. Those lists are built from prose, where `gg`, `w` or `f` are noise;
 * in Twitch chat they are among the most typed words (good game, win/loss,
 * "press F"), and `?stopwords=exclude` (the dashboard's default) would hide
 * them. The rule (README, "Stop words"): a word is a stop word when one of
 * the STOPWORD_LANGUAGES lists has it and this list does not.
 */
export const CHAT_VOCABULARY: readonly string[] = [
  'gg', 'ggs', 'gl', 'hf', 'glhf', 'ez', 'wp', 'lol', 'lmao', 'rofl', 'xd', 'pog', 'poggers', 'kek',
  'omg', 'wtf', 'rip', 'o7', 'w', 'l', 'f', 'nice', 'hype'
]

const require = createRequire(import.meta.url)
const lists = require('stopwords-iso') as Record<string, readonly string[] | undefined>

function buildStopwords (): ReadonlySet<string> {
  const words = new Set<string>()
  for (const language of STOPWORD_LANGUAGES) {
    const list = lists[language]
    if (list === undefined) throw new Error(`stopwords-iso has no list for ${language}`)
    for (const word of list) words.add(word.normalize('NFC').toLowerCase())
  }
  for (const word of CHAT_VOCABULARY) words.delete(word)
  return words
}

export const STOPWORDS: ReadonlySet<string> = buildStopwords()

/** True when `word` (a word as the tokenizer emits it) is a stop word: the `exclude` predicate of a top query. */
export function isStopword (word: string): boolean {
  return STOPWORDS.has(word)
}
