import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { StreamParser } from '../../src/ingest/stream-parser.js'
import { classifyPayload, decodePayload } from '../../src/model/payload.js'
import { tokenize } from '../../src/model/tokenize.js'
import { emotesOf } from '../../src/model/emotes.js'
import {
  EVENT_MIX, expectedCounts, expectedCountsToJson, generateEvent, generateEventWithIntent, generateRange,
  intendedCounts, resumeIndex, runSimulateCommand, SimulatorOptionError, topEntries, writeCapture,
  type ExpectedCounts
} from '../../src/simulator/index.js'
import { EMOTES, isCanonicalWord, NICKS, ROOMS, VOCABULARY, VOCABULARY_SIZE } from '../../src/simulator/vocabulary.js'
import { Random, Zipf } from '../../src/simulator/prng.js'

/** What the project's parser makes of one event's text, read on its own. */
function parseAlone (text: string): { data: string[], failures: number, skipped: number, lastEventId: string } {
  const data: string[] = []
  let failures = 0
  let skipped = 0
  const parser = new StreamParser({
    onEvent: (event) => data.push(event),
    onFailure: () => { failures++ },
    onSkipped: () => { skipped++ }
  })
  parser.push(Buffer.from(text, 'utf8'))
  parser.end(false)
  return { data, failures, skipped, lastEventId: parser.lastEventId }
}

/** Emote ranges of a tag resolved in code points, independently of src/model/emotes.ts. */
function emoteRanges (body: string, tag: string): Array<{ id: string, start: number, end: number, text: string | null }> {
  const codePoints = Array.from(body)
  const out: Array<{ id: string, start: number, end: number, text: string | null }> = []
  for (const entry of tag === '' ? [] : tag.split('/')) {
    const [id, ranges] = entry.split(':')
    if (id === undefined || ranges === undefined) continue
    for (const range of ranges.split(',')) {
      const match = /^(\d+)-(\d+)$/.exec(range)
      if (match === null) continue
      const start = Number(match[1])
      const end = Number(match[2])
      out.push({ id, start, end, text: end >= start && end < codePoints.length ? codePoints.slice(start, end + 1).join('') : null })
    }
  }
  return out
}

function tagValue (tags: string, key: string): string {
  for (const pair of tags.split(';')) if (pair.startsWith(key + '=')) return pair.slice(key.length + 1)
  return ''
}

