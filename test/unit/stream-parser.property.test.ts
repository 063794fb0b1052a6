import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { StreamParser } from '../../src/ingest/stream-parser.js'

type Out = [kind: string, a: string, b: string]

function run (chunks: Buffer[], maxEventBytes = 4096): Out[] {
  const out: Out[] = []
  const parser = new StreamParser({
    onEvent: (data, id) => out.push(['event', data, id]),
    onFailure: (raw, reason, id) => out.push(['failure', reason, id + '|' + raw.length]),
    onSkipped: (type, id) => out.push(['skipped', type, id])
  }, { maxEventBytes })
  for (const chunk of chunks) parser.push(chunk)
  parser.end(true)
  return out
}

/** Splits `bytes` at the given (sorted, deduplicated) offsets. */
function split (bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let at = 0
  for (const point of points) { chunks.push(bytes.subarray(at, point)); at = point }
  chunks.push(bytes.subarray(at))
  return chunks
}

const text = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' '))
const event = fc.record({
  type: fc.constantFrom('', 'privmsg', 'ping'),
  id: fc.option(fc.stringMatching(/^[0-9a-z-]{1,12}$/), { nil: undefined }),
  data: fc.array(text, { minLength: 1, maxLength: 3 }),
  field: fc.constantFrom('data', 'se-data')
})
const ending = fc.constantFrom('\n', '\r\n', '\r')

describe('StreamParser properties', () => {
  it('never throws on arbitrary bytes in arbitrary chunks', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 1, max: 600 }), (bytes, cuts, max) => {
      run(split(Buffer.from(bytes), cuts), max)
    }), { numRuns: 500 })
  })

  it('gives the same events however a valid stream is chunked', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 6 }), ending, fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (events, eol, bom, cuts) => {
      const body = events.map((e) => [
        ...(e.type === '' ? [] : [`event: ${e.type}`]),
        ...(e.id === undefined ? [] : [`id: ${e.id}`]),
        ...e.data.map((d) => `${e.field}: ${d}`)
      ].join(eol) + eol + eol).join('')
      const bytes = Buffer.from((bom ? '\ufeff' : '') + body)
      const whole = run([bytes])
      assert.deepEqual(run(split(bytes, cuts)), whole)
      // And every event comes out once, with its data joined by \n.
      assert.equal(whole.length, events.length)
      events.forEach((e, i) => {
        const got = whole[i]
        assert.ok(got !== undefined, `event ${i} missing`)
        if (e.type === 'ping') assert.equal(got[0], 'skipped', 'a ping is skipped')
        else assert.deepEqual(got.slice(0, 2), ['event', e.data.join('\n').replace(/^\ufeff/, '')])
      })
    }), { numRuns: 300 })
  })
})
