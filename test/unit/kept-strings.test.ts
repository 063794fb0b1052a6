import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { forEachEmote } from '../../src/model/emotes.js'
import { ownSlice } from '../../src/model/names.js'
import { forEachWord } from '../../src/model/tokenize.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** A message body of about 20,000 characters, a new string each time (as JSON.parse makes them). */
function longBody (i: number, tail: string): string {
  return JSON.parse(JSON.stringify(`${'filler '.repeat(3000)}${tail}${i}`)) as string
}

/**
 * Heap bytes each kept string holds once its message is gone: `keep` cuts one
 * string out of each of `count` long bodies. A view of its body would hold
 * the body's 20 KB; a string of its own holds tens of bytes.
 */
function heldPerKept (count: number, keep: (i: number) => string): number {
  const kept: string[] = []
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < count; i++) kept.push(keep(i))
  gc()
  const after = process.memoryUsage().heapUsed
  assert.equal(kept.length, count)
  return (after - before) / count
}

describe('kept words and emotes do not hold their message alive', () => {
  it('ownSlice cuts a string of its own, equal to the slice', () => {
    const source = 'x'.repeat(100) + 'abcdefghijklmnopqrstuvwxyz\u{1F600}\ud800'
    for (const [start, end] of [[100, 126], [100, 128], [100, 129], [0, 5], [0, source.length]] as const) {
      assert.equal(ownSlice(source, start, end), source.slice(start, end))
    }
    assert.ok(heldPerKept(500, (i) => { const body = longBody(i, 'longwordnumber'); return ownSlice(body, body.length - 20, body.length) }) < 1000)
  })

  it('a long word, as the tokenizer cuts it', () => {
    const held = heldPerKept(500, (i) => {
      let last = ''
      forEachWord(longBody(i, ' longwordnumber'), (word) => { last = word })
      assert.match(last, /^longwordnumber\d+$/)
      return last
    })
    assert.ok(held < 1000, `${held} B held per kept word`)
  })

  it('a long emote, as the emote tag cuts it', () => {
    const held = heldPerKept(500, (i) => {
      const body = longBody(i, ' SomeLongEmoteName')
      const start = body.lastIndexOf(' ') + 1
      let emote = ''
      forEachEmote(body, `25:${start}-${body.length - 1}`, (e) => { emote = e }, 1024)
      assert.match(emote, /^SomeLongEmoteName\d+$/)
      return emote
    })
    assert.ok(held < 1000, `${held} B held per kept emote`)
  })
})
