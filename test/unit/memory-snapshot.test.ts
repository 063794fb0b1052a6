import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  MemoryStore, type MemoryStoreOptions, SnapshotCorruptError, SnapshotUnreadableError, SnapshotWriteError
} from '../../src/store/memory/memory-store.js'
import { nodeFileSystem, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type SnapshotFileSystem } from '../../src/store/memory/snapshot.js'
import {
  CATEGORIES, type FailedMessage, ROOM_CATEGORIES, type StatsStore, StoreUnavailableError, type TopEntry, type TopList, WINDOW_NAMES
} from '../../src/store/types.js'
import { batch, chatSlice, slice } from '../helpers/batches.js'

/** The entries of an answer that must be exact (maxError 0). */
function exact (list: TopList): TopEntry[] {
  assert.equal(list.maxError, 0, 'exact while nothing was trimmed')
  return list.entries
}

/** A day start in epoch seconds (every bucket size divides 86400). */
const DAY = Date.UTC(2025, 0, 15) / 1000

async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-stats-snapshot-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

interface Made {
  store: MemoryStore
  clock: { now: number }
}

function makeStore (t: TestContext, path: string | null, options: Partial<MemoryStoreOptions> & { now?: number } = {}): Made {
  const clock = { now: options.now ?? (DAY + 3600) * 1000 }
  const store = new MemoryStore({ clock: () => clock.now, maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: path, ...options })
  t.after(() => store.close().catch(() => {}))
  return { store, clock }
}

/** Everything a reader can see, for before/after comparisons. */
async function readAll (store: StatsStore, rooms: string[], fromMs: number, toMs: number): Promise<unknown> {
  const out: Record<string, unknown> = {
    position: await store.position(),
    totals: await store.totals(),
    failed: await store.failedMessages(10_000),
    seconds: await store.series('1s', fromMs, toMs),
    minutes: await store.series('1m', fromMs, toMs)
  }
  for (const window of WINDOW_NAMES) {
    for (const category of CATEGORIES) out[`${category} ${window}`] = await store.top(category, { window, limit: 10_000 }).then(exact)
    for (const room of rooms) {
      out[`${room} ${window}`] = await store.roomTotals(room, window)
      for (const category of ROOM_CATEGORIES) out[`${room} ${category} ${window}`] = await store.roomTop(room, category, { window, limit: 10_000 }).then(exact)
    }
  }
  return out
}

const failed = (i: number): FailedMessage => ({ raw: `{"bad":${i} "ünïcode" \u2028 \r\n`, reason: 'invalid JSON', at: DAY * 1000 + i })

/** A few batches over several seconds and rooms, with events, failures, odd values. */
async function fill (made: Made): Promise<void> {
  const { store, clock } = made
  const base = DAY + 3600
  const seconds = [base - 400, base - 50, base - 1, base]
  let sequence = 0
  for (const second of seconds) {
    clock.now = second * 1000 + 250
    const s = chatSlice(second, [
      { nick: 'ann', room: '#a', words: ['hello', 'kappa', 'hello', '😀'], emotes: ['Kappa'] },
      { nick: 'bob', room: '#b', words: ['\uE000', 'ㅋㅋㅋ', 'é'] },
      { nick: 'cid', room: '', words: ['solo', '__proto__'] },
      { nick: `n${second}`, room: '#a', words: [`w${second % 7}`] }
    ], [{ command: 'CLEARCHAT', room: '#a' }, { command: '__proto__', room: '#b' }, { command: 'USERNOTICE' }])
    await store.applyBatch(batch(++sequence, [s], {
      lastEventId: `id-${sequence}`,
      lastMessageAt: clock.now - 10,
      failedLog: [failed(sequence)],
      failedCount: 2
    }))
  }
}

