import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { ConfigError, ConfigSchema, loadConfig } from '../../src/config.js'
import { fileSource } from '../../src/ingest/sources.js'
import { emotesOf } from '../../src/model/emotes.js'
import { bytesOver, DEFAULT_MAX_NAME_BYTES } from '../../src/model/names.js'
import { decodePayload } from '../../src/model/payload.js'
import { intendedCounts } from '../../src/simulator/index.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'
import { Worker } from '../../src/worker/worker.js'

/**
 * MAX_NAME_BYTES (docs/COUNTING.md#long-names): a chat message whose nick or
 * room is longer, in UTF-8 bytes, is a failed message naming the field; an
 * emote that long is skipped and the message still counts.
 */

const chat = (fields: { nick?: string, room?: string, target?: string, body?: string, tags?: string, command?: string }): string =>
  JSON.stringify({ command: '', room: '', nick: '', target: '', body: '', tags: '', ...fields })

const reason = (field: string, bytes: number, max = 64): string => `field "${field}" is ${bytes} bytes, longer than MAX_NAME_BYTES (${max} bytes)`

describe('MAX_NAME_BYTES: nicks and rooms', () => {
  it('defaults to 64, the member size of the memory formula', () => {
    assert.equal(DEFAULT_MAX_NAME_BYTES, 64)
    assert.equal(loadConfig({}, null).MAX_NAME_BYTES, 64)
  })

  it('a nick or room of exactly the limit counts; one byte more fails with the field, its bytes and the setting', () => {
    assert.equal(decodePayload(chat({ nick: 'n'.repeat(64), room: '#' + 'r'.repeat(63) })).ok, true)
    assert.deepEqual(decodePayload(chat({ nick: 'n'.repeat(65), room: '#r' })), { ok: false, reason: reason('nick', 65) })
    assert.deepEqual(decodePayload(chat({ nick: 'n', room: '#' + 'r'.repeat(64) })), { ok: false, reason: reason('room', 65) })
  })

  it('the room is checked in the field it is taken from: target when room is empty', () => {
    assert.deepEqual(decodePayload(chat({ nick: 'n', target: '#' + 't'.repeat(64) })), { ok: false, reason: reason('target', 65) })
    // A long target beside a room is not the message's room.
    assert.equal(decodePayload(chat({ nick: 'n', room: '#r', target: '#' + 't'.repeat(100) })).ok, true)
  })

  it('counts UTF-8 bytes, not characters or UTF-16 units', () => {
    // é is 2 bytes, 日 3, 😂 4 (two UTF-16 units).
    assert.equal(decodePayload(chat({ nick: 'é'.repeat(32) })).ok, true)
    assert.deepEqual(decodePayload(chat({ nick: 'é'.repeat(32) + 'x' })), { ok: false, reason: reason('nick', 65) })
    assert.equal(decodePayload(chat({ nick: '日'.repeat(21) + 'x' })).ok, true)
    assert.deepEqual(decodePayload(chat({ nick: '日'.repeat(22) })), { ok: false, reason: reason('nick', 66) })
    assert.equal(decodePayload(chat({ nick: '😂'.repeat(16) })).ok, true)
    assert.deepEqual(decodePayload(chat({ nick: '😂'.repeat(16) + 'x' })), { ok: false, reason: reason('nick', 65) })
    for (const text of ['x'.repeat(21), 'x'.repeat(22), 'é'.repeat(32), 'é'.repeat(33), '日'.repeat(21), '日'.repeat(22), '😂'.repeat(16), '😂'.repeat(17), 'a😂'.repeat(13)]) {
      const bytes = Buffer.byteLength(text)
      assert.equal(bytesOver(text, 64), bytes > 64 ? bytes : 0, text)
    }
  })

  it('follows the setting', () => {
    assert.equal(decodePayload(chat({ nick: 'n'.repeat(100) }), 128).ok, true)
    assert.deepEqual(decodePayload(chat({ nick: 'n'.repeat(33) }), 32), { ok: false, reason: reason('nick', 33, 32) })
  })

  it('leaves system events alone: their names are no list members', () => {
    assert.equal(decodePayload(chat({ command: 'CLEARCHAT', target: '#' + 't'.repeat(500), body: 'x' })).ok, true)
    assert.equal(decodePayload(chat({ room: '#' + 'r'.repeat(500) })).ok, true)
  })
})