describe('simulator generator', () => {
  it('is a pure function of (seed, index)', () => {
    for (const index of [1, 2, 17, 1000, 123_456, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      assert.equal(generateEvent(42, index), generateEvent(42, index))
    }
    // Order of generation does not matter: event 500 alone equals event 500 within a range.
    const range = generateRange(9, 498, 502)
    assert.ok(range.includes(generateEvent(9, 500)), 'event 500 inside its range')
    assert.equal(range, [498, 499, 500, 501, 502].map((i) => generateEvent(9, i)).join(''))
  })

  it('gives different streams for different seeds', () => {
    let same = 0
    for (let index = 1; index <= 200; index++) if (generateEvent(1, index) === generateEvent(2, index)) same++
    assert.equal(same, 0)
  })

  it('writes every event in the reference format with its id', () => {
    const lengths: number[] = []
    for (let index = 1; index <= 5000; index++) {
      const text = generateEvent(5, index)
      const at = text.indexOf('event: privmsg\nid: ')
      assert.ok(at >= 0, `event ${index} has no privmsg header`)
      const preamble = text.slice(0, at)
      assert.ok(preamble === '' || preamble === ': keep-alive\n\n' || /^event: ping\ndata: \{"ts":\d+\}\n\n$/.test(preamble), `event ${index} preamble ${JSON.stringify(preamble)}`)
      const event = text.slice(at)
      const match = /^event: privmsg\nid: (\d+)\nse-data: ([^\r\n]*)\n\n$/.exec(event)
      assert.ok(match !== null, `event ${index} is not one privmsg event: ${JSON.stringify(event)}`)
      assert.equal(match[1], String(index))
      lengths.push(Buffer.byteLength(event))
    }
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length
    assert.ok(mean > 300 && mean < 550, `mean event size ${mean} bytes`)
  })

  it('rejects a bad seed or index with a clear error', () => {
    assert.throws(() => generateEvent(-1, 1), /seed must be an integer from 0 to 4294967295/)
    assert.throws(() => generateEvent(2 ** 32, 1), /seed/)
    assert.throws(() => generateEvent(1, 0), /event index must be a whole number from 1/)
    assert.throws(() => generateEvent(1, 1.5), /event index/)
  })

  it('builds events that parse as docs/COUNTING.md says, and as the generator meant', () => {
    const mix = { chat: 0, system: 0, failed: 0, skipped: 0, keepAlive: 0 }
    const malformations = new Set<string>()
    for (let index = 1; index <= 20_000; index++) {
      const { text, intent, skippedBefore } = generateEventWithIntent(11, index)
      const parsed = parseAlone(text)
      // Every event carries its id, the malformed ones included.
      assert.equal(parsed.lastEventId, String(index))
      assert.equal(parsed.failures, 0, `event ${index}: framing failure`)
      assert.equal(parsed.skipped, skippedBefore)
      assert.equal(parsed.data.length, 1)
      if (text.startsWith(': keep-alive')) mix.keepAlive++
      mix.skipped += skippedBefore
      const decoded = decodePayload(parsed.data[0] as string)
      if (intent.kind === 'failed') {
        assert.equal(decoded.ok, false, `event ${index} should be malformed (${intent.malformation})`)
        malformations.add(intent.malformation)
        mix.failed++
        continue
      }
      assert.ok(decoded.ok, `event ${index} should decode: ${parsed.data[0] as string}`)
      const event = classifyPayload(decoded.payload)
      if (intent.kind === 'system') {
        assert.deepEqual(event, { kind: 'system', command: intent.command, room: intent.room })
        mix.system++
        continue
      }
      mix.chat++
      assert.equal(event.kind, 'chat')
      if (event.kind !== 'chat') continue
      assert.equal(event.nick, intent.nick)
      assert.equal(event.room, intent.room)
      assert.equal(decoded.payload.command, intent.command)
      // The cross-check: the project's word and emote rules find exactly what the generator put in.
      assert.deepEqual(tokenize(event.body), intent.words, `words of event ${index}: ${JSON.stringify(event.body)}`)
      // The tag groups ranges by emote id, so compare emotes as multisets.
      assert.deepEqual(emotesOf(event.body, event.tags).sort(), [...intent.emotes].sort(), `emotes of event ${index}: ${JSON.stringify(event.body)} ${tagValue(event.tags, 'emotes')}`)
    }
    assert.deepEqual([...malformations].sort(), ['invalid-json', 'not-an-object', 'truncated-json', 'wrong-field-type'])
    // The designed shares, loosely (20,000 draws): malformed 0.5%, system events ~2%, keep-alives 0.4%, pings 0.2%.
    assert.ok(mix.failed > 60 && mix.failed < 140, `failed ${mix.failed}`)
    const systemShare = EVENT_MIX.clearchat + EVENT_MIX.clearmsg + EVENT_MIX.notice + EVENT_MIX.roomstate + EVENT_MIX.usernoticeSystem + EVENT_MIX.privmsgWithoutNick
    assert.ok(mix.system > systemShare * 20_000 * 0.75 && mix.system < systemShare * 20_000 * 1.25, `system ${mix.system}`)
    assert.ok(mix.keepAlive > 40 && mix.keepAlive < 130, `keep-alives ${mix.keepAlive}`)
    assert.ok(mix.skipped > 15 && mix.skipped < 70, `pings ${mix.skipped}`)
  })

  it('puts emote ranges on the emote text, counted in code points', () => {
    const emoteIds = new Map(EMOTES.map((emote) => [emote.id, emote.text]))
    let withEmotes = 0
    let astralBeforeEmote = 0
    let brokenEntries = 0
    for (let index = 1; index <= 20_000; index++) {
      const { text, intent } = generateEventWithIntent(3, index)
      if (intent.kind !== 'chat') continue
      const data = parseAlone(text).data[0] as string
      const payload = JSON.parse(data) as { body: string, tags: string }
      const tag = tagValue(payload.tags, 'emotes')
      if (tag === '') continue
      withEmotes++
      for (const range of emoteRanges(payload.body, tag)) {
        if (range.text === null || !emoteIds.has(range.id)) {
          brokenEntries++
          continue
        }
        assert.equal(range.text, emoteIds.get(range.id), `event ${index}: ${range.id}:${range.start}-${range.end} in ${JSON.stringify(payload.body)}`)
        // Counting UTF-16 units instead would land elsewhere when an astral character comes first.
        if (payload.body.slice(range.start, range.end + 1) !== range.text) astralBeforeEmote++
      }
    }
    assert.ok(withEmotes > 2000, `messages with emotes: ${withEmotes}`)
    assert.ok(astralBeforeEmote > 100, `emotes after astral characters: ${astralBeforeEmote}`)
    assert.ok(brokenEntries > 0, 'some tags carry an entry to skip')
  })

  it('draws rooms, nicks and words with a Zipf shape', () => {
    const counts = expectedCounts(21, 30_000)
    const rooms = topEntries(counts.rooms, 10)
    const topRoomShare = (rooms[0]?.count ?? 0) / counts.messages
    const topTenShare = rooms.reduce((sum, entry) => sum + entry.count, 0) / counts.messages
    assert.ok(topRoomShare > 0.08, `top room share ${topRoomShare}`)
    assert.ok(topTenShare > 0.3 && topTenShare < 0.8, `top ten rooms share ${topTenShare}`)
    assert.ok(counts.rooms.size > 1000, `distinct rooms ${counts.rooms.size}`)
    assert.ok(counts.nicks.size > 10_000, `distinct nicks ${counts.nicks.size}`)
    assert.ok(counts.words.size > 3000, `distinct words ${counts.words.size}`)
    const words = topEntries(counts.words, 3)
    assert.equal(words[0]?.value, 'lol')
    // Non-ASCII words are counted as typed: accents, Korean, Cyrillic, emoji, <3.
    for (const word of ['ㅋㅋㅋ', 'não', 'başkan', 'привет', '😂', '<3', 'don\'t']) assert.ok((counts.words.get(word) ?? 0) > 0, word)
    assert.ok((counts.emotes.get('Kappa') ?? 0) > 0 && (counts.emotes.get('<3') ?? 0) > 0, 'Kappa and <3 counted as emotes')
    // Per-room nick lists stay well below MAX_TRACKED_PER_ROOM's default of 10,000.
    for (const detail of counts.roomDetail.values()) assert.ok(detail.nicks.size <= 8000, `room nicks ${detail.nicks.size}`)
  })

  it('uses a vocabulary of canonical words, rooms and nicks as specified', () => {
    assert.equal(VOCABULARY.length, VOCABULARY_SIZE)
    assert.equal(new Set(VOCABULARY.map((entry) => entry.word)).size, VOCABULARY_SIZE)
    for (const entry of VOCABULARY) {
      assert.ok(isCanonicalWord(entry.word), entry.word)
      for (const typed of [entry.capitalized, entry.upper, entry.decomposed?.word, entry.decomposed?.capitalized, entry.decomposed?.upper]) {
        if (typed != null) assert.deepEqual(tokenize(typed), [entry.word], `${typed} should read as ${entry.word}`)
      }
    }
    assert.ok(VOCABULARY.some((entry) => /[\u0080-\u{10ffff}]/u.test(entry.word)), 'some non-ASCII words')
    assert.ok(VOCABULARY.filter((entry) => entry.decomposed !== null).length > 200, 'some words with a decomposed spelling')
    assert.equal(new Set(ROOMS).size, ROOMS.length)
    assert.ok(ROOMS.every((room) => /^#[a-z0-9_]+$/.test(room)), 'room names')
    assert.ok(ROOMS.length >= 1000 && NICKS.length >= 10_000, 'pool sizes')
    assert.ok(NICKS.every((nick) => /^[a-z0-9][a-z0-9_]{2,24}$/.test(nick)), 'nick names')
  })

  it('samples a Zipf law from its table', () => {
    const zipf = new Zipf(100, 1)
    const random = new Random(7)
    const hits = new Array<number>(100).fill(0)
    for (let i = 0; i < 50_000; i++) hits[zipf.sample(random)]!++
    // Rank 1 is drawn twice as often as rank 2, ten times as often as rank 10.
    assert.ok(Math.abs(hits[0]! / hits[1]! - 2) < 0.2, `rank 1 / rank 2 = ${hits[0]! / hits[1]!}`)
    assert.ok(Math.abs(hits[0]! / hits[9]! - 10) < 2, `rank 1 / rank 10 = ${hits[0]! / hits[9]!}`)
    for (let i = 0; i < 1000; i++) assert.ok(zipf.sample(random, 5) < 5, 'truncated sample within its limit')
    assert.throws(() => new Zipf(0, 1), /positive integer/)
  })
})

describe('simulator expected counts', () => {
  it('agree with what the generator meant (parser and rules cross-checked)', () => {
    const parsed = expectedCounts(4, 5000)
    const intended = intendedCounts(4, 5000)
    assert.deepEqual(parsed, intended)
    assert.ok(parsed.messages > 4500, `messages ${parsed.messages}`)
    assert.ok(parsed.failed > 0 && parsed.skipped > 0, 'some failed and skipped events')
  })

  it('account for every event exactly once', () => {
    const counts = expectedCounts(8, 10_000)
    const systemEvents = [...counts.events.values()].reduce((a, b) => a + b, 0)
    assert.equal(counts.messages + systemEvents + counts.failed, 10_000)
    assert.equal(counts.lastEventId, '10000')
    assert.deepEqual([...counts.events.keys()].sort(), ['CLEARCHAT', 'CLEARMSG', 'NOTICE', 'PRIVMSG', 'ROOMSTATE', 'USERNOTICE'])
    // Rooms add up: every message with a room is in its room's detail.
    let roomMessages = 0
    for (const detail of counts.roomDetail.values()) roomMessages += detail.messages
    assert.equal(roomMessages, [...counts.rooms.values()].reduce((a, b) => a + b, 0))
    assert.equal(roomMessages, counts.messages)
    // Moderation events land in their room's detail.
    let roomClearchats = 0
    for (const detail of counts.roomDetail.values()) roomClearchats += detail.events.get('CLEARCHAT') ?? 0
    assert.equal(roomClearchats, counts.events.get('CLEARCHAT'))
  })

  it('count 0 is empty, a bad count is an error', () => {
    const counts = expectedCounts(1, 0)
    assert.equal(counts.messages, 0)
    assert.equal(counts.lastEventId, '')
    assert.throws(() => expectedCounts(1, -1), /count must be a whole number/)
  })

  it('serialise with every key in code-point order', () => {
    const counts: ExpectedCounts = {
      seed: 1,
      count: 2,
      messages: 2,
      failed: 0,
      skipped: 0,
      lastEventId: '2',
      events: new Map([['CLEARCHAT', 1]]),
      words: new Map([['😂', 1], ['b', 2], ['100', 1], ['2', 3], ['\uffff', 1], ['a', 1]]),
      nicks: new Map([['x', 2]]),
      rooms: new Map([['#r', 2]]),
      emotes: new Map(),
      roomDetail: new Map([['#r', { messages: 2, words: new Map([['b', 1]]), nicks: new Map([['x', 2]]), emotes: new Map(), events: new Map() }]])
    }
    const json = expectedCountsToJson(counts)
    assert.equal(json,
      '{"count":2,"emotes":{},"events":{"CLEARCHAT":1},"failed":0,"lastEventId":"2","messages":2,"nicks":{"x":2},' +
      '"roomDetail":{"#r":{"emotes":{},"events":{},"messages":2,"nicks":{"x":2},"words":{"b":1}}},"rooms":{"#r":2},' +
      '"seed":1,"skipped":0,"words":{"100":1,"2":3,"a":1,"b":2,"\uffff":1,"😂":1}}')
    assert.equal((JSON.parse(json) as { words: Record<string, number> }).words['2'], 3)
  })
})

describe('simulator helpers', () => {
  it('resumeIndex reads Last-Event-ID', () => {
    assert.equal(resumeIndex(undefined, undefined), 1)
    assert.equal(resumeIndex('', 10), 1)
    assert.equal(resumeIndex('0', 10), 1)
    assert.equal(resumeIndex('5', 10), 6)
    assert.equal(resumeIndex(' 7 ', undefined), 8)
    assert.equal(resumeIndex('10', 10), 11)
    for (const bad of ['abc', '-1', '1.5', '1e3', '0x10', '11', '99999999999999999999']) {
      const result = resumeIndex(bad, 10)
      assert.equal(typeof result, 'object', bad)
      assert.match((result as { error: string }).error, /Last-Event-ID/)
    }
    assert.match((resumeIndex('abc', undefined) as { error: string }).error, /must be a whole number/)
    assert.match((resumeIndex('11', 10) as { error: string }).error, /out of range/)
  })

  it('writeCapture writes exactly the served text', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'chat-stats-capture-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'capture.sse')
    const result = await writeCapture(path, 6, 1500)
    const text = await readFile(path, 'utf8')
    assert.equal(text, generateRange(6, 1, 1500))
    assert.equal(result.bytes, Buffer.byteLength(text))
    await assert.rejects(writeCapture(join(dir, 'missing', 'x.sse'), 6, 10), /ENOENT/)
    await assert.rejects(writeCapture(path, -3, 10), /seed/)
  })

  it('simulate --expect prints the expected counts as JSON', async () => {
    let out = ''
    const stdout = { write: (text: string, callback?: (err?: Error | null) => void) => { out += text; callback?.(); return true } }
    await runSimulateCommand({ seed: '12', rate: '0', port: '0', count: '800', expect: true }, { stdout })
    assert.ok(out.endsWith('\n'), 'output ends with a newline')
    assert.equal(out, expectedCountsToJson(expectedCounts(12, 800)) + '\n')
    const parsed = JSON.parse(out) as { messages: number, count: number, words: Record<string, number> }
    assert.equal(parsed.count, 800)
    assert.ok(parsed.messages > 700 && (parsed.words.lol ?? 0) > 0, `messages ${parsed.messages}`)
  })

  it('simulate names a bad option', async () => {
    const stdout = { write: () => true }
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 0, expect: true }, { stdout }), (err: unknown) => err instanceof SimulatorOptionError && /--count/.test(err.message))
    await assert.rejects(runSimulateCommand({ seed: 'x', rate: 0, port: 0 }, { stdout }), /--seed must be a whole number/)
    await assert.rejects(runSimulateCommand({ seed: 1, rate: -5, port: 0 }, { stdout }), /--rate/)
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 70000 }, { stdout }), /--port/)
  })

  it('simulate serves until aborted and logs its URL', async () => {
    const lines: string[] = []
    const controller = new AbortController()
    let url = ''
    const done = runSimulateCommand({ seed: 1, rate: 0, port: 0, count: 3 }, {
      stdout: { write: (text: string) => { lines.push(text); return true } },
      signal: controller.signal,
      onListening: (handle) => { url = handle.url }
    })
    while (url === '') await new Promise((resolve) => setImmediate(resolve))
    const response = await fetch(url)
    assert.equal(await response.text(), generateRange(1, 1, 3))
    controller.abort()
    await done
    assert.equal(lines.length, 1)
    assert.match(lines[0] as string, /^simulator serving http:\/\/127\.0\.0\.1:\d+\/ \(seed 1, unpaced, 3 events\)\n$/)
    await assert.rejects(fetch(url))
  })
})