describe('MemoryStore snapshot', () => {
  it('keeps counts, windows, rooms, series, position and failed log across close and open', async (t) => {
    const path = join(await tempDir(t), 'store.json')
    const first = makeStore(t, path)
    await first.store.open()
    await fill(first)
    const rooms = ['#a', '#b']
    const range: [number, number] = [(DAY + 3000) * 1000, (DAY + 3700) * 1000]
    const before = await readAll(first.store, rooms, ...range)
    await first.store.close()
    assert.ok((await stat(path)).size > 0, 'close() wrote the snapshot')

    const second = makeStore(t, path, { now: first.clock.now })
    await second.store.open()
    assert.deepEqual(await readAll(second.store, rooms, ...range), before)
    assert.deepEqual(await second.store.position(), { lastEventId: 'id-4', sequence: 4 })
    assert.equal((await second.store.totals()).failedMessages, 8)
    // The reopened store goes on counting from where it was, and refuses replays.
    assert.equal(await second.store.applyBatch(batch(4, [])), 'duplicate')
    assert.equal(await second.store.applyBatch(batch(5, [chatSlice(DAY + 3600, [{ nick: 'ann', words: ['hello'] }])])), 'applied')
    assert.deepEqual((await second.store.top('words', { window: 'all', limit: 1 }).then(exact))[0], { value: 'hello', count: 9 })
  })

  it('is a valid JSON document with a version', async (t) => {
    const path = join(await tempDir(t), 'store.json')
    const made = makeStore(t, path)
    await made.store.open()
    await fill(made)
    await made.store.snapshotNow()
    const document = JSON.parse(await readFile(path, 'utf8')) as { format: string, version: number, records: unknown[][] }
    assert.equal(document.format, SNAPSHOT_FORMAT)
    assert.equal(document.version, SNAPSHOT_VERSION)
    assert.deepEqual(document.records[0]?.[0], 'meta')
    assert.deepEqual(document.records.at(-1)?.[0], 'end')
  })

  it('starts empty without a file, writes nothing until something changed, then creates the directory', async (t) => {
    const path = join(await tempDir(t), 'nested', 'deeper', 'store.json')
    const made = makeStore(t, path)
    await made.store.open()
    assert.deepEqual(await made.store.position(), { lastEventId: null, sequence: 0 })
    assert.deepEqual(await made.store.top('words', { window: 'all', limit: 10 }).then(exact), [])
    await made.store.close()
    await assert.rejects(stat(path), { code: 'ENOENT' })

    const again = makeStore(t, path)
    await again.store.open()
    await again.store.applyBatch(batch(1, [slice(DAY + 3600, { messages: 1, words: { hi: 1 } })]))
    await again.store.close()
    const reopened = makeStore(t, path)
    await reopened.store.open()
    assert.deepEqual(await reopened.store.top('words', { window: 'all', limit: 10 }).then(exact), [{ value: 'hi', count: 1 }])
  })

  it('stays closed when close() comes while open() loads', async (t) => {
    const path = join(await tempDir(t), 'store.json')
    const first = makeStore(t, path)
    await first.store.open()
    await fill(first)
    await first.store.close()
    const original = await readFile(path)
    const { store } = makeStore(t, path, { snapshotIntervalMs: 5 })
    const opening = store.open()
    await store.close()
    await assert.rejects(opening, StoreUnavailableError)
    await assert.rejects(store.ping(), StoreUnavailableError)
    await sleep(30)
    assert.deepEqual(await readFile(path), original, 'no snapshot after close')
  })

  it('writes periodically when the store changed', async (t) => {
    const path = join(await tempDir(t), 'store.json')
    const made = makeStore(t, path, { snapshotIntervalMs: 20 })
    await made.store.open()
    await made.store.applyBatch(batch(1, [slice(DAY + 3600, { messages: 1, words: { tick: 1 } })]))
    const deadline = Date.now() + 20_000
    while (made.store.lastSnapshot === null && Date.now() < deadline) await sleep(10)
    assert.ok(made.store.lastSnapshot !== null, 'a periodic snapshot was written')
    assert.match(await readFile(path, 'utf8'), /"tick",1/)
  })

  it('applies the current bounds and drops expired data when loading', async (t) => {
    const path = join(await tempDir(t), 'store.json')
    const big = makeStore(t, path, { maxTrackedWords: 1000, maxTrackedPerRoom: 1000, maxFailedLog: 50 })
    await big.store.open()
    const words: Array<[string, number]> = Array.from({ length: 300 }, (_, i) => [`w${i}`, 1 + (i % 5)])
    const second = DAY + 3600
    await big.store.applyBatch(batch(1, [slice(second, {
      messages: 1,
      words,
      roomDetail: { '#r': { messages: 1, words } }
    })], { failedLog: Array.from({ length: 40 }, (_, i) => failed(i)) }))
    await big.store.close()

    const small = makeStore(t, path, { maxTrackedWords: 100, maxTrackedPerRoom: 10, maxFailedLog: 5, now: big.clock.now })
    await small.store.open()
    const all = await small.store.top('words', { window: 'all', limit: 1000 }).then(exact)
    const ascending = [...words].sort((a, b) => a[1] - b[1] || Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))
    const kept = (max: number): Array<{ value: string, count: number }> => ascending.slice(ascending.length - max)
      .map(([value, count]) => ({ value, count }))
      .sort((a, b) => b.count - a.count || Buffer.compare(Buffer.from(a.value), Buffer.from(b.value)))
    assert.deepEqual(all, kept(100))
    assert.deepEqual(await small.store.roomTop('#r', 'words', { window: 'all', limit: 1000 }).then(exact), kept(10))
    // Window buckets are bounded by expiry and WINDOW_TOP (1000 by default), not by MAX_TRACKED_WORDS.
    assert.equal((await small.store.top('words', { window: '1h', limit: 1000 }).then(exact)).length, 300)
    assert.deepEqual((await small.store.failedMessages(100)).map((f) => f.at), [39, 38, 37, 36, 35].map((i) => DAY * 1000 + i))
    await small.store.close()

    // Two days later every window bucket and the per-second series have expired; minutes are kept 7 days.
    const later = makeStore(t, path, { now: (second + 2 * 86_400) * 1000 })
    await later.store.open()
    const sizes = later.store.structureSizes()
    assert.deepEqual(sizes.buckets, { '1m': 0, '5m': 0, '15m': 0, '1h': 0, '24h': 0 })
    assert.equal(sizes.seconds, 0)
    assert.equal(sizes.minutes, 1)
    // The store opened with smaller bounds wrote nothing back: it had no batch to save.
    assert.equal(sizes.lists.words, 300)
  })

  it('round-trips 100,000 words and a big room in chunks', async (t) => {
    const path = join(await tempDir(t), 'store.json')
    const made = makeStore(t, path, { maxTrackedWords: 200_000, maxTrackedPerRoom: 50_000, roomWindowTop: 100_000 })
    await made.store.open()
    const words = new Map<string, number>()
    for (let i = 0; i < 100_000; i++) words.set(`wörd-${i.toString(36)}-😀`, 1 + (i % 13))
    await made.store.applyBatch(batch(1, [slice(DAY + 3600, { messages: 5, words, roomDetail: { '#big': { messages: 5, words } } })]))
    const before = await made.store.top('words', { window: 'all', limit: 100 }).then(exact)
    await made.store.close()
    assert.ok((made.store.lastSnapshot?.records ?? 0) > 10, 'lists are written in several records')
    const again = makeStore(t, path, { maxTrackedWords: 200_000, maxTrackedPerRoom: 50_000, roomWindowTop: 100_000, now: made.clock.now })
    await again.store.open()
    assert.equal(again.store.structureSizes().lists.words, 100_000)
    assert.deepEqual(await again.store.top('words', { window: 'all', limit: 100 }).then(exact), before)
    assert.deepEqual(await again.store.roomTop('#big', 'words', { window: '15m', limit: 100 }).then(exact), before)
  })
})

