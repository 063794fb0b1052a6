import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { tokenize } from '../../src/model/tokenize.js'
import { isStopword, STOPWORD_LANGUAGES, STOPWORDS } from '../../src/stopwords.js'

describe('stop words', () => {
  it('covers the major languages of the chat', () => {
    assert.deepEqual([...STOPWORD_LANGUAGES], ['en', 'es', 'pt', 'de', 'fr', 'it', 'ru', 'tr', 'pl', 'nl', 'ko', 'ja'])
    for (const word of ['the', 'and', 'que', 'und', 'le', 'che', 'и', 've', 'się', 'het', 'não']) assert.equal(isStopword(word), true, word)
  })

  it('leaves chat words alone', () => {
    for (const word of ['pog', 'kekw', 'lul', 'kappa', 'ㅋㅋㅋ', '😂', 'forsen']) assert.equal(isStopword(word), false, word)
  })

  it('entries are in the tokenizer\'s form (NFC, lower case), so tokenized words match', () => {
    for (const entry of STOPWORDS) {
      assert.equal(entry, entry.normalize('NFC').toLowerCase(), entry)
    }
    // "não" typed with a combining tilde and in capitals is still the stop word once tokenized.
    const [word] = tokenize('NA\u0303O!')
    assert.equal(word, 'não')
    assert.equal(isStopword(word ?? ''), true)
  })
})
