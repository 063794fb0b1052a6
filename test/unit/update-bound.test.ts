import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HAS_WIDE_WHITE_SPACE, isWideWhiteSpace } from '../../src/model/tokenize.js'
import { generateRange } from '../../src/simulator/generator.js'
import { Random } from '../../src/simulator/prng.js'
import { BatchBuilder, maxUpdatesOf } from '../../src/worker/batch-builder.js'

/** One fixed clock: events without a tmi-sent-ts land in one second. */
const NOW = 1_700_000_000_000

/** The updates `data` adds to a fresh builder: the most it can add (every slice, room and member is new). */
function updatesOf (data: string): number {
  const builder = new BatchBuilder(() => NOW)
  builder.addEvent(data, '')
  return builder.pendingUpdates
}

function assertBounded (data: string): void {
  const updates = updatesOf(data)
  const bound = maxUpdatesOf(data)
  assert.ok(updates <= bound, `${updates} updates, bound ${bound}: ${data.slice(0, 300)}`)
}

/** White space the tokenizer splits on, as raw JSON text: a space, escapes, and raw characters above ASCII. */
const SEPARATORS = [' ', '\\n', '\\t', '\\r', '\\u0020', '\\u00a0', '\\u3000', '\u00a0', '\u2003', '\u3000', '\u0085', '\u2028', '\\f', '\\u000b']

/** Distinct one-character words: letters of many scripts, each its own member. */
function letter (i: number): string {
  return String.fromCodePoint(0x4e00 + i)
}

/** A JSON string literal of `text` with every character written as \uXXXX, so the text holds no raw dash or space. */
function escapedLiteral (text: string): string {
  return '"' + [...text].map((c) => [...c].map((_, k) => '\\u' + c.charCodeAt(k).toString(16).padStart(4, '0')).join('')).join('') + '"'
}

describe('maxUpdatesOf: what an event on its way to the counting thread is charged', () => {
  it('bounds what every event of the simulator adds, and stays near its real cost (not one update per character)', () => {
    let charged = 0
    let added = 0
    let chars = 0
    for (const seed of [1, 2, 3]) {
      for (const block of generateRange(seed, 1, 3000).split('\n\n')) {
        const line = block.split('\n').find((l) => l.startsWith('data: ') || l.startsWith('se-data: '))
        if (line === undefined) continue
        const data = line.slice(line.indexOf(': ') + 2)
        assertBounded(data)
        charged += maxUpdatesOf(data)
        added += updatesOf(data)
        chars += data.length
      }
    }
    assert.ok(added > 0)
    // Informative bounds on the bound: it charges several times less than a character each.
    assert.ok(charged * 4 < chars, `charged ${charged} for ${chars} characters`)
    assert.ok(charged < added * 4, `charged ${charged} for ${added} updates`)
  })

  it('bounds hostile events: as many distinct words and emotes as the text can hold, split by every kind of white space, escaped or raw', () => {
    const random = new Random(7)
    for (let round = 0; round < 600; round++) {
      const words = 1 + random.int(200)
      const separator = SEPARATORS[random.int(SEPARATORS.length)] as string
      let body = ''
      for (let i = 0; i < words; i++) body += (i > 0 ? separator : '') + letter(i + round)
      // Emotes: one range per character of a run of distinct letters, each its own member.
      const emoteRun = Array.from({ length: 1 + random.int(100) }, (_, i) => letter(5000 + i)).join('')
      const start = [...JSON.parse(`"${body}"`) as string].length + 1
      const ranges = Array.from({ length: emoteRun.length }, (_, i) => `${start + i}-${start + i}`).join(',')
      const escapeTags = random.int(2) === 0
      const tags = `emotes=1:${ranges};tmi-sent-ts=${NOW}`
      const tagsLiteral = escapeTags ? escapedLiteral(tags) : JSON.stringify(tags)
      const data = `{"command":"","room":"#r${round}","nick":"n${round}","target":"","body":"${body} ${emoteRun}","tags":${tagsLiteral}}`
      JSON.parse(data)
      assertBounded(data)
    }
  })

  it('bounds the smallest events, system events, refused commands and text that is not an event', () => {
    for (const data of [
      '{"nick":"n"}',
      '{"nick":"n","room":"#r"}',
      '{"command":"CLEARCHAT","room":"#r"}',
      '{"command":"C","target":"#t","tags":"tmi-sent-ts=1"}',
      `{"command":"${'C'.repeat(40)}","room":"#r"}`,
      '{}',
      '',
      '{not json',
      '[1,2,3]',
      '{"nick":"n","body":' + escapedLiteral('a b c d e f-g') + '}',
      `{"nick":"n","body":"${Array.from({ length: 300 }, (_, i) => letter(i)).join('\u3000')}"}`,
      // The emotes tag last (its value ends at the quote), twice, or in a tags key given twice.
      `{"nick":"n","body":"${Array.from({ length: 40 }, (_, i) => letter(i)).join('')}","tags":"a=1;emotes=${Array.from({ length: 40 }, (_, i) => `${i}:${i}-${i}`).join('/')}"}`,
      `{"nick":"n","body":"${Array.from({ length: 40 }, (_, i) => letter(i)).join('')}","tags":"emotes=;x=emotes=0-0","tags":"emotes=1:${Array.from({ length: 40 }, (_, i) => `${i}-${i}`).join(',')}"}`
    ]) assertBounded(data)
  })

  it('HAS_WIDE_WHITE_SPACE finds exactly the characters the tokenizer splits on above ASCII', () => {
    for (let c = 128; c < 65536; c++) {
      assert.equal(HAS_WIDE_WHITE_SPACE.test(String.fromCharCode(c)), isWideWhiteSpace(c), `U+${c.toString(16)}`)
    }
  })
})