/** A snapshot file's text from records, with a correct checksum (so validation, not the checksum, must catch what is wrong). */
function snapshotText (records: unknown[], version: unknown = 1): string {
  return snapshotTextAt(records, version, 0)
}

function snapshotTextAt (records: unknown[], version: unknown, savedAt: number): string {
  let body = `${JSON.stringify({ format: SNAPSHOT_FORMAT, version, savedAt }).slice(0, -1)},"records":[\n`
  for (const record of records) body += `${JSON.stringify(record)},\n`
  const sha256 = createHash('sha256').update(body).digest('hex')
  return `${body}${JSON.stringify(['end', { records: records.length, sha256 }])}\n]}\n`
}

const meta = ['meta', { sequence: 3, lastEventId: 'x', totalMessages: 5, failedMessages: 0, events: {}, startedAt: 1, lastMessageAt: 2 }]

const metaV2 = ['meta', { ...meta[1] as object, windowLife: null }]

describe('MemoryStore snapshot: rooms\' first-seen times', () => {
  it('keeps each room\'s first-seen second across close and open, and the reopened store keeps the earliest', async (t) => {
    const path = join(await tempDir(t), 'store.json')
    const first = makeStore(t, path)
    await first.store.open()
    const s = DAY + 3600
    first.clock.now = (s + 30) * 1000
    await first.store.applyBatch(batch(1, [
      chatSlice(s + 30, [{ nick: 'ann', room: '#a', words: ['x'] }]),
      chatSlice(s + 10, [{ nick: 'bob', room: '#b', words: ['y'] }]),
      chatSlice(s + 20, [{ nick: 'bob', room: '#b', words: ['y'] }])
    ]))
    await first.store.close()
    const saved = await readFile(path, 'utf8')
    assert.match(saved, /\["room","#a",\{"messages":1,"events":\{\},"firstSeen":\d+\}\]/)

    const second = makeStore(t, path, { now: (s + 40) * 1000 })
    await second.store.open()
    assert.equal((await second.store.roomTotals('#a', '5m'))?.firstSeenAt, (s + 30) * 1000)
    assert.equal((await second.store.roomTotals('#b', 'all'))?.firstSeenAt, (s + 10) * 1000)
    // After the load, an earlier second still lowers it and a later one leaves it.
    await second.store.applyBatch(batch(2, [chatSlice(s + 5, [{ nick: 'ann', room: '#a', words: ['x'] }]), chatSlice(s + 40, [{ nick: 'bob', room: '#b', words: ['y'] }])]))
    assert.equal((await second.store.roomTotals('#a', 'all'))?.firstSeenAt, (s + 5) * 1000)
    assert.equal((await second.store.roomTotals('#b', 'all'))?.firstSeenAt, (s + 10) * 1000)
  })

  it('loads a version 2 snapshot: its rooms\' first-seen times are unknown (null) and stay so, saved back as version 3', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'v2.json')
    const s = DAY + 3600
    await writeFile(path, snapshotTextAt([
      metaV2,
      ['top', 'rooms', ['#old', 5]],
      ['room', '#old', { messages: 5, events: { CLEARCHAT: 1 } }],
      ['roomTop', '#old', 'words', ['a', 5]]
    ], 2, s * 1000))
    const made = makeStore(t, path, { now: (s + 1) * 1000 })
    await made.store.open()
    assert.deepEqual(await made.store.roomTotals('#old', 'all'), { messages: 5, events: { CLEARCHAT: 1 }, tracked: true, firstSeenAt: null })
    assert.deepEqual((await made.store.roomTop('#old', 'words', { window: 'all', limit: 10 })).entries, [{ value: 'a', count: 5 }])
    // A new message does not make up a first-seen time for a room with older, unknown history; a new room gets one.
    await made.store.applyBatch(batch(4, [chatSlice(s + 1, [{ nick: 'ann', room: '#old', words: ['a'] }, { nick: 'ann', room: '#new', words: ['a'] }])]))
    assert.equal((await made.store.roomTotals('#old', '1m'))?.firstSeenAt, null)
    assert.equal((await made.store.roomTotals('#new', '1m'))?.firstSeenAt, (s + 1) * 1000)
    await made.store.close()
    const text = await readFile(path, 'utf8')
    assert.match(text.slice(0, 200), /"version":3/)
    assert.ok(text.includes('["room","#old",{"messages":6,"events":{"CLEARCHAT":1},"firstSeen":null}]'), 'unknown is saved as null')
    const again = makeStore(t, path, { now: (s + 2) * 1000 })
    await again.store.open()
    assert.equal((await again.store.roomTotals('#old', 'all'))?.firstSeenAt, null)
    assert.equal((await again.store.roomTotals('#new', 'all'))?.firstSeenAt, (s + 1) * 1000)
  })
})

