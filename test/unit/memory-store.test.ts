import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { InvalidBatchError, MemoryStore, type MemoryStoreOptions } from '../../src/store/memory/memory-store.js'
import { type Counts, StoreUnavailableError, type TopEntry, type TopList } from '../../src/store/types.js'
import {
  bucketOf, bucketTtlSeconds, MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS, WINDOW_SPECS
} from '../../src/store/windows.js'
import { batch, chatSlice, slice } from '../helpers/batches.js'

/** The entries of an answer that must be exact (maxError 0). */
function exact (list: TopList): TopEntry[] {
  assert.equal(list.maxError, 0, 'exact while nothing was trimmed')
  return list.entries
}

const DAY = Date.UTC(2025, 0, 15) / 1000

interface Made {
  store: MemoryStore
  clock: { now: number }
  /** Applies a batch with the next sequence number. */
  apply: (slices?: Parameters<typeof batch>[1]) => Promise<'applied' | 'duplicate'>
}

async function openStore (t: TestContext, options: Partial<MemoryStoreOptions> = {}): Promise<Made> {
  const clock = { now: DAY * 1000 }
  const store = new MemoryStore({ clock: () => clock.now, maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null, ...options })
  t.after(() => store.close())
  await store.open()
  let sequence = 0
  return { store, clock, apply: (slices = []) => store.applyBatch(batch(++sequence, slices)) }
}

function byteOrder (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function expectedTop (counts: Counts, limit: number, exclude?: (v: string) => boolean): TopEntry[] {
  return [...counts].filter(([v]) => exclude?.(v) !== true).map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || byteOrder(a.value, b.value)).slice(0, limit)
}

describe('MemoryStore expiry', () => {
  it('drops each window bucket exactly when its TTL after the bucket start has passed (its parent built by then)', async (t) => {
    const { store, clock, apply } = await openStore(t)
    const second = DAY + 3600 + 7
    clock.now = second * 1000
    await apply([chatSlice(second, [{ nick: 'ann', room: '#a', words: ['hi'] }])])
    // Coarser buckets are built once their last second is final (storage v2), here by the writes below.
    assert.equal(store.structureSizes().buckets['1m'], 1)
    const expiries = WINDOW_SPECS.map((spec) => ({ spec, at: (bucketOf(spec, second) * spec.bucketSeconds + bucketTtlSeconds(spec)) * 1000 }))
      .sort((a, b) => a.at - b.at)
    for (const { spec, at } of expiries) {
      clock.now = at - 1
      await apply()
      assert.equal(store.structureSizes().buckets[spec.name], 1, `${spec.name} still there 1 ms before`)
      clock.now = at
      await apply()
      assert.equal(store.structureSizes().buckets[spec.name], 0, `${spec.name} gone at its expiry`)
    }
    // The room and all-time counts stay.
    assert.deepEqual(await store.roomTotals('#a', 'all'), { messages: 1, events: {}, tracked: true, firstSeenAt: second * 1000 })
    assert.deepEqual(await store.top('words', { window: 'all', limit: 5 }).then(exact), [{ value: 'hi', count: 1 }])
  })

  it('keeps per-second counts 24 h and per-minute counts 7 days, then forgets them', async (t) => {
    const { store, clock, apply } = await openStore(t)
    const second = DAY + 125
    const minuteMs = Math.floor(second / 60) * 60_000
    clock.now = second * 1000
    await apply([slice(second, { messages: 3 })])
    const seconds = (): Promise<number> => store.series('1s', second * 1000, second * 1000).then((p) => p[0]?.messages ?? -1)
    const minutes = (): Promise<number> => store.series('1m', minuteMs, minuteMs).then((p) => p[0]?.messages ?? -1)

    clock.now = (second + SECOND_SERIES_RETENTION_SECONDS) * 1000 - 1
    await apply()
    assert.equal(await seconds(), 3)
    clock.now += 1
    assert.equal(await seconds(), 0, 'expired points read as zero even before a sweep')
    await apply()
    assert.equal(store.structureSizes().seconds, 0)
    assert.equal(await minutes(), 3)

    clock.now = minuteMs + MINUTE_SERIES_RETENTION_SECONDS * 1000
    assert.equal(await minutes(), 0)
    await apply()
    assert.equal(store.structureSizes().minutes, 0)
  })

  it('stays bounded over three days of traffic with new words every minute', async (t) => {
    const { store, clock, apply } = await openStore(t, { maxTrackedWords: 500, maxTrackedPerRoom: 200 })
    const start = DAY
    let maxBuckets = 0
    for (let minute = 0; minute < 3 * 24 * 60; minute++) {
      const second = start + minute * 60
      clock.now = second * 1000 + 500
      await apply([chatSlice(second, [
        { nick: `n${minute % 97}`, room: `#r${minute % 5}`, words: [`w${minute}`, `v${minute % 300}`, 'common'] }
      ])])
      const sizes = store.structureSizes()
      maxBuckets = Math.max(maxBuckets, ...Object.values(sizes.buckets))
    }
    const sizes = store.structureSizes()
    assert.ok(maxBuckets <= 63, `at most 63 buckets per window, saw ${maxBuckets}`)
    assert.ok(sizes.seconds <= SECOND_SERIES_RETENTION_SECONDS / 60 + 1, `seconds kept: ${sizes.seconds}`)
    assert.equal(sizes.lists.words, 500)
    assert.equal(sizes.rooms, 5)
    for (let r = 0; r < 5; r++) assert.ok((await store.roomTop(`#r${r}`, 'words', { window: 'all', limit: 1000 }).then(exact)).length <= 200)
    assert.deepEqual((await store.top('words', { window: 'all', limit: 1 }).then(exact))[0], { value: 'common', count: 3 * 24 * 60 })
    assert.deepEqual((await store.top('words', { window: '1h', limit: 1 }).then(exact))[0], { value: 'common', count: 60 })
    // Every level holds at most the buckets its window reads, plus one waiting for its parent.
    assert.ok(sizes.windowBuckets <= 5 * 63, `window values kept: ${sizes.windowBuckets}`)
  })
})

