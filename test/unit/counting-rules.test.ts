import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { emotesOf, emotesTag } from '../../src/model/emotes.js'
import { addCounts, incrementCount } from '../../src/model/counts.js'
import { eventTime, MAX_SENT_AHEAD_MS, sentTimestamp } from '../../src/model/event-time.js'
import { classifyPayload, cutRaw, decodePayload, type ChatPayload } from '../../src/model/payload.js'
import { tokenize } from '../../src/model/tokenize.js'
import { StreamParser } from '../../src/ingest/stream-parser.js'

const payload = (fields: Partial<ChatPayload>): ChatPayload =>
  ({ command: '', room: '', nick: '', target: '', body: '', tags: '', ...fields })

describe('tokenize (the examples of docs/COUNTING.md#words)', () => {
  const cases: Array<[string, string, string[]]> = [
    ['Hello, and hello are one word', 'Hello, hello', ['hello', 'hello']],
    ["don't stays don't", "don't", ["don't"]],
    ['@forsen is forsen', '@forsen', ['forsen']],
    [':) is no word', ':)', []],
    ['<3 is a word (symbols are not punctuation)', '<3', ['<3']],
    ['😂 is a word', '😂', ['😂']],
    ['ㅋㅋㅋ stays as typed', 'ㅋㅋㅋ', ['ㅋㅋㅋ']],
    ['é typed as e + U+0301 is é (NFC)', 'e\u0301', ['\u00e9']],
    ['lower-case is locale independent', 'İSTANBUL KAP GEL', ['i̇stanbul', 'kap', 'gel']],
    ['split on Unicode white space', 'a\u00a0b\u3000c\td\u2003e\u0085f', ['a', 'b', 'c', 'd', 'e', 'f']],
    ['strip leading and trailing punctuation only', '¡¿Qué?! «ok» (x) ...', ['qué', 'ok', 'x']],
    ['keep inner punctuation', 'a.b.c e-mail', ['a.b.c', 'e-mail']],
    ['drop longer than 64 code points', 'x'.repeat(64) + ' ' + 'y'.repeat(65), ['x'.repeat(64)]],
    ['64 astral code points are 128 UTF-16 units and still a word', '😂'.repeat(64), ['😂'.repeat(64)]],
    ['65 astral code points are dropped', '😂'.repeat(65), []],
    ['empty body', '', []],
    ['only spaces', '   \n ', []],
    ['braces are ordinary', '{ hi } {x}', ['hi', 'x']],
    ['the reference USERNOTICE body', 'Feliz Natal! Feliz ano novo!', ['feliz', 'natal', 'feliz', 'ano', 'novo']],
    ['kap gel başkan', 'kap gel başkan', ['kap', 'gel', 'başkan']]
  ]
  for (const [name, body, words] of cases) {
    it(name, () => assert.deepEqual(tokenize(body), words))
  }
})

describe('emotes', () => {
  const cases: Array<[string, string, string, string[]]> = [
    ['one emote twice', 'Kappa hi Kappa', 'emotes=25:0-4,9-13', ['Kappa', 'Kappa']],
    ['two emotes, case kept', 'LUL and PogChamp', 'emotes=425618:0-2/88:8-15', ['LUL', 'PogChamp']],
    ['code points, not UTF-16 units: emoji before the emote', '😂😂 Kappa', 'emotes=25:3-7', ['Kappa']],
    ['combining characters count as code points', 'e\u0301 Kappa', 'emotes=25:3-7', ['Kappa']],
    ['out of range is skipped', 'Kappa', 'emotes=25:0-4,3-9', ['Kappa']],
    ['end before start is skipped', 'Kappa', 'emotes=25:4-0', []],
    ['malformed entries are skipped', 'Kappa Kappa', 'emotes=25:0-4,x-y,6-/:1-2/25,6-10/25:6-10', ['Kappa', 'Kappa']],
    ['empty tag', 'Kappa', 'emotes=', []],
    ['tag in the middle', 'Kappa', 'color=;emotes=25:0-4;flags=', ['Kappa']],
    ['no emotes tag; similar names do not match', 'Kappa', 'emote-sets=25:0-4;emote-only=1', []]
  ]
  for (const [name, body, tags, emotes] of cases) {
    it(name, () => assert.deepEqual(emotesOf(body, tags), emotes))
  }
  it('finds the tag value', () => {
    assert.equal(emotesTag('a=1;emotes=1:0-1;b=2'), '1:0-1')
    assert.equal(emotesTag('emotes=1:0-1'), '1:0-1')
    assert.equal(emotesTag('xemotes=1:0-1'), '')
  })
})