describe('MemoryStore snapshot versions', () => {
  it('migrates a version 1 snapshot: window counts trimmed to the current bounds, the most active rooms kept, saved back as version 3', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'v1.json')
    const second = DAY + 3600
    const savedAt = second * 1000 + 500
    const records = [
      meta,
      ['top', 'words', ['a', 3, 'b', 2, 'c', 1]],
      ['top', 'rooms', ['#big', 5, '#small', 1]],
      ['room', '#big', { messages: 5, events: { CLEARCHAT: 1 } }],
      ['roomTop', '#big', 'words', ['a', 3, 'b', 2]],
      ['room', '#small', { messages: 1, events: {} }],
      ['bucket', '1m', second, 'words', ['a', 3, 'b', 2, 'c', 1]],
      ['bucket', '24h', Math.floor(second / 1440), 'words', ['a', 3, 'b', 2, 'c', 1]],
      ['roomBucket', '1m', second, '#big', { messages: 5, events: { CLEARCHAT: 1 }, words: ['a', 3, 'b', 2], nicks: ['n', 5], emotes: [] }],
      ['roomBucket', '1m', second, '#small', { messages: 1, events: {}, words: ['z', 1], nicks: ['m', 1], emotes: [] }]
    ]
    await writeFile(path, snapshotTextAt(records, 1, savedAt))
    const made = makeStore(t, path, { windowTop: 2, roomWindowTop: 1, maxTrackedRooms: 1, now: savedAt + 1000 })
    await made.store.open()
    for (const window of ['1m', '24h'] as const) {
      assert.deepEqual(await made.store.top('words', { window, limit: 10 }), { entries: [{ value: 'a', count: 3 }, { value: 'b', count: 2 }], maxError: 1 }, window)
    }
    assert.deepEqual(await made.store.roomTop('#big', 'words', { window: '1m', limit: 10 }), { entries: [{ value: 'a', count: 3 }], maxError: 2 })
    // Version 1 kept no first-seen time: unknown.
    assert.deepEqual(await made.store.roomTotals('#big', '1m'), { messages: 5, events: { CLEARCHAT: 1 }, tracked: true, firstSeenAt: null })
    assert.deepEqual(await made.store.roomTotals('#small', 'all'), { messages: 1, events: {}, tracked: false, firstSeenAt: null })
    await made.store.applyBatch(batch(4, [slice(second + 1, { messages: 1, words: { a: 1 } })]))
    await made.store.close()
    const text = await readFile(path, 'utf8')
    assert.match(text.slice(0, 200), /"version":3/)
    const again = makeStore(t, path, { windowTop: 2, roomWindowTop: 1, maxTrackedRooms: 1, now: savedAt + 1000 })
    await again.store.open()
    assert.deepEqual(await again.store.top('words', { window: '1m', limit: 10 }), { entries: [{ value: 'a', count: 4 }, { value: 'b', count: 2 }], maxError: 1 })
  })
})