describe('MemoryStore bounds (storage v2)', () => {
  it('holds at most the settings whatever the breadth: rooms with detail, members per window value, open members', async (t) => {
    const bounds = { maxTrackedWords: 300, maxTrackedPerRoom: 20, maxTrackedRooms: 7, windowTop: 15, roomWindowTop: 4 }
    const { store, clock, apply } = await openStore(t, bounds)
    let second = DAY + 100
    let maxOpen = 0
    for (let flush = 0; flush < 400; flush++) {
      if (flush % 3 === 0) second++
      clock.now = second * 1000 + 500
      // 40 rooms, a new vocabulary every flush: far more breadth than the bounds hold.
      await apply([chatSlice(second, Array.from({ length: 60 }, (_, i) => ({
        nick: `n${flush}-${i % 13}`, room: `#r${(flush * 7 + i) % 40}`, words: [`w${flush}-${i}`, `v${i % 9}`], emotes: [`E${i % 30}`]
      })))])
      const sizes = store.structureSizes()
      maxOpen = Math.max(maxOpen, sizes.openMembers)
      assert.ok(sizes.rooms <= 7, `rooms with detail: ${sizes.rooms}`)
      assert.ok(sizes.roomMembers <= 7 * 3 * 20, `room members: ${sizes.roomMembers}`)
      assert.ok(Object.values(sizes.lists).every((n) => n <= 300), JSON.stringify(sizes.lists))
      assert.ok(sizes.windowMembers <= sizes.windowBuckets * 4 * 15, `window members: ${sizes.windowMembers} in ${sizes.windowBuckets} values`)
    }
    // Once every level has built what it covers, a windowed list is approximate and says by how much.
    const answer = await store.top('words', { window: '15m', limit: 100 })
    assert.ok(answer.maxError > 0 && answer.entries.length <= 100)
    const rooms = (await store.top('rooms', { window: 'all', limit: 100 })).entries.map((e) => e.value)
    assert.equal(rooms.length, 40)
    let tracked = 0
    for (const room of rooms) if ((await store.roomTotals(room, 'all'))?.tracked === true) tracked++
    assert.equal(tracked, 7, 'the other rooms answer their count, untracked')
    assert.ok(maxOpen > 0)
  })
})