describe('decodePayload', () => {
  const failures: Array<[string, string, string]> = [
    ['invalid JSON (the fixture)', '{"command":"","body":<you actually hear', 'invalid JSON'],
    ['not an object: array', '[1,2]', 'JSON is not an object'],
    ['not an object: null', 'null', 'JSON is not an object'],
    ['not an object: string', '"x"', 'JSON is not an object'],
    ['field of the wrong type', '{"body":5}', 'field "body" is not a string'],
    ['nick as an object', '{"nick":{}}', 'field "nick" is not a string'],
    ['empty data', '', 'invalid JSON']
  ]
  for (const [name, data, reason] of failures) {
    it(`fails: ${name}`, () => assert.deepEqual(decodePayload(data), { ok: false, reason }))
  }
  it('ignores unknown fields and defaults missing ones to ""', () => {
    assert.deepEqual(decodePayload('{"nick":"a","extra":[1],"body":"{}"}'), { ok: true, payload: payload({ nick: 'a', body: '{}' }) })
  })
  it('survives deeply nested JSON', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000)
    assert.deepEqual(decodePayload(deep), { ok: false, reason: 'JSON is not an object' })
  })
})

describe('classifyPayload', () => {
  const cases: Array<[string, Partial<ChatPayload>, ReturnType<typeof classifyPayload>]> = [
    ['plain chat message', { nick: 'a', room: '#r', body: 'hi' }, { kind: 'chat', nick: 'a', room: '#r', body: 'hi', tags: '' }],
    ['PRIVMSG command', { command: 'PRIVMSG', nick: 'a', room: '#r' }, { kind: 'chat', nick: 'a', room: '#r', body: '', tags: '' }],
    ['USERNOTICE with nick, room from target', { command: 'USERNOTICE', nick: 'a', target: '#t' }, { kind: 'chat', nick: 'a', room: '#t', body: '', tags: '' }],
    ['USERNOTICE without nick is a system event', { command: 'USERNOTICE', target: '#t' }, { kind: 'system', command: 'USERNOTICE', room: '#t' }],
    ['CLEARCHAT', { command: 'CLEARCHAT', target: '#forsen', body: 'dashh_u' }, { kind: 'system', command: 'CLEARCHAT', room: '#forsen' }],
    ['CLEARMSG with a nick is still a system event', { command: 'CLEARMSG', nick: 'a', target: '#r' }, { kind: 'system', command: 'CLEARMSG', room: '#r' }],
    ['empty command and empty nick: PRIVMSG system event', { room: '#r' }, { kind: 'system', command: 'PRIVMSG', room: '#r' }],
    ['ROOMSTATE', { command: 'ROOMSTATE', room: '#r', nick: 'x' }, { kind: 'system', command: 'ROOMSTATE', room: '#r' }],
    ['room wins over target', { nick: 'a', room: '#r', target: '#t' }, { kind: 'chat', nick: 'a', room: '#r', body: '', tags: '' }],
    ['no room at all', { nick: 'a' }, { kind: 'chat', nick: 'a', room: '', body: '', tags: '' }]
  ]
  for (const [name, fields, expected] of cases) {
    it(name, () => assert.deepEqual(classifyPayload(payload(fields)), expected))
  }

  it('the reference sample: 11 chat messages, 1 CLEARCHAT, 2 failed', () => {
    const kinds: string[] = []
    const parser = new StreamParser({
      onEvent: (data) => {
        const decoded = decodePayload(data)
        kinds.push(decoded.ok ? classifyPayload(decoded.payload).kind : 'failed')
      },
      onFailure: () => kinds.push('failed')
    })
    parser.push(readFileSync(new URL('../fixtures/reference-sample.sse', import.meta.url)))
    parser.end(true)
    assert.deepEqual(kinds.filter((k) => k === 'chat').length, 11)
    assert.deepEqual(kinds.filter((k) => k === 'system').length, 1)
    assert.deepEqual(kinds.filter((k) => k === 'failed').length, 2)
  })
})

