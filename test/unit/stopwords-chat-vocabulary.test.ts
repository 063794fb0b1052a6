import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import { CHAT_VOCABULARY, isStopword, STOPWORD_LANGUAGES } from '../../src/stopwords.js'

// Issue 14, item 6: chat's own words stay visible with ?stopwords=exclude.
const lists = createRequire(import.meta.url)('stopwords-iso') as Record<string, string[]>

describe('chat vocabulary is never a stop word', () => {
  it('gg, w, l, f, gl and nice are in a stopwords-iso list, and still not stop words', () => {
    // The allow-list matters only because the package has these: if it ever drops them, this says so.
    for (const word of ['gg', 'w', 'l', 'f', 'gl', 'nice']) {
      assert.ok(STOPWORD_LANGUAGES.some((language) => lists[language]?.includes(word)), `${word} is in no list any more`)
      assert.equal(isStopword(word), false, word)
    }
  })

  it('no word of the allow-list is a stop word, and ordinary stop words still are', () => {
    for (const word of CHAT_VOCABULARY) assert.equal(isStopword(word), false, word)
    for (const word of ['the', 'yes', 'no', 'ok', 'hi', 'und', 'que']) assert.equal(isStopword(word), true, word)
  })

  it('the allow-list is in the tokenizer\'s form (lower case, NFC)', () => {
    for (const word of CHAT_VOCABULARY) assert.equal(word, word.normalize('NFC').toLowerCase(), word)
  })
})