describe('MemoryStore reads', () => {
  it('answers windows exactly right after each write, also inside one bucket and when the clock goes back', async (t) => {
    const { store, clock, apply } = await openStore(t)
    const second = DAY + 5000
    const model = { all: new Map<string, number>() }
    const room = new Map<string, number>()
    const bump = (map: Counts, key: string): void => { map.set(key, (map.get(key) ?? 0) + 1) }
    clock.now = second * 1000
    for (let i = 0; i < 6; i++) {
      const words = [`w${i % 3}`, 'x']
      await apply([chatSlice(second, [{ nick: 'ann', room: '#a', words }])])
      for (const w of words) { bump(model.all, w); bump(room, w) }
      for (const window of ['1m', '5m', '1h', '24h'] as const) {
        assert.deepEqual(await store.top('words', { window, limit: 10 }).then(exact), expectedTop(model.all, 10), `${window} after write ${i}`)
        assert.deepEqual(await store.roomTop('#a', 'words', { window, limit: 10 }).then(exact), expectedTop(room, 10), `#a ${window} after write ${i}`)
      }
      assert.deepEqual(await store.roomTotals('#a', '1m'), { messages: i + 1, events: {}, tracked: true, firstSeenAt: second * 1000 })
    }
    // Two minutes later the 1m window is empty; set the clock back and it covers the writes again.
    clock.now = (second + 120) * 1000
    assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }).then(exact), [])
    assert.deepEqual(await store.roomTop('#a', 'words', { window: '1m', limit: 10 }).then(exact), [])
    clock.now = (second + 30) * 1000
    assert.deepEqual(await store.top('words', { window: '1m', limit: 10 }).then(exact), expectedTop(model.all, 10))
    assert.deepEqual(await store.roomTop('#a', 'words', { window: '1m', limit: 10 }).then(exact), expectedTop(room, 10))
  })

  it('fills the limit when exclude drops most of the head of a big list', async (t) => {
    const { store, clock, apply } = await openStore(t, { maxTrackedWords: 10_000, maxTrackedPerRoom: 10_000, windowTop: 10_000, roomWindowTop: 10_000 })
    const words = new Map<string, number>()
    for (let i = 0; i < 5000; i++) words.set(`w${i}`, 5000 - i)
    clock.now = (DAY + 10) * 1000
    await apply([slice(DAY + 10, { messages: 1, words, roomDetail: { '#a': { messages: 1, words } } })])
    // Everything but every 40th word of the first 4000 is "a stop word".
    const exclude = (v: string): boolean => Number(v.slice(1)) < 4000 && Number(v.slice(1)) % 40 !== 0
    for (const window of ['all', '1m'] as const) {
      assert.deepEqual(await store.top('words', { window, limit: 100, exclude }).then(exact), expectedTop(words, 100, exclude), window)
      assert.deepEqual(await store.roomTop('#a', 'words', { window, limit: 100, exclude }).then(exact), expectedTop(words, 100, exclude), `#a ${window}`)
    }
  })

  it('uses its own clock for the lease', async (t) => {
    const { store, clock } = await openStore(t)
    assert.equal(await store.acquireLease('one', 1000), true)
    assert.equal(await store.acquireLease('two', 1000), false)
    clock.now += 999
    assert.equal(await store.renewLease('one', 1000), true)
    clock.now += 1000
    assert.equal(await store.renewLease('one', 1000), false, 'lapsed')
    await assert.rejects(store.applyBatch(batch(1, []), 'one'), { code: 'CS_LEASE_LOST' })
    assert.equal(await store.acquireLease('two', 1000), true)
    assert.equal(await store.applyBatch(batch(1, []), 'two'), 'applied')
  })
})

describe('MemoryStore lifecycle and input', () => {
  it('refuses to work before open() and after close()', async (t) => {
    const store = new MemoryStore({ maxTrackedWords: 100, maxTrackedPerRoom: 100, snapshotPath: null })
    t.after(() => store.close())
    await assert.rejects(store.ping(), (err: unknown) => err instanceof StoreUnavailableError && /open\(\)/.test(err.message))
    await assert.rejects(store.applyBatch(batch(1, [])), StoreUnavailableError)
    await Promise.all([store.open(), store.open()])
    await store.open()
    await store.ping()
    await store.close()
    await store.close()
    await assert.rejects(store.top('words', { window: 'all', limit: 1 }).then(exact), StoreUnavailableError)
    await assert.rejects(store.open(), StoreUnavailableError)
  })

  it('finishes writes accepted before close()', async (t) => {
    const { store } = await openStore(t)
    const pending = store.applyBatch(batch(1, [slice(DAY, { messages: 2 })]))
    await store.close()
    assert.equal(await pending, 'applied')
  })

  it('rejects bad options and bad batches with clear errors, writing nothing', async (t) => {
    assert.throws(() => new MemoryStore({ maxTrackedWords: 0, maxTrackedPerRoom: 1, snapshotPath: null }), /maxTrackedWords must be a positive integer/)
    assert.throws(() => new MemoryStore({ maxTrackedWords: 1, maxTrackedPerRoom: 1.5, snapshotPath: null }), /maxTrackedPerRoom/)
    assert.throws(() => new MemoryStore({ maxTrackedWords: 1, maxTrackedPerRoom: 1, snapshotPath: '' }), /snapshotPath/)
    const { store } = await openStore(t)
    const bad = [
      { ...batch(1, []), sequence: Number.NaN },
      { ...batch(1, []), slices: 'nope' },
      batch(1, [{ ...slice(DAY), second: -1 }]),
      batch(1, [{ ...slice(DAY), words: { a: 1 } as never }]),
      batch(1, [slice(DAY, { words: { ok: 2 }, roomDetail: { '#r': { messages: -1 } } })]),
      { ...batch(1, []), failedLog: [{ raw: 'x', reason: 'y', at: 'then' }] },
      { ...batch(1, []), lastEventId: 42 }
    ]
    for (const b of bad) {
      await assert.rejects(store.applyBatch(b as never), (err: unknown) => err instanceof InvalidBatchError && err.code === 'CS_INVALID_BATCH', JSON.stringify(b))
    }
    assert.deepEqual(await store.position(), { lastEventId: null, sequence: 0 })
    assert.deepEqual(await store.top('words', { window: 'all', limit: 5 }).then(exact), [])
    await assert.rejects(store.series('1s', 0, 1e12), /at most/)
    await assert.rejects(store.top('hashtags' as never, { window: 'all', limit: 5 }).then(exact), /unknown category/)
  })
})
