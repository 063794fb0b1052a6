import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { StreamParser, type StreamSink } from '../../src/ingest/stream-parser.js'

type Out =
  | { kind: 'event', data: string, id: string }
  | { kind: 'failure', raw: string, reason: string, id: string }
  | { kind: 'skipped', type: string, id: string }
  | { kind: 'retry', ms: number }

function collector (): { sink: StreamSink, out: Out[] } {
  const out: Out[] = []
  return {
    out,
    sink: {
      onEvent: (data, id) => out.push({ kind: 'event', data, id }),
      onFailure: (raw, reason, id) => out.push({ kind: 'failure', raw, reason, id }),
      onSkipped: (type, id) => out.push({ kind: 'skipped', type, id }),
      onRetry: (ms) => out.push({ kind: 'retry', ms })
    }
  }
}

function parse (chunks: Array<Buffer | string>, options: { maxEventBytes?: number, dispatchPending?: boolean } = {}): Out[] {
  const { sink, out } = collector()
  const parser = new StreamParser(sink, { maxEventBytes: options.maxEventBytes })
  for (const chunk of chunks) parser.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  parser.end(options.dispatchPending ?? false)
  return out
}

// The three real events shown in docs/COUNTING.md#the-input-stream.
const REFERENCE_EVENTS = [
  'event: privmsg\nse-data: {"command":"","room":"#yulayabgu","nick":"scropion77","target":"","body":"kap gel başkan","tags":"badge-info=subscriber/1;badges=subscriber/0,premium/1;client-nonce=58c4b417b26ce0d950ac86b72b2419a8;color=;display-name=Scropion77;emotes=;first-msg=0;flags=;id=60c03875-bcf2-466f-bead-36606ca0480a;mod=0;room-id=90963543;subscriber=1;tmi-sent-ts=1641241341776;turbo=0;user-id=687024524;user-type="}\n\n',
  'event: privmsg\nse-data: {"command":"CLEARCHAT","room":"","nick":"","target":"#forsen","body":"dashh_u","tags":"ban-duration=10;room-id=22484632;target-user-id=604459688;tmi-sent-ts=1641241346033"}\n\n',
  'event: privmsg\nse-data: {"command":"USERNOTICE","room":"","nick":"gustavop0ferraz","target":"#sanmery_","body":"Feliz Natal! Feliz ano novo! Feliz aniversário pra aniversariantes! E um bom desaniversário pro resto!","tags":"badge-info=subscriber/8;...;msg-id=resub;...;tmi-sent-ts=1641241639865;user-id=489477743;user-type="}\n\n'
]