describe('cutRaw', () => {
  it('keeps short text and cuts long text at 2 KiB of UTF-8 on a character boundary', () => {
    assert.equal(cutRaw('abc'), 'abc')
    const cut = cutRaw('é'.repeat(5000))
    assert.ok(Buffer.byteLength(cut) <= 2048)
    assert.equal(cut, 'é'.repeat(1024))
    assert.equal(Buffer.byteLength(cutRaw('😂'.repeat(1000))), 2048)
  })
})

describe('count maps', () => {
  it('incrementCount adds 1, or `by`, to one key', () => {
    const counts = new Map([['a', 2]])
    incrementCount(counts, 'a')
    incrementCount(counts, 'b', 5)
    assert.deepEqual([...counts], [['a', 3], ['b', 5]])
  })

  it('addCounts adds a map into another and leaves the source as it was', () => {
    const into = new Map([['a', 1], ['b', 2]])
    const from = new Map([['b', 3], ['c', 4]])
    addCounts(into, from)
    assert.deepEqual([...into], [['a', 1], ['b', 5], ['c', 4]])
    assert.deepEqual([...from], [['b', 3], ['c', 4]])
  })
})

describe('event time (docs/COUNTING.md#event-time)', () => {
  const arrival = 1_700_000_000_000
  const real = 'badge-info=subscriber/1;badges=subscriber/0,premium/1;color=;display-name=Scropion77;emotes=;id=60c03875;mod=0;room-id=90963543;subscriber=1;tmi-sent-ts=1699999990000;turbo=0;user-id=687024524;user-type='
  const cases: Array<[string, string, number]> = [
    ['the tag of a real message, 10 s old', real, 1_699_999_990_000],
    ['the tag first', 'tmi-sent-ts=1699999999123;mod=0', 1_699_999_999_123],
    ['the tag last', 'mod=0;tmi-sent-ts=1699999999123', 1_699_999_999_123],
    ['the only tag', 'tmi-sent-ts=1699999999123', 1_699_999_999_123],
    ['no tags: arrival', '', arrival],
    ['tag absent: arrival', 'mod=0;room-id=1', arrival],
    ['empty value: arrival', 'tmi-sent-ts=;mod=0', arrival],
    ['garbage value: arrival', 'tmi-sent-ts=12ab34;mod=0', arrival],
    ['negative: arrival', 'tmi-sent-ts=-5;mod=0', arrival],
    ['a decimal point: arrival', 'tmi-sent-ts=1699999999.5', arrival],
    ['too many digits to be a safe integer: arrival', 'tmi-sent-ts=99999999999999999999', arrival],
    ['a longer key that ends the same is not the tag', 'x-tmi-sent-ts=1699999999123', arrival],
    ['the text inside another value is not the tag', 'system-msg=tmi-sent-ts=1699999999123', arrival],
    ['exactly 5 s ahead: the tag', `tmi-sent-ts=${arrival + MAX_SENT_AHEAD_MS}`, arrival + MAX_SENT_AHEAD_MS],
    ['more than 5 s ahead: arrival', `tmi-sent-ts=${arrival + MAX_SENT_AHEAD_MS + 1}`, arrival],
    ['an hour ahead: arrival', `tmi-sent-ts=${arrival + 3_600_000}`, arrival],
    ['older than a day: still the tag (the store decides what its windows hold)', `tmi-sent-ts=${arrival - 2 * 86_400_000}`, arrival - 2 * 86_400_000]
  ]
  for (const [name, tags, expected] of cases) it(name, () => assert.equal(eventTime(tags, arrival), expected))

  it('sentTimestamp is -1 when there is no usable tag', () => {
    assert.equal(sentTimestamp('mod=0'), -1)
    assert.equal(sentTimestamp('tmi-sent-ts=x'), -1)
    assert.equal(sentTimestamp('tmi-sent-ts=0'), 0)
  })
})
