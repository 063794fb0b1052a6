import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { asciiName, worstWord } from '../../bench/worst-case.js'
import { MAX_WORD_CODE_POINTS } from '../../src/model/tokenize.js'
import { WORST_CASE_MEMBERS, WORST_CASE_WORD_BYTES } from '../../src/store/memory-bound.js'

describe('worst-case bench members', () => {
  it('makes distinct words at the formula\'s worst size: the longest word the tokenizer keeps, 4 bytes a character', () => {
    const ids = [0, 1, 1023, 1024, 100_000_000 + 199 * 10_000 + 220, 1024 ** 3 - 1]
    const words = ids.map(worstWord)
    for (const word of words) {
      assert.equal(Buffer.byteLength(word), WORST_CASE_WORD_BYTES)
      assert.equal([...word].length, MAX_WORD_CODE_POINTS)
    }
    assert.equal(new Set(words).size, ids.length)
  })

  it('makes distinct names of exactly the worst case\'s bytes', () => {
    const bytes = WORST_CASE_MEMBERS.memberBytes
    const names = [0, 35, 36, 219_999, 10 ** 9].map((id) => asciiName('#r', id, bytes))
    for (const name of names) {
      assert.equal(Buffer.byteLength(name), bytes)
      assert.ok(name.startsWith('#r'))
    }
    assert.equal(new Set(names).size, names.length)
    assert.notEqual(asciiName('#r', 5, bytes), asciiName('#h', 5, bytes))
  })
})