describe('StreamParser', () => {
  it('reads the reference events split at every byte offset, in every line-ending style', () => {
    for (const ending of ['\n', '\r\n', '\r']) {
      const text = '\ufeff' + REFERENCE_EVENTS.join('').replaceAll('\n', ending)
      const bytes = Buffer.from(text)
      const whole = parse([bytes])
      assert.equal(whole.length, 3)
      assert.ok(whole.every((o) => o.kind === 'event'))
      for (let cut = 0; cut <= bytes.length; cut++) {
        assert.deepEqual(parse([bytes.subarray(0, cut), bytes.subarray(cut)]), whole, `cut at ${cut} with ${JSON.stringify(ending)}`)
      }
      // Two cuts, one byte apart: splits inside multi-byte characters and CRLF pairs.
      for (let cut = 0; cut + 1 <= bytes.length; cut += 7) {
        assert.deepEqual(parse([bytes.subarray(0, cut), bytes.subarray(cut, cut + 1), bytes.subarray(cut + 1)]), whole)
      }
    }
  })

  it('reads one byte at a time', () => {
    const bytes = Buffer.from(REFERENCE_EVENTS.join(''))
    const chunks = [...bytes].map((b) => Buffer.from([b]))
    assert.deepEqual(parse(chunks), parse([bytes]))
  })

  it('reads the reference sample: 14 events, two of them malformed JSON (left to the decoder)', () => {
    const out = parse([readFileSync(new URL('../fixtures/reference-sample.sse', import.meta.url))])
    assert.equal(out.length, 14)
    assert.ok(out.every((o) => o.kind === 'event'))
  })

  it('joins several data lines with \\n and treats se-data like data', () => {
    assert.deepEqual(parse(['data: a\nse-data: b\ndata:c\n\n']), [{ kind: 'event', data: 'a\nb\nc', id: '' }])
  })

  it('keeps the last event id across events and reports retry', () => {
    assert.deepEqual(parse(['id: 1\ndata: x\n\ndata: y\n\nretry: 1500\nid: 7\ndata: z\n\n']), [
      { kind: 'event', data: 'x', id: '1' },
      { kind: 'event', data: 'y', id: '1' },
      { kind: 'retry', ms: 1500 },
      { kind: 'event', data: 'z', id: '7' }
    ])
  })

  it('skips comments, events of other types, and blank events', () => {
    assert.deepEqual(parse([': keep-alive\n\nevent: ping\ndata: {}\nid: 3\n\n\n\nevent: privmsg\ndata: {"a":1}\n\n']), [
      { kind: 'skipped', type: 'ping', id: '3' },
      { kind: 'event', data: '{"a":1}', id: '3' }
    ])
  })

  it('reads NDJSON lines as events', () => {
    assert.deepEqual(parse(['{"nick":"a"}\n{"nick":"b"}\r\n{"nick":"c"}']), [
      { kind: 'event', data: '{"nick":"a"}', id: '' },
      { kind: 'event', data: '{"nick":"b"}', id: '' },
      { kind: 'event', data: '{"nick":"c"}', id: '' }
    ])
  })

  it('drops an event cut by the end of a connection, but dispatches it at the end of a file', () => {
    assert.deepEqual(parse(['data: x\n']), [])
    assert.deepEqual(parse(['data: x\n'], { dispatchPending: true }), [{ kind: 'event', data: 'x', id: '' }])
  })

  it('turns a line that never ends into one failed message with bounded memory', () => {
    const { sink, out } = collector()
    const parser = new StreamParser(sink, { maxEventBytes: 1024 })
    const chunk = Buffer.alloc(64 * 1024, 'a')
    parser.push(Buffer.from('data: '))
    for (let i = 0; i < 200; i++) parser.push(chunk) // 12.8 MB without a newline
    const internal = parser as unknown as { partialBytes: number, partial: Buffer[] }
    assert.equal(internal.partialBytes, 0)
    assert.equal(internal.partial.length, 0)
    parser.push(Buffer.from('\n\ndata: ok\n\n'))
    parser.end(false)
    assert.equal(out.length, 2)
    assert.equal(out[0]?.kind, 'failure')
    assert.match((out[0] as { reason: string }).reason, /MAX_EVENT_BYTES/)
    assert.ok((out[0] as { raw: string }).raw.length <= 2048)
    assert.deepEqual(out[1], { kind: 'event', data: 'ok', id: '' })
  })

  it('fails an event whose data lines add up past the limit, once', () => {
    const line = 'data: ' + 'x'.repeat(400) + '\n'
    const out = parse([line.repeat(10) + '\n' + 'data: next\n\n'], { maxEventBytes: 1024 })
    assert.equal(out.filter((o) => o.kind === 'failure').length, 1)
    assert.deepEqual(out.at(-1), { kind: 'event', data: 'next', id: '' })
  })

  it('fails invalid UTF-8 and goes on', () => {
    const bad = Buffer.concat([Buffer.from('data: {"body":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}\n\ndata: {}\n\n')])
    const out = parse([bad])
    assert.equal(out.length, 2)
    assert.equal(out[0]?.kind, 'failure')
    assert.equal((out[0] as { reason: string }).reason, 'invalid UTF-8')
    assert.deepEqual(out[1], { kind: 'event', data: '{}', id: '' })
  })

  it('fails garbage lines but ignores unknown SSE fields', () => {
    const out = parse(['\x00\x01garbage here\nx-custom: 1\ndata: {}\n\n'])
    assert.deepEqual(out.map((o) => o.kind), ['failure', 'event'])
  })

  it('survives random bytes in random chunks without throwing', () => {
    let seed = 42
    const random = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
    const bytes = Buffer.alloc(200_000)
    for (let i = 0; i < bytes.length; i++) bytes[i] = random() < 0.05 ? 10 : Math.floor(random() * 256)
    const { sink } = collector()
    const parser = new StreamParser(sink, { maxEventBytes: 4096 })
    let at = 0
    while (at < bytes.length) {
      const n = 1 + Math.floor(random() * 5000)
      parser.push(bytes.subarray(at, at + n))
      at += n
    }
    parser.end(true)
  })
})