describe('MemoryStore refuses a bad snapshot and leaves it untouched', () => {
  async function validSnapshot (t: TestContext, dir: string): Promise<string> {
    const path = join(dir, 'valid.json')
    const made = makeStore(t, path)
    await made.store.open()
    await fill(made)
    await made.store.close()
    return readFile(path, 'utf8')
  }

  async function expectRefused (t: TestContext, dir: string, name: string, content: string | Buffer, reason: RegExp): Promise<void> {
    const path = join(dir, `${name}.json`)
    await writeFile(path, content)
    const original = await readFile(path)
    const { store } = makeStore(t, path, { snapshotIntervalMs: 5 })
    const error = await store.open().then(() => null, (err: unknown) => err)
    assert.ok(error instanceof SnapshotCorruptError, `${name}: ${String(error)}`)
    assert.equal(error.code, 'CS_SNAPSHOT_CORRUPT')
    assert.ok(error.message.includes(path), `${name}: the message names the file: ${error.message}`)
    assert.match(error.message, reason, name)
    // Nothing runs on a store that failed to open: no reads, no periodic or final snapshot.
    await assert.rejects(store.ping(), StoreUnavailableError)
    await assert.rejects(store.applyBatch(batch(9, [])), StoreUnavailableError)
    await assert.rejects(store.snapshotNow(), StoreUnavailableError)
    await sleep(30)
    await store.close()
    assert.deepEqual(await readFile(path), original, `${name}: the file is unchanged byte for byte`)
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), [], 'no temp file')
  }

  it('refuses damaged and truncated files', async (t) => {
    const dir = await tempDir(t)
    const valid = await validSnapshot(t, dir)
    const lines = valid.split('\n')
    await expectRefused(t, dir, 'empty', '', /empty/)
    await expectRefused(t, dir, 'garbage', 'hello world\n', /not a chat-stats-memory-snapshot file/)
    await expectRefused(t, dir, 'other-json', '{"foo":1}\n', /not a chat-stats-memory-snapshot file/)
    await expectRefused(t, dir, 'binary', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x0a]), /not a chat-stats-memory-snapshot file/)
    await expectRefused(t, dir, 'half', valid.slice(0, Math.floor(valid.length / 2)), /truncated|invalid JSON/)
    await expectRefused(t, dir, 'no-end', `${lines.slice(0, -3).join('\n')}\n`, /truncated.*no end record/)
    await expectRefused(t, dir, 'no-close', `${lines.slice(0, -2).join('\n')}\n`, /closing/)
    await expectRefused(t, dir, 'tampered', valid.replace('"hello",8', '"hello",9'), /checksum/)
    await expectRefused(t, dir, 'dropped-line', [...lines.slice(0, 2), ...lines.slice(3)].join('\n'), /counts \d+ records, the file has/)
    await expectRefused(t, dir, 'trailing', `${valid}["more"],\n`, /after the end record/)
    assert.ok(valid.includes('"hello",8'), 'the tampering above changed a real count')
  })

  it('refuses an unknown version and a wrong shape even with a correct checksum', async (t) => {
    const dir = await tempDir(t)
    await expectRefused(t, dir, 'version', snapshotText([meta], 4), /unsupported version 4/)
    await expectRefused(t, dir, 'v3-first-seen', snapshotText([metaV2, ['room', '#x', { messages: 1, events: {} }]], 3), /firstSeen/)
    await expectRefused(t, dir, 'v3-first-seen-type', snapshotText([metaV2, ['room', '#x', { messages: 1, events: {}, firstSeen: 1.5 }]], 3), /firstSeen/)
    await expectRefused(t, dir, 'v2-life', snapshotText([['meta', { ...meta[1] as object, windowLife: { floor: 'x' } }]], 2), /windowLife/)
    await expectRefused(t, dir, 'v2-list', snapshotText([metaV2, ['bucket', 0, 5, 'words', ['a', 1]]], 2), /bucket 5 words/)
    await expectRefused(t, dir, 'v2-level', snapshotText([metaV2, ['bucket', 9, 5, 'words', [0]]], 2), /unknown level/)
    await expectRefused(t, dir, 'no-meta', snapshotText([]), /no meta record/)
    await expectRefused(t, dir, 'meta-late', snapshotText([['top', 'words', ['a', 1]], meta]), /first record must be "meta"/)
    await expectRefused(t, dir, 'negative', snapshotText([meta, ['top', 'words', ['a', -1]]]), /positive integer/)
    await expectRefused(t, dir, 'fraction', snapshotText([meta, ['top', 'words', ['a', 1.5]]]), /positive integer/)
    await expectRefused(t, dir, 'odd', snapshotText([meta, ['top', 'words', ['a', 1, 'b']]]), /flat \[key, count/)
    await expectRefused(t, dir, 'duplicate', snapshotText([meta, ['top', 'words', ['a', 1]], ['top', 'words', ['a', 2]]]), /"a" appears twice/)
    await expectRefused(t, dir, 'category', snapshotText([meta, ['top', 'hashtags', ['a', 1]]]), /unknown category/)
    await expectRefused(t, dir, 'window', snapshotText([meta, ['bucket', '2h', 1, 'words', ['a', 1]]]), /unknown window/)
    await expectRefused(t, dir, 'orphan', snapshotText([meta, ['roomTop', '#x', 'words', ['a', 1]]]), /no room record/)
    await expectRefused(t, dir, 'type', snapshotText([meta, ['mystery', 1]]), /unknown record type/)
    await expectRefused(t, dir, 'meta-shape', snapshotText([['meta', { sequence: -1 }]]), /sequence/)
    await expectRefused(t, dir, 'failed-shape', snapshotText([meta, ['failed', [{ raw: 1 }]]]), /raw/)
  })

  it('reports a snapshot path it cannot read', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'a-directory')
    await mkdir(path)
    const { store } = makeStore(t, path)
    await assert.rejects(store.open(), (err: unknown) => err instanceof SnapshotUnreadableError && err.code === 'CS_SNAPSHOT_UNREADABLE' && err.message.includes(path))
    await store.close()
    assert.ok((await stat(path)).isDirectory())
  })
})