describe('MAX_NAME_BYTES: emotes', () => {
  it('an emote of exactly the limit counts; a longer one is skipped, the others and the message still count', () => {
    const at64 = 'E'.repeat(64)
    assert.deepEqual(emotesOf(`${at64} Kappa`, 'emotes=1:0-63/25:65-69'), [at64, 'Kappa'])
    const at65 = 'E'.repeat(65)
    assert.deepEqual(emotesOf(`${at65} Kappa`, 'emotes=1:0-64/25:66-70'), ['Kappa'])
    // A range over a whole 60 KB body.
    const body = 'Kappa ' + 'w'.repeat(60_000)
    assert.deepEqual(emotesOf(body, `emotes=25:0-4/9:0-${body.length - 1}`), ['Kappa'])
    assert.deepEqual(emotesOf(body, `emotes=9:0-${body.length - 1}`, 1024), [])
  })

  it('counts an emote in UTF-8 bytes, its range in code points', () => {
    // 16 emoji are 64 bytes (16 code points, 32 UTF-16 units); 17 are 68.
    assert.deepEqual(emotesOf('😂'.repeat(17), 'emotes=1:0-15'), ['😂'.repeat(16)])
    assert.deepEqual(emotesOf('😂'.repeat(17), 'emotes=1:0-16'), [])
    assert.deepEqual(emotesOf('é'.repeat(40), 'emotes=1:0-31,0-32'), ['é'.repeat(32)])
  })

  it('the batch builder counts the message and its words, and skips the long emote', () => {
    const builder = new BatchBuilder(() => 1_700_000_000_000)
    const long = 'L'.repeat(65)
    builder.addEvent(chat({ nick: 'ann', room: '#a', body: `${long} Kappa`, tags: 'emotes=1:0-64/25:66-70' }), '1')
    const batch = builder.take(1)
    assert.equal(batch.failedCount, 0)
    assert.equal(batch.slices[0]!.messages, 1)
    assert.deepEqual([...batch.slices[0]!.emotes], [['Kappa', 1]])
    // The word rule (64 code points) drops the 65-letter token too.
    assert.deepEqual([...batch.slices[0]!.words], [['kappa', 1]])
  })
})

describe('MAX_NAME_BYTES: the batch builder', () => {
  it('fails a chat message with a long nick or room, with the reason in the failed log, and counts nothing of it', () => {
    const builder = new BatchBuilder(() => 1_700_000_000_000)
    builder.addEvent(chat({ nick: 'ann', room: '#a', body: 'hi' }), '1')
    builder.addEvent(chat({ nick: 'n'.repeat(10_000), room: '#a', body: 'hello' }), '2')
    builder.addEvent(chat({ nick: 'bob', target: '#' + 'r'.repeat(10_000), body: 'hello' }), '3')
    const batch = builder.take(1)
    assert.equal(batch.failedCount, 2)
    assert.deepEqual(batch.failedLog.map((f) => f.reason), [reason('nick', 10_000), reason('target', 10_001)])
    assert.equal(batch.lastEventId, '3')
    assert.equal(batch.slices[0]!.messages, 1)
    assert.deepEqual([...batch.slices[0]!.nicks], [['ann', 1]])
    assert.deepEqual([...batch.slices[0]!.rooms], [['#a', 1]])
    assert.deepEqual([...batch.slices[0]!.words], [['hi', 1]])
    assert.deepEqual({ ...builder.tally }, { messages: 1, system: 0, failed: 2, skipped: 0 })
  })

  it('takes its limit from the constructor', () => {
    const builder = new BatchBuilder(() => 1_700_000_000_000, 1024)
    builder.addEvent(chat({ nick: 'n'.repeat(1000), room: '#a' }), '1')
    builder.addEvent(chat({ nick: 'n'.repeat(1025), room: '#a' }), '2')
    const batch = builder.take(1)
    assert.equal(batch.failedCount, 1)
    assert.equal(batch.failedLog[0]!.reason, reason('nick', 1025, 1024))
    assert.equal(batch.slices[0]!.messages, 1)
  })
})

