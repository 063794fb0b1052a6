import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { ConfigSchema } from '../../src/config.js'
import { MAX_COMMAND_BYTES } from '../../src/model/event-commands.js'
import { cutRaw, FailureReason } from '../../src/model/payload.js'
import { MAX_WORD_CODE_POINTS } from '../../src/model/tokenize.js'
import {
  FIREHOSE_ROOM_WINDOWS, FAILED_MESSAGE_BYTES, memoryBound, type MemoryBound, type MemoryBoundSettings, memoryFigures, memoryTable, jemallocClass, redisZsetEntryBytes, REDIS_FAILED_MESSAGE_BYTES, TYPICAL_MEMBERS, WORST_CASE_MEMBERS, worstCaseMembers
} from '../../src/store/memory-bound.js'

const SETTINGS: MemoryBoundSettings = {
  maxTrackedWords: 100_000,
  maxTrackedPerRoom: 1000,
  maxTrackedRooms: 1000,
  windowTop: 1000,
  roomWindowTop: 50,
  failedLogSize: 1000
}

describe('memory bound formula', () => {
  it('is the sum of its parts, each entries x bytes per entry', () => {
    for (const store of ['redis', 'embedded'] as const) {
      const bound = memoryBound(SETTINGS, TYPICAL_MEMBERS, store)
      assert.equal(bound.total, bound.parts.reduce((sum, p) => sum + p.bytes, 0))
      for (const part of bound.parts) assert.equal(part.bytes, part.entries * part.bytesPerEntry, part.name)
    }
    const [words, names] = memoryBound(SETTINGS, TYPICAL_MEMBERS).parts
    assert.equal(words!.entries, SETTINGS.maxTrackedWords)
    assert.equal(words!.bytesPerEntry, redisZsetEntryBytes(TYPICAL_MEMBERS.wordBytes))
    assert.equal(names!.entries, 2 * SETTINGS.maxTrackedWords)
    assert.equal(names!.bytesPerEntry, redisZsetEntryBytes(TYPICAL_MEMBERS.memberBytes))
  })

  it('takes a sorted-set member at the sizes measured on Redis 7.0 (used_memory growth per member over 10^5 to 2·10^5)', () => {
    assert.deepEqual([1, 8, 9, 16, 17, 68, 132, 204, 260, 513].map(jemallocClass), [8, 8, 16, 16, 32, 80, 160, 224, 320, 640])
    const measured: Array<[bytes: number, perMember: number]> = [[10, 112], [64, 176], [128, 256], [200, 320], [256, 416]]
    for (const [bytes, perMember] of measured) {
      const computed = redisZsetEntryBytes(bytes)
      assert.ok(Math.abs(computed - perMember) <= 0.05 * perMember && computed >= perMember - 2, `${bytes}-byte members: ${computed} B against ${perMember} measured`)
    }
  })

  it('grows with every setting and with the members\' size', () => {
    const base = memoryBound(SETTINGS, TYPICAL_MEMBERS).total
    for (const name of ['maxTrackedWords', 'maxTrackedPerRoom', 'maxTrackedRooms', 'windowTop', 'roomWindowTop', 'failedLogSize'] as const) {
      const doubled = memoryBound({ ...SETTINGS, [name]: 2 * SETTINGS[name] }, TYPICAL_MEMBERS).total
      assert.ok(doubled > base, `${name} doubled: ${doubled} > ${base}`)
    }
    assert.ok(memoryBound(SETTINGS, WORST_CASE_MEMBERS).total > base)
    assert.ok(memoryBound(SETTINGS, WORST_CASE_MEMBERS, 'embedded').total > memoryBound(SETTINGS, TYPICAL_MEMBERS, 'embedded').total)
  })

  it('counts fewer room buckets when the room windows are coarser', () => {
    const same = memoryBound(SETTINGS, TYPICAL_MEMBERS)
    const coarser = memoryBound({ ...SETTINGS, roomBucketSeconds: [5, 15, 60, 300, 3600] }, TYPICAL_MEMBERS)
    const rooms = (bound: typeof same): number => bound.parts.find((p) => p.name.startsWith('per-room window buckets'))!.entries
    // Five levels of 63 live buckets each: a bucket lives its window plus two bucket lengths after it starts.
    assert.equal(rooms(same), 5 * 63 * SETTINGS.maxTrackedRooms)
    assert.ok(rooms(coarser) < rooms(same))
    assert.ok(coarser.total < same.total)
  })

  it('gives every shard of a sharded store its own stream-wide window lists, and a share of the other bounds', () => {
    const single = memoryBound(SETTINGS, WORST_CASE_MEMBERS)
    const sharded = memoryBound({ ...SETTINGS, shards: 16 }, WORST_CASE_MEMBERS)
    const named = (bound: typeof single, start: string): { entries: number, bytes: number } => bound.parts.find((p) => p.name.startsWith(start))!
    assert.equal(named(sharded, 'stream-wide window buckets').bytes, 16 * named(single, 'stream-wide window buckets').bytes)
    // ceil(100,000 / 16) = 6,250 words per shard list: exactly the bound; ceil(1,000 / 16) = 63 rooms per shard: 1,008.
    assert.equal(named(sharded, 'all-time list: rooms').entries, SETTINGS.maxTrackedWords)
    assert.equal(named(sharded, 'tracked rooms').entries, 16 * 63)
  })

  it('takes the worst case\'s nicks, rooms and emotes at MAX_NAME_BYTES, and words at 64 four-byte characters', () => {
    assert.deepEqual(WORST_CASE_MEMBERS, worstCaseMembers(64))
    // The longest word the tokenizer keeps, in UTF-8 and in V8 (a surrogate pair a character).
    const longest = '\u{1F600}'.repeat(MAX_WORD_CODE_POINTS)
    assert.equal(Buffer.byteLength(longest), 256)
    assert.equal(longest.length * 2, 256)
    assert.deepEqual(worstCaseMembers(32), { memberBytes: 32, wordBytes: 256, roomBytes: 32, wide: true })
    assert.deepEqual(worstCaseMembers(1024), { memberBytes: 1024, wordBytes: 256, roomBytes: 1024, wide: true })
    const at = (maxNameBytes: number): number => memoryFigures({ ...SETTINGS, maxNameBytes }).redisWorst.total
    assert.ok(at(1024) > at(64) && at(64) > at(32), `${at(1024)} > ${at(64)} > ${at(32)}`)
    assert.equal(memoryFigures(SETTINGS).redisWorst.total, at(64))
  })

  it('bounds system events by MAX_EVENT_COMMANDS: the events hash, each tracked room\'s hash and, at worst, every room window value', () => {
    const at = (maxEventCommands: number, store: 'redis' | 'embedded' = 'redis'): MemoryBound => memoryBound({ ...SETTINGS, maxEventCommands }, WORST_CASE_MEMBERS, store)
    const named = (bound: MemoryBound, start: string): { entries: number, bytes: number } => bound.parts.find((p) => p.name.startsWith(start))!
    assert.equal(named(at(100), 'system events by command').entries, 100)
    for (const start of ['system events by command', 'per-room all-time totals', 'per-room window buckets']) {
      assert.ok(named(at(100), start).bytes > named(at(10), start).bytes, start)
      assert.ok(named(at(100, 'embedded'), start).bytes > named(at(10, 'embedded'), start).bytes, start)
    }
    // Each command in every room window value: entries x (16 B + MAX_COMMAND_BYTES), rounded up by at most 25 % in Redis.
    const windowGrowth = named(at(11), 'per-room window buckets').bytes - named(at(10), 'per-room window buckets').bytes
    const values = named(at(10), 'per-room window buckets').entries
    assert.ok(windowGrowth >= values * (16 + MAX_COMMAND_BYTES) && windowGrowth <= values * Math.ceil(1.25 * (16 + MAX_COMMAND_BYTES)) + values, `${windowGrowth}`)
    // The typical firehose's few commands fit in the room value's fixed bytes.
    assert.equal(memoryBound({ ...SETTINGS, maxEventCommands: 100 }, TYPICAL_MEMBERS, 'redis', FIREHOSE_ROOM_WINDOWS).parts.find((p) => p.name.startsWith('per-room window buckets'))!.bytes,
      memoryBound({ ...SETTINGS, maxEventCommands: 10 }, TYPICAL_MEMBERS, 'redis', FIREHOSE_ROOM_WINDOWS).parts.find((p) => p.name.startsWith('per-room window buckets'))!.bytes)
  })

  it('counts a failed message in Redis as the JSON the store writes, where each control character of the 2 KiB raw text takes 6 bytes', () => {
    const raw = cutRaw('\u0001'.repeat(5000))
    const stored = JSON.stringify({ raw, reason: FailureReason.unrecognizedLine, at: Date.now() })
    assert.equal(Buffer.byteLength(raw), 2048)
    assert.ok(Buffer.byteLength(stored) > 6 * 2048 && Buffer.byteLength(stored) <= REDIS_FAILED_MESSAGE_BYTES, `${Buffer.byteLength(stored)} B`)
    // The embedded store keeps the raw string itself.
    const part = (store: 'redis' | 'embedded'): number => memoryBound(SETTINGS, WORST_CASE_MEMBERS, store).parts.find((p) => p.name === 'failed-message log')!.bytesPerEntry
    assert.equal(part('redis'), REDIS_FAILED_MESSAGE_BYTES)
    assert.equal(part('embedded'), FAILED_MESSAGE_BYTES)
  })

  describe('at the defaults, as ARCHITECTURE.md states them', () => {
    const defaults = (name: keyof typeof ConfigSchema.properties): number => {
      const value = (ConfigSchema.properties[name] as { default?: unknown }).default
      assert.equal(typeof value, 'number', `${name} has a numeric default`)
      return value as number
    }
    const settings: MemoryBoundSettings = {
      maxTrackedWords: defaults('MAX_TRACKED_WORDS'),
      maxTrackedPerRoom: defaults('MAX_TRACKED_PER_ROOM'),
      maxTrackedRooms: defaults('MAX_TRACKED_ROOMS'),
      windowTop: defaults('WINDOW_TOP'),
      roomWindowTop: defaults('ROOM_WINDOW_TOP'),
      failedLogSize: 1000,
      maxNameBytes: defaults('MAX_NAME_BYTES'),
      maxEventCommands: defaults('MAX_EVENT_COMMANDS')
    }
    const doc = readFileSync(new URL('../../ARCHITECTURE.md', import.meta.url), 'utf8')

    it('holds exactly the table the formula computes', () => {
      const start = doc.indexOf('-->', doc.indexOf('<!-- memory-table:start')) + 3
      const end = doc.indexOf('<!-- memory-table:end -->')
      assert.ok(start > 2 && end > start, 'ARCHITECTURE.md has the memory-table markers')
      assert.equal(doc.slice(start, end).trim(), memoryTable(settings))
    })

    it('keeps the worst case under 1 GiB in Redis and in the embedded store (with Node\'s ~60 MB), as the text says', () => {
      const figures = memoryFigures(settings)
      assert.ok(figures.redisWorst.total < 2 ** 30, `Redis worst ${figures.redisWorst.total}`)
      assert.ok(figures.embeddedWorst.total + 60 * 2 ** 20 < 2 ** 30, `embedded worst ${figures.embeddedWorst.total}`)
      for (const bytes of [figures.redisWorst.total, figures.embeddedWorst.total]) {
        const mib = `${Math.round(bytes / 2 ** 20)} MiB`
        assert.ok(doc.includes(`worst case, ${mib}`) || doc.includes(`is ${mib}`), `ARCHITECTURE.md names the worst case ${mib}`)
      }
      const defaultsLine = `W = ${settings.maxTrackedWords.toLocaleString('en-US')}, T = ${settings.maxTrackedRooms}, P = ${settings.maxTrackedPerRoom}, K = ${settings.windowTop}, k = ${settings.roomWindowTop}`
      assert.ok(doc.includes(defaultsLine), `ARCHITECTURE.md gives the defaults as ${defaultsLine}`)
    })
  })
})