interface FaultOptions {
  failOnWrite?: number
  failRename?: boolean
  onWrite?: () => void
}

/** node:fs/promises with injected failures; records what each snapshot wrote. */
function faultyFileSystem (options: FaultOptions): SnapshotFileSystem & { writes: number, openTemps: number, maxOpenTemps: number, written: string[] } {
  const fs = {
    writes: 0,
    openTemps: 0,
    maxOpenTemps: 0,
    /** The text of every temp file, in the order they were opened. */
    written: [] as string[],
    mkdir: nodeFileSystem.mkdir,
    unlink: nodeFileSystem.unlink,
    async rename (from: string, to: string): Promise<void> {
      if (options.failRename === true) throw new Error('rename failed (injected)')
      await nodeFileSystem.rename(from, to)
    },
    async open (path: string, flags: string) {
      const handle = await nodeFileSystem.open(path, flags)
      if (flags !== 'wx') return handle
      fs.openTemps++
      fs.maxOpenTemps = Math.max(fs.maxOpenTemps, fs.openTemps)
      const index = fs.written.push('') - 1
      let closed = false
      return {
        async write (data: string): Promise<unknown> {
          fs.writes++
          options.onWrite?.()
          if (fs.writes === options.failOnWrite) throw new Error('no space left on device (injected)')
          fs.written[index] += data
          return handle.write(data)
        },
        sync: () => handle.sync(),
        async close (): Promise<void> {
          if (!closed) fs.openTemps--
          closed = true
          await handle.close()
        }
      }
    }
  }
  return fs
}

/** The meta record and the all-time count of one word in a snapshot's text. */
function snapshotFacts (text: string, word: string): { sequence: number, totalMessages: number, count: number } {
  const document = JSON.parse(text) as { records: unknown[][] }
  const metaRecord = document.records[0]?.[1] as { sequence: number, totalMessages: number }
  let count = 0
  for (const record of document.records) {
    if (record[0] !== 'top' || record[1] !== 'words') continue
    const flat = record[2] as unknown[]
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === word) count = flat[i + 1] as number
  }
  return { sequence: metaRecord.sequence, totalMessages: metaRecord.totalMessages, count }
}