describe('MAX_NAME_BYTES: the worker into the embedded store', () => {
  it('a stream with a 10 KB nick: one failed message in the totals and the log, and no such nick stored', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-name-bytes-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const longNick = 'x'.repeat(10_000)
    const lines = [
      chat({ nick: 'ann', room: '#a', body: 'hello world' }),
      chat({ nick: longNick, room: '#a', body: 'hello flood' }),
      chat({ nick: 'bob', room: '#a', body: 'hello' })
    ]
    const path = join(dir, 'capture.ndjson')
    writeFileSync(path, lines.join('\n') + '\n')
    const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 100, snapshotPath: null })
    await store.open()
    t.after(async () => { await store.close() })
    const worker = new Worker({ store, source: fileSource(path), logger: pino({ level: 'silent' }), flushIntervalMs: 20, append: true })
    await worker.run()
    const totals = await store.totals()
    assert.equal(totals.totalMessages, 2)
    assert.equal(totals.failedMessages, 1)
    const failed = await store.failedMessages(10)
    assert.equal(failed.length, 1)
    assert.equal(failed[0]!.reason, reason('nick', 10_000))
    const nicks = await store.top('nicks', { window: 'all', limit: 100 })
    assert.deepEqual(nicks.entries.map((e) => e.value).sort(), ['ann', 'bob'])
    const roomNicks = await store.roomTop('#a', 'nicks', { window: 'all', limit: 100 })
    assert.deepEqual(roomNicks.entries.map((e) => e.value).sort(), ['ann', 'bob'])
    const words = await store.top('words', { window: 'all', limit: 100 })
    assert.equal(words.entries.find((e) => e.value === 'flood'), undefined)
  })

  it('takes its limit from the maxNameBytes option (MAX_NAME_BYTES)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-name-bytes-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const path = join(dir, 'capture.ndjson')
    writeFileSync(path, [chat({ nick: 'n'.repeat(1000), room: '#a' }), chat({ nick: 'n'.repeat(1025), room: '#a' })].join('\n') + '\n')
    const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 100, snapshotPath: null })
    await store.open()
    t.after(async () => { await store.close() })
    const worker = new Worker({ store, source: fileSource(path), logger: pino({ level: 'silent' }), flushIntervalMs: 20, append: true, maxNameBytes: 1024 })
    await worker.run()
    assert.deepEqual([(await store.totals()).totalMessages, (await store.totals()).failedMessages], [1, 1])
    assert.equal((await store.failedMessages(10))[0]!.reason, reason('nick', 1025, 1024))
    assert.deepEqual((await store.top('nicks', { window: 'all', limit: 10 })).entries, [{ value: 'n'.repeat(1000), count: 1 }])
  })
})

describe('MAX_NAME_BYTES: configuration', () => {
  it('refuses 0, negative, fractional, non-numeric and huge values, naming the variable', () => {
    for (const bad of ['0', '-64', '64.5', 'abc', '31', '1025', '65536', '1e9']) {
      assert.throws(() => loadConfig({ MAX_NAME_BYTES: bad }, null), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err))
        assert.equal(err.variable, 'MAX_NAME_BYTES')
        assert.match(err.message, /Longest nick, room name or emote/)
        return true
      }, bad)
    }
  })

  it('accepts its range, 32 to 1024', () => {
    assert.equal(loadConfig({ MAX_NAME_BYTES: '32' }, null).MAX_NAME_BYTES, 32)
    assert.equal(loadConfig({ MAX_NAME_BYTES: '1024' }, null).MAX_NAME_BYTES, 1024)
    const schema = ConfigSchema.properties.MAX_NAME_BYTES as { minimum?: number, maximum?: number, default?: number }
    assert.deepEqual([schema.minimum, schema.maximum, schema.default], [32, 1024, DEFAULT_MAX_NAME_BYTES])
  })

  it('its least value is above every name the simulator makes, so verify agrees with the worker at any setting', () => {
    const counts = intendedCounts(1, 20_000)
    let longest = 0
    for (const names of [counts.nicks, counts.rooms, counts.emotes]) for (const name of names.keys()) longest = Math.max(longest, Buffer.byteLength(name))
    assert.ok(longest > 0 && longest <= 32, `longest simulator name: ${longest} bytes`)
  })
})