describe('MemoryStore writes snapshots atomically', () => {
  async function storeWithSnapshot (t: TestContext, fileSystem?: SnapshotFileSystem): Promise<Made & { path: string, dir: string, original: Buffer }> {
    const dir = await tempDir(t)
    const path = join(dir, 'store.json')
    const made = makeStore(t, path, { maxTrackedWords: 100_000, fileSystem })
    await made.store.open()
    await fill(made)
    await made.store.snapshotNow()
    // Enough to take several write chunks.
    const words = new Map<string, number>()
    for (let i = 0; i < 60_000; i++) words.set(`a-rather-long-word-number-${i}`, 1 + (i % 3))
    made.clock.now += 1000
    await made.store.applyBatch(batch(100, [slice(Math.floor(made.clock.now / 1000), { messages: 1, words })]))
    return { ...made, path, dir, original: await readFile(path) }
  }

  it('leaves the previous snapshot whole when a write fails midway, and recovers', async (t) => {
    let target = ''
    let original: Buffer | null = null
    let checks = 0
    const fs = faultyFileSystem({
      failOnWrite: 3,
      onWrite: () => {
        if (original === null) return
        checks++
        assert.deepEqual(readFileSync(target), original, 'the target never shows a partial snapshot')
      }
    })
    const made = await storeWithSnapshot(t, fs)
    target = made.path
    original = made.original
    fs.writes = 0
    await assert.rejects(made.store.snapshotNow(), (err: unknown) => err instanceof SnapshotWriteError && err.code === 'CS_SNAPSHOT_WRITE' && /no space left/.test(err.message))
    assert.equal(fs.writes, 3)
    assert.ok(checks >= 2)
    assert.deepEqual(await readFile(made.path), made.original)
    assert.deepEqual((await readdir(made.dir)).sort(), ['store.json'], 'the temp file is removed')

    // The store still works, and the next snapshot succeeds.
    await made.store.applyBatch(batch(101, [slice(Math.floor(made.clock.now / 1000), { messages: 1, words: { after: 1 } })]))
    original = null
    await made.store.snapshotNow()
    await made.store.close()
    const reopened = makeStore(t, made.path, { maxTrackedWords: 100_000, now: made.clock.now })
    await reopened.store.open()
    assert.deepEqual(await reopened.store.position(), { lastEventId: 'id-4', sequence: 101 })
  })

  it('removes temp files that a killed process left behind, once they are old', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'store.json')
    const stale = join(dir, '.store.json.99999.deadbeef.tmp')
    const fresh = join(dir, '.store.json.99998.cafebabe.tmp')
    const unrelated = join(dir, '.other.json.99999.deadbeef.tmp')
    for (const file of [stale, fresh, unrelated]) await writeFile(file, 'partial')
    const hourAgo = new Date(Date.now() - 3600_000)
    await utimes(stale, hourAgo, hourAgo)
    await utimes(unrelated, hourAgo, hourAgo)
    const made = makeStore(t, path)
    await made.store.open()
    await made.store.applyBatch(batch(1, []))
    await made.store.snapshotNow()
    assert.deepEqual((await readdir(dir)).sort(), ['.other.json.99999.deadbeef.tmp', '.store.json.99998.cafebabe.tmp', 'store.json'])
  })

  it('leaves the previous snapshot when the rename fails', async (t) => {
    const options: FaultOptions = {}
    const made = await storeWithSnapshot(t, faultyFileSystem(options))
    options.failRename = true
    await assert.rejects(made.store.snapshotNow(), (err: unknown) => err instanceof SnapshotWriteError && /rename failed/.test(err.message))
    assert.deepEqual(await readFile(made.path), made.original)
    assert.deepEqual(await readdir(made.dir), ['store.json'], 'the temp file is removed')
  })

  it('runs one snapshot at a time and holds writes back while it reads the state', async (t) => {
    const fs = faultyFileSystem({})
    const made = await storeWithSnapshot(t, fs)
    const before = fs.written.length
    const second = Math.floor(made.clock.now / 1000)
    const snapshots = [made.store.snapshotNow(), made.store.snapshotNow(), made.store.snapshotNow()]
    // Called while the first snapshot reads the state: it waits, so that snapshot does not hold it.
    const applied = made.store.applyBatch(batch(200, [slice(second, { messages: 1, words: { late: 1 } })]))
    await Promise.all(snapshots)
    assert.equal(await applied, 'applied')
    assert.equal(fs.maxOpenTemps, 1, 'snapshot writes never overlap')
    const written = fs.written.slice(before)
    assert.equal(written.length, 2, 'requests made during a write coalesce into one more snapshot')
    assert.deepEqual(snapshotFacts(written[0] as string, 'late'), { sequence: 100, totalMessages: 17, count: 0 })
    assert.deepEqual(snapshotFacts(written[1] as string, 'late'), { sequence: 200, totalMessages: 18, count: 1 })
    assert.equal(await readFile(made.path, 'utf8'), written[1])
  })

  it('captures a consistent state: counts always match the position', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'store.json')
    const fs = faultyFileSystem({})
    const made = makeStore(t, path, { fileSystem: fs })
    await made.store.open()
    const second = DAY + 3600
    const pending: Array<Promise<unknown>> = []
    for (let i = 1; i <= 40; i++) {
      pending.push(made.store.applyBatch(batch(i, [slice(second, { messages: 1, words: { tick: 1 } })])))
      if (i % 5 === 0) pending.push(made.store.snapshotNow())
      if (i % 3 === 0) await sleep(0)
    }
    await Promise.all(pending)
    await made.store.snapshotNow()
    assert.ok(fs.written.length >= 3)
    for (const text of fs.written) {
      const facts = snapshotFacts(text, 'tick')
      assert.equal(facts.totalMessages, facts.sequence)
      assert.equal(facts.count, facts.sequence)
    }
    assert.equal(snapshotFacts(await readFile(path, 'utf8'), 'tick').sequence, 40)
  })
})

describe('MemoryStore snapshot shares the event loop', () => {
  it('serialises a large state in slices: timers run between them, and the state read stays consistent', async (t) => {
    // The event loop's delay (perf_hooks samples it every millisecond), and a timer of our own due every
    // millisecond: how often it ran while the state was serialised.
    const delay = monitorEventLoopDelay({ resolution: 1 })
    let ticks = 0
    let ticker: NodeJS.Timeout | null = null
    t.after(() => { if (ticker !== null) clearInterval(ticker) })
    // Temp-file writes are kept in memory and written at fsync: they resolve at once, so no turn of the event
    // loop comes from the disk and only the serialiser's own yields let timers run. Sampled from the temp
    // file's open (just before the state is read) to its fsync (just after).
    const fileSystem: SnapshotFileSystem = {
      ...nodeFileSystem,
      async open (path, flags) {
        const handle = await nodeFileSystem.open(path, flags)
        if (flags !== 'wx') return handle
        delay.reset()
        delay.enable()
        ticker = setInterval(() => { ticks++ }, 1)
        const pieces: string[] = []
        return {
          write: async (data: string) => { pieces.push(data) },
          sync: async () => {
            delay.disable()
            if (ticker !== null) clearInterval(ticker)
            await handle.write(pieces.join(''))
            await handle.sync()
          },
          close: async () => { await handle.close() }
        }
      }
    }
    const path = join(await tempDir(t), 'store.json')
    const made = makeStore(t, path, { maxTrackedWords: 400_000, maxTrackedPerRoom: 50_000, fileSystem })
    await made.store.open()
    const words = new Map<string, number>()
    for (let i = 0; i < 300_000; i++) words.set(`word-${i.toString(36)}`, 1 + (i % 97))
    const nicks = new Map<string, number>()
    for (let i = 0; i < 100_000; i++) nicks.set(`nick_${i.toString(36)}`, 1 + (i % 31))
    const second = Math.floor(made.clock.now / 1000)
    await made.store.applyBatch(batch(1, [slice(second, { messages: 7, words, nicks, roomDetail: { '#big': { messages: 7, words: [...words].slice(0, 40_000) } } })]))

    const writing = made.store.snapshotNow()
    // A write that arrives meanwhile waits for the state read, so it is not in this snapshot.
    const late = made.store.applyBatch(batch(2, [slice(second, { messages: 1, words: { late: 1 } })]))
    await writing
    assert.equal(await late, 'applied')

    const written = made.store.lastSnapshot
    assert.ok(written !== null)
    t.diagnostic(`snapshot ${(written.bytes / 2 ** 20).toFixed(1)} MiB, ${written.records} records, serialised in ${written.serializeMs.toFixed(0)} ms with ${written.yields} yields; ` +
      `event-loop delay max ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms; a 1 ms timer ran ${ticks} times while serialising`)
    assert.ok(written.bytes > 4 * 2 ** 20, 'a large state')
    // Serialising megabytes takes longer than one slice, so it yields more than once, and each yield gives
    // the timers a turn: the 1 ms timer (due again by the end of each slice, which lasts longer) ran once per
    // yield. All but the first: that one starts from the file's open callback, in the same loop turn's poll
    // phase, and setImmediate resumes it before the turn comes back to the timers.
    assert.ok(written.yields > 1, 'the serialisation yields to the event loop')
    assert.ok(ticks >= written.yields - 1, `the timer ran ${ticks} times for ${written.yields} yields`)
    assert.ok(delay.count > 0, 'the event-loop delay was sampled while serialising')
    assert.deepEqual(snapshotFacts(await readFile(path, 'utf8'), 'late'), { sequence: 1, totalMessages: 7, count: 0 })

    // And the slices add up to a file the reader accepts.
    await made.store.close()
    const again = makeStore(t, path, { maxTrackedWords: 400_000, maxTrackedPerRoom: 50_000, now: made.clock.now })
    await again.store.open()
    assert.equal(again.store.structureSizes().lists.words, 300_001, 'the late word was saved on close')
    assert.equal((await again.store.totals()).totalMessages, 8)
  })
})
