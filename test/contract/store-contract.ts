import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Random } from '../../src/simulator/prng.js'
import {
  CATEGORIES,
  type Category,
  type RoomCategory,
  type Counts,
  type FailedMessage,
  LeaseLostError,
  StoreBehindError,
  ROOM_CATEGORIES,
  type StatsStore,
  type TopEntry,
  type TopQuery,
  WINDOW_NAMES,
  type WindowName
} from '../../src/store/types.js'
import { MAX_SERIES_POINTS } from '../../src/store/series.js'
import { bucketOf, WINDOW_SPECS, type WindowSpec } from '../../src/store/windows.js'
import { batch, chatSlice, type CountsInput, slice } from '../helpers/batches.js'
import { describeStorageBounds } from './bounds-contract.js'

/**
 * The StatsStore conformance suite (docs/STORAGE.md).
 * Every store runs it:
 *
 *   runStoreContract('MemoryStore', async (bounds) => {
 *     const store = new MemoryStore({ ...bounds, snapshotPath: null })
 *     return { store, cleanup: () => store.close() }
 *   })
 *
 * The factory returns a NEW, EMPTY, NOT YET OPENED store using the given
 * clock and bounds (and the default maxFailedLog, 1000); the suite opens it.
 * `cleanup` closes the store (close() is idempotent, the suite may have
 * closed it already) and deletes whatever it wrote.
 *
 * Time is a mutable clock, never the wall clock: the only real waits are
 * for lease expiry (Redis expires keys by real time; TTLs of 150 ms).
 * Window answers may be cached for up to a second by (window, current
 * bucket), so every test writes all it needs before it reads a window, or
 * reads again only after the clock moved to another bucket.
 */

export interface StoreFactoryOptions {
  clock: () => number
  maxTrackedWords: number
  maxTrackedPerRoom: number
  /** MAX_TRACKED_ROOMS */
  maxTrackedRooms: number
  /** WINDOW_TOP */
  windowTop: number
  /** ROOM_WINDOW_TOP */
  roomWindowTop: number
}

export type StoreFactory = (options: StoreFactoryOptions) => Promise<{ store: StatsStore, cleanup: () => Promise<void> }>

export interface ContractOptions {
  /**
   * False for a sharded store: each shard trims its own part of a stream-wide
   * list to ceil(maxTrackedWords / shards), which no single-list model can
   * follow (its own tests cover that). Room lists are still trimmed exactly.
   * Default true.
   */
  globalTrim?: boolean
}

/** A day start (every bucket size divides 86400), in epoch seconds. */
const DAY = Date.UTC(2025, 0, 15) / 1000
/** Failed messages a store keeps by default. */
const DEFAULT_FAILED_LOG = 1000
const LEASE_TTL_MS = 150

/** The specified order of values: code points, which is UTF-8 byte order (computed here independently of top-order.ts). */
function byteOrder (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** The exact expected top list of a counts map. */
function expectedTop (counts: Counts | CountsInput, limit: number, exclude?: (value: string) => boolean): TopEntry[] {
  const map: ReadonlyMap<string, number> = counts instanceof Map ? counts : new Map<string, number>(Array.isArray(counts) ? counts : Object.entries(counts))
  return [...map]
    .filter(([value, count]) => count > 0 && !(exclude?.(value) ?? false))
    .map(([value, count]) => ({ value, count }))
    .sort((x, y) => y.count - x.count || byteOrder(x.value, y.value))
    .slice(0, limit)
}

function addInto (into: Counts, from: Counts | CountsInput): void {
  const pairs = from instanceof Map ? [...from] : Array.isArray(from) ? from : Object.entries(from as Record<string, number>)
  for (const [key, n] of pairs) into.set(key, (into.get(key) ?? 0) + n)
}

/** What Redis's ZREMRANGEBYRANK 0 (card-max-1) leaves: drop lowest counts first, equal counts lowest value first. */
function trimmed (counts: Counts, max: number): Counts {
  if (counts.size <= max) return counts
  const ascending = [...counts].sort((x, y) => x[1] - y[1] || byteOrder(x[0], y[0]))
  return new Map(ascending.slice(ascending.length - max))
}

interface Harness {
  store: StatsStore
  /** The store's clock, epoch ms; tests move it. */
  clock: { now: number }
  /** Sets the clock to an epoch second plus `ms`. */
  at: (second: number, ms?: number) => void
}

/** Runs the conformance suite against the stores `factory` makes. */
export function runStoreContract (name: string, factory: StoreFactory, contract: ContractOptions = {}): void {
  const globalTrim = contract.globalTrim ?? true
  async function setup (t: TestContext, bounds: Partial<Omit<StoreFactoryOptions, 'clock'>> = {}): Promise<Harness> {
    const clock = { now: DAY * 1000 }
    const { store, cleanup } = await factory({
      clock: () => clock.now,
      maxTrackedWords: bounds.maxTrackedWords ?? 10_000,
      maxTrackedPerRoom: bounds.maxTrackedPerRoom ?? 10_000,
      maxTrackedRooms: bounds.maxTrackedRooms ?? 1000,
      windowTop: bounds.windowTop ?? 10_000,
      roomWindowTop: bounds.roomWindowTop ?? 10_000
    })
    t.after(cleanup)
    await store.open()
    return { store, clock, at: (second, ms = 0) => { clock.now = second * 1000 + ms } }
  }

  /** A stream-wide list that must be exact (maxError 0): the bounds of these tests drop nothing. */
  const top = async (store: StatsStore, category: Category, window: WindowName, limit = 100, exclude?: TopQuery['exclude']): Promise<TopEntry[]> => {
    const list = await store.top(category, { window, limit, exclude })
    assert.equal(list.maxError, 0, `${category} ${window}: exact while nothing was trimmed`)
    return list.entries
  }
  /** A room's list that must be exact (maxError 0). */
  const roomTop = async (store: StatsStore, room: string, category: RoomCategory, query: TopQuery): Promise<TopEntry[]> => {
    const list = await store.roomTop(room, category, query)
    assert.equal(list.maxError, 0, `${room} ${category} ${query.window}: exact while nothing was trimmed`)
    return list.entries
  }

  describe(`StatsStore contract: ${name}`, () => {
    describe('empty store', () => {
      it('answers zeros, nulls and empty lists', async (t) => {
        const { store } = await setup(t)
        await store.ping()
        assert.deepEqual(await store.position(), { lastEventId: null, sequence: 0 })
        assert.deepEqual(await store.totals(), { totalMessages: 0, failedMessages: 0, events: {}, startedAt: null, lastMessageAt: null })
        for (const window of WINDOW_NAMES) {
          for (const category of CATEGORIES) assert.deepEqual(await top(store, category, window), [])
          assert.equal(await store.roomTotals('#nowhere', window), null)
          for (const category of ROOM_CATEGORIES) assert.deepEqual(await roomTop(store, '#nowhere', category, { window, limit: 10 }), [])
        }
        assert.deepEqual(await store.failedMessages(10), [])
        assert.deepEqual(await store.series('1s', DAY * 1000 - 2000, DAY * 1000), [
          { t: DAY * 1000 - 2000, messages: 0 }, { t: DAY * 1000 - 1000, messages: 0 }, { t: DAY * 1000, messages: 0 }
        ])
      })

      it('closes idempotently', async (t) => {
        const { store } = await setup(t)
        await store.close()
        await store.close()
      })
    })

    describe('applyBatch', () => {
      it('reads back every statistic of a batch exactly', async (t) => {
        const { store, at } = await setup(t)
        const second = DAY + 3600 + 17
        at(second, 400)
        const s = chatSlice(second, [
          { nick: 'ann', room: '#a', words: ['hello', 'kappa', 'hello'], emotes: ['Kappa'] },
          { nick: 'bob', room: '#a', words: ['hi'] },
          { nick: 'ann', room: '#b', words: ['hello', 'ㅋㅋㅋ'], emotes: ['LUL', 'Kappa'] },
          { nick: 'cid', room: '', words: ['solo'] }
        ], [{ command: 'CLEARCHAT', room: '#a' }, { command: 'USERNOTICE' }, { command: 'CLEARCHAT', room: '#b' }, { command: 'CLEARMSG', room: '#a' }])
        const outcome = await store.applyBatch(batch(1, [s], { lastEventId: 'id-9', lastMessageAt: second * 1000 + 300 }))
        assert.equal(outcome, 'applied')

        assert.deepEqual(await store.position(), { lastEventId: 'id-9', sequence: 1 })
        assert.deepEqual(await store.totals(), {
          totalMessages: 4,
          failedMessages: 0,
          events: { CLEARCHAT: 2, USERNOTICE: 1, CLEARMSG: 1 },
          startedAt: second * 1000 + 400,
          lastMessageAt: second * 1000 + 300
        })
        for (const window of WINDOW_NAMES) {
          for (const category of CATEGORIES) assert.deepEqual(await top(store, category, window), expectedTop(s[category], 100), `${category} ${window}`)
          for (const room of ['#a', '#b']) {
            const detail = s.roomDetail.get(room)!
            const totals = await store.roomTotals(room, window)
            assert.deepEqual(totals, { messages: detail.messages, events: Object.fromEntries(detail.events), tracked: true, firstSeenAt: second * 1000 }, `${room} ${window}`)
            for (const category of ROOM_CATEGORIES) {
              assert.deepEqual(await roomTop(store, room, category, { window, limit: 100 }), expectedTop(detail[category], 100), `${room} ${category} ${window}`)
            }
          }
        }
        assert.deepEqual(await top(store, 'words', 'all', 2), [{ value: 'hello', count: 3 }, { value: 'hi', count: 1 }])
        assert.deepEqual(await store.series('1s', second * 1000 - 1000, second * 1000 + 1000), [
          { t: second * 1000 - 1000, messages: 0 }, { t: second * 1000, messages: 4 }, { t: second * 1000 + 1000, messages: 0 }
        ])
        const minute = Math.floor(second / 60) * 60_000
        assert.deepEqual(await store.series('1m', minute - 60_000, minute + 60_000), [
          { t: minute - 60_000, messages: 0 }, { t: minute, messages: 4 }, { t: minute + 60_000, messages: 0 }
        ])
      })

      it('adds up batches and multi-slice batches, filing each slice in its own second', async (t) => {
        const { store, at } = await setup(t)
        const first = DAY + 7 * 60 + 58 // two slices before a minute boundary, one after
        const slices = [
          chatSlice(first, [{ nick: 'ann', room: '#a', words: ['x', 'y'] }, { nick: 'bob', room: '#b', words: ['x'] }]),
          chatSlice(first + 1, [{ nick: 'ann', room: '#a', words: ['y', 'y'], emotes: ['Kappa'] }], [{ command: 'CLEARCHAT', room: '#c' }]),
          chatSlice(first + 2, [{ nick: 'cid', room: '#a', words: ['z'] }, { nick: 'ann', room: '#b', words: ['x'] }])
        ]
        at(first + 2, 900)
        assert.equal(await store.applyBatch(batch(1, slices)), 'applied')
        const later = chatSlice(first + 2, [{ nick: 'dee', room: '#a', words: ['x'] }])
        assert.equal(await store.applyBatch(batch(2, [later])), 'applied')

        const all = [...slices, later]
        const sum = (pick: (s: typeof later) => Counts): Counts => {
          const out: Counts = new Map()
          for (const s of all) addInto(out, pick(s))
          return out
        }
        assert.equal((await store.totals()).totalMessages, 6)
        assert.deepEqual((await store.totals()).events, { CLEARCHAT: 1 })
        for (const window of WINDOW_NAMES) {
          for (const category of CATEGORIES) assert.deepEqual(await top(store, category, window), expectedTop(sum((s) => s[category]), 100), `${category} ${window}`)
          for (const room of ['#a', '#b']) {
            for (const category of ROOM_CATEGORIES) {
              const expected = sum((s) => s.roomDetail.get(room)?.[category] ?? new Map())
              assert.deepEqual(await roomTop(store, room, category, { window, limit: 100 }), expectedTop(expected, 100), `${room} ${category} ${window}`)
            }
          }
          assert.deepEqual(await store.roomTotals('#a', window), { messages: 4, events: {}, tracked: true, firstSeenAt: first * 1000 })
          assert.deepEqual(await store.roomTotals('#c', window), { messages: 0, events: { CLEARCHAT: 1 }, tracked: true, firstSeenAt: (first + 1) * 1000 })
        }
        assert.deepEqual((await store.series('1s', first * 1000, (first + 3) * 1000)).map((p) => p.messages), [2, 1, 3, 0])
        const minute = Math.floor(first / 60) * 60_000
        assert.deepEqual(await store.series('1m', minute, minute + 60_000), [{ t: minute, messages: 3 }, { t: minute + 60_000, messages: 3 }])
      })

      it('refuses a sequence that is not above the committed one and counts nothing twice', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 10)
        const s = chatSlice(DAY + 10, [{ nick: 'ann', room: '#a', words: ['x'] }], [{ command: 'CLEARCHAT', room: '#a' }])
        const failed = [{ raw: '{', reason: 'invalid JSON', at: (DAY + 10) * 1000 }]
        assert.equal(await store.applyBatch(batch(3, [s], { failedLog: failed, lastEventId: 'a', lastMessageAt: (DAY + 10) * 1000 })), 'applied')
        const before = {
          totals: await store.totals(),
          position: await store.position(),
          failed: await store.failedMessages(10),
          words: await top(store, 'words', 'all'),
          room: await store.roomTotals('#a', 'all')
        }
        at(DAY + 11)
        const again = chatSlice(DAY + 11, [{ nick: 'bob', room: '#a', words: ['x', 'new'] }], [{ command: 'CLEARCHAT', room: '#new' }])
        for (const sequence of [3, 2, 1]) {
          assert.equal(await store.applyBatch(batch(sequence, [again], { failedLog: failed, lastEventId: 'b', lastMessageAt: (DAY + 11) * 1000 })), 'duplicate')
        }
        assert.deepEqual(await store.totals(), before.totals)
        assert.deepEqual(await store.position(), before.position)
        assert.deepEqual(await store.failedMessages(10), before.failed)
        assert.deepEqual(await top(store, 'words', 'all'), before.words)
        assert.deepEqual(await store.roomTotals('#a', 'all'), before.room)
        assert.equal(await store.roomTotals('#new', 'all'), null)
        assert.deepEqual(await top(store, 'words', '1m'), [{ value: 'x', count: 1 }])
        assert.deepEqual((await store.series('1s', (DAY + 10) * 1000, (DAY + 11) * 1000)).map((p) => p.messages), [1, 0])
        assert.equal(await store.applyBatch(batch(4, [again])), 'applied')
        assert.deepEqual(await top(store, 'words', 'all'), [{ value: 'x', count: 2 }, { value: 'new', count: 1 }])
      })

      it('keeps the last event id when a batch carries none', async (t) => {
        const { store } = await setup(t)
        await store.applyBatch(batch(1, [], { lastEventId: 'abc:1:xyz' }))
        assert.deepEqual(await store.position(), { lastEventId: 'abc:1:xyz', sequence: 1 })
        await store.applyBatch(batch(2, []))
        assert.deepEqual(await store.position(), { lastEventId: 'abc:1:xyz', sequence: 2 })
        await store.applyBatch(batch(5, [], { lastEventId: 'next' }))
        assert.deepEqual(await store.position(), { lastEventId: 'next', sequence: 5 })
      })

      it('sets startedAt once and keeps the latest lastMessageAt', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 100, 250)
        assert.equal(await store.applyBatch(batch(1, [], { failedCount: 0 })), 'applied')
        assert.deepEqual(await store.totals(), { totalMessages: 0, failedMessages: 0, events: {}, startedAt: (DAY + 100) * 1000 + 250, lastMessageAt: null })
        at(DAY + 200)
        await store.applyBatch(batch(2, [chatSlice(DAY + 200, [{ nick: 'a' }])], { lastMessageAt: (DAY + 200) * 1000 + 10 }))
        await store.applyBatch(batch(3, [], { lastMessageAt: (DAY + 150) * 1000 }))
        await store.applyBatch(batch(4, []))
        const totals = await store.totals()
        assert.equal(totals.startedAt, (DAY + 100) * 1000 + 250)
        assert.equal(totals.lastMessageAt, (DAY + 200) * 1000 + 10)
      })

      it('trims once per batch to maxTrackedWords and maxTrackedPerRoom, lowest counts and values first', async (t) => {
        const { store, at } = await setup(t, { maxTrackedWords: 5, maxTrackedPerRoom: 3 })
        at(DAY + 50)
        const words: Array<[string, number]> = [['a', 3], ['b', 1], ['c', 1], ['é', 1], ['😀', 2], ['\uE000', 2], ['d', 5], ['e', 1]]
        const nicks: Array<[string, number]> = [['n1', 2], ['n2', 2], ['n3', 2], ['n4', 2], ['n5', 2], ['n6', 2], ['n7', 1]]
        const rooms: Array<[string, number]> = [['#r1', 1], ['#r2', 1], ['#r3', 1], ['#r4', 1], ['#r5', 1], ['#r6', 1]]
        const roomWords: Array<[string, number]> = [['x', 1], ['y', 1], ['z', 1], ['w', 2]]
        // The 2nd slice rescues 'b' (trimming happens after the whole batch, not per slice).
        const slices = [
          slice(DAY + 49, { messages: 6, words, nicks, rooms, emotes: words, roomDetail: { '#r1': { messages: 6, words: roomWords, nicks, emotes: roomWords } } }),
          slice(DAY + 50, { messages: 1, words: [['b', 4]], roomDetail: { '#r1': { messages: 1, words: [['z', 3]] } } })
        ]
        await store.applyBatch(batch(1, slices))
        const merged = (pick: (s: (typeof slices)[number]) => Counts): Counts => {
          const out: Counts = new Map()
          for (const s of slices) addInto(out, pick(s))
          return out
        }
        for (const category of CATEGORIES) {
          const expected = expectedTop(trimmed(merged((s) => s[category]), 5), 100)
          assert.equal(expected.length, 5)
          if (globalTrim) assert.deepEqual(await top(store, category, 'all'), expected, category)
          // Window buckets are bounded by expiry only.
          assert.deepEqual(await top(store, category, '1m'), expectedTop(merged((s) => s[category]), 100), `${category} 1m`)
        }
        for (const category of ROOM_CATEGORIES) {
          const expected = expectedTop(trimmed(merged((s) => s.roomDetail.get('#r1')![category]), 3), 100)
          assert.deepEqual(await roomTop(store, '#r1', category, { window: 'all', limit: 100 }), expected, `#r1 ${category}`)
        }
        if (!globalTrim) return
        assert.deepEqual(await top(store, 'words', 'all'), [
          { value: 'b', count: 5 }, { value: 'd', count: 5 }, { value: 'a', count: 3 }, { value: '\uE000', count: 2 }, { value: '😀', count: 2 }
        ])

        // A trimmed member starts again from its new counts ('c' had 1), and the lowest goes ('\uE000' before '😀').
        at(DAY + 51)
        await store.applyBatch(batch(2, [slice(DAY + 51, { messages: 1, words: [['c', 3]] })]))
        assert.deepEqual(await top(store, 'words', 'all'), [
          { value: 'b', count: 5 }, { value: 'd', count: 5 }, { value: 'a', count: 3 }, { value: 'c', count: 3 }, { value: '😀', count: 2 }
        ])
      })

      it('refuses malformed batches and writes nothing', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 5)
        await assert.rejects(store.applyBatch(batch(0, [])))
        await assert.rejects(store.applyBatch(batch(1.5, [])))
        await assert.rejects(store.applyBatch(batch(1, [slice(DAY + 5, { messages: 1, words: { ok: 1, bad: -2 } })])))
        await assert.rejects(store.applyBatch(batch(1, [slice(DAY + 5, { messages: 1, words: { bad: 0.5 } })])))
        assert.deepEqual(await store.position(), { lastEventId: null, sequence: 0 })
        assert.deepEqual(await top(store, 'words', 'all'), [])
        assert.equal((await store.totals()).startedAt, null)
      })

      it('never lists a member whose count is 0', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 5)
        await store.applyBatch(batch(1, [slice(DAY + 5, { messages: 1, words: { zero: 0, one: 1 }, nicks: { nobody: 0 }, roomDetail: { '#r': { messages: 0, words: { zero: 0 } } } })]))
        assert.deepEqual(await top(store, 'words', 'all'), [{ value: 'one', count: 1 }])
        assert.deepEqual(await top(store, 'words', '5m'), [{ value: 'one', count: 1 }])
        assert.deepEqual(await top(store, 'nicks', 'all'), [])
        assert.deepEqual(await roomTop(store, '#r', 'words', { window: 'all', limit: 10 }), [])
      })
    })

    describe('top lists', () => {
      // Equal counts sort by code point; JS '<' would put the astral ones before U+E000..U+FFFF.
      const tied = ['b', 'a', 'é', '\uE000', '\uFFFF', '😀', '𝄞', 'Z', 'ab', '中', 'a b', 'A']
      const words: Array<[string, number]> = [...tied.map((w): [string, number] => [w, 2]), ['top', 5], ['low', 1]]

      it('sorts by count, ties by code point, in every window and in rooms', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 30)
        await store.applyBatch(batch(1, [slice(DAY + 30, { messages: 1, words, roomDetail: { '#r': { messages: 1, words, emotes: words } } })]))
        const expected = expectedTop(words, 100)
        assert.deepEqual(expected.map((e) => e.value), ['top', 'A', 'Z', 'a', 'a b', 'ab', 'b', 'é', '中', '\uE000', '\uFFFF', '𝄞', '😀', 'low'])
        for (const window of WINDOW_NAMES) {
          assert.deepEqual(await top(store, 'words', window), expected, window)
          assert.deepEqual(await roomTop(store, '#r', 'emotes', { window, limit: 100 }), expected, `room ${window}`)
        }
      })

      it('cuts at limit inside a tie group keeping the smallest values', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 30)
        await store.applyBatch(batch(1, [slice(DAY + 30, { messages: 1, words, roomDetail: { '#r': { messages: 1, nicks: words } } })]))
        for (const limit of [1, 2, 4, 7, 13, 14, 15, 100]) {
          for (const window of ['all', '15m'] as const) {
            assert.deepEqual(await top(store, 'words', window, limit), expectedTop(words, limit), `limit ${limit} ${window}`)
            assert.deepEqual(await roomTop(store, '#r', 'nicks', { window, limit }), expectedTop(words, limit), `room limit ${limit} ${window}`)
          }
        }
        assert.deepEqual((await top(store, 'words', 'all', 3)).map((e) => e.value), ['top', 'A', 'Z'])
      })

      it('rejects a limit below 1 and an unknown window', async (t) => {
        const { store } = await setup(t)
        await assert.rejects(store.top('words', { window: 'all', limit: 0 }))
        await assert.rejects(store.top('words', { window: '2m' as WindowName, limit: 10 }))
      })

      it('still returns limit entries when exclude drops many, ties cut among the kept ones', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 40)
        const distinct: Array<[string, number]> = []
        for (let i = 0; i < 400; i++) distinct.push([`w${String(i).padStart(3, '0')}`, 1000 - i])
        // 300 equal counts, interleaved kept/excluded, in an order unlike byte order.
        for (let i = 0; i < 300; i++) distinct.push([`t${String((i * 7919) % 300).padStart(3, '0')}`, 3])
        const excluded = (value: string): boolean => Number(value.slice(1)) % 5 !== 0
        await store.applyBatch(batch(1, [slice(DAY + 40, { messages: 1, words: distinct, roomDetail: { '#r': { messages: 1, words: distinct } } })]))
        for (const limit of [1, 10, 79, 80, 81, 100]) {
          const expected = expectedTop(distinct, limit, excluded)
          assert.equal(expected.length, limit)
          for (const window of ['all', '1h'] as const) {
            assert.deepEqual(await top(store, 'words', window, limit, excluded), expected, `${window} ${limit}`)
            assert.deepEqual(await roomTop(store, '#r', 'words', { window, limit, exclude: excluded }), expected, `room ${window} ${limit}`)
          }
        }
        const keepNothing = (): boolean => true
        assert.deepEqual(await top(store, 'words', 'all', 10, keepNothing), [])
        const keepOnlyTies = (value: string): boolean => !value.startsWith('t')
        assert.deepEqual(await top(store, 'words', 'all', 5, keepOnlyTies), expectedTop(distinct, 5, keepOnlyTies))
      })
    })

    describe('windows', () => {
      for (const spec of WINDOW_SPECS) {
        it(`${spec.name}: counts stay inside the window until their bucket leaves it`, async (t) => {
          const { store, at } = await setup(t)
          const bs = spec.bucketSeconds
          // s1 in the middle of a bucket, s2 at the start of the next one, s3 at the end of that one.
          const s1 = DAY + 120 * bs + Math.floor(bs / 2)
          const s2 = (bucketOf(spec, s1) + 1) * bs
          const s3 = s2 + bs - 1
          const leaves = (second: number): number => (bucketOf(spec, second) + spec.buckets) * bs
          const lines3 = [{ nick: 'bob', room: '#a', words: ['new'] }]
          const events3 = [{ command: 'CLEARMSG', room: '#a' }]
          const slices = [
            chatSlice(s1, [{ nick: 'ann', room: '#a', words: ['old', 'both'] }], [{ command: 'CLEARCHAT', room: '#a' }]),
            // With 1-second buckets s3 is s2: one slice then.
            ...(s3 === s2
              ? [chatSlice(s2, [{ nick: 'bob', room: '#a', words: ['new', 'both'] }, ...lines3], events3)]
              : [chatSlice(s2, [{ nick: 'bob', room: '#a', words: ['new', 'both'] }]), chatSlice(s3, lines3, events3)])
          ]
          at(s3, 999)
          await store.applyBatch(batch(1, slices))
          const window = spec.name
          const check = async (label: string, words: TopEntry[], nicks: TopEntry[], messages: number, events: Record<string, number>): Promise<void> => {
            assert.deepEqual(await top(store, 'words', window), words, `${window} words ${label}`)
            assert.deepEqual(await roomTop(store, '#a', 'nicks', { window, limit: 10 }), nicks, `${window} room nicks ${label}`)
            assert.deepEqual(await top(store, 'rooms', window), messages === 0 ? [] : [{ value: '#a', count: messages }], `${window} rooms ${label}`)
            assert.deepEqual(await store.roomTotals('#a', window), { messages, events, tracked: true, firstSeenAt: s1 * 1000 }, `${window} room totals ${label}`)
          }
          const allIn = async (label: string): Promise<void> => check(label,
            [{ value: 'both', count: 2 }, { value: 'new', count: 2 }, { value: 'old', count: 1 }],
            [{ value: 'bob', count: 2 }, { value: 'ann', count: 1 }], 3, { CLEARCHAT: 1, CLEARMSG: 1 })
          await allIn('just written')
          at(leaves(s1) - 1, 999)
          await allIn('last ms of s1')
          at(leaves(s1))
          await check('s1 left', [{ value: 'new', count: 2 }, { value: 'both', count: 1 }], [{ value: 'bob', count: 2 }], 2, { CLEARMSG: 1 })
          assert.equal(leaves(s2), leaves(s3))
          at(leaves(s3) - 1, 999)
          await check('last ms of s3', [{ value: 'new', count: 2 }, { value: 'both', count: 1 }], [{ value: 'bob', count: 2 }], 2, { CLEARMSG: 1 })
          at(leaves(s3))
          await check('all left', [], [], 0, {})
          // All time is never windowed.
          assert.deepEqual(await top(store, 'words', 'all'), [{ value: 'both', count: 2 }, { value: 'new', count: 2 }, { value: 'old', count: 1 }])
          assert.deepEqual(await store.roomTotals('#a', 'all'), { messages: 3, events: { CLEARCHAT: 1, CLEARMSG: 1 }, tracked: true, firstSeenAt: s1 * 1000 })
        })
      }

      it('sums every bucket a window covers', async (t) => {
        const { store, at } = await setup(t)
        const spec: WindowSpec = WINDOW_SPECS.find((s) => s.name === '5m')!
        const start = DAY + 3000
        const slices = []
        for (let i = 0; i < 70; i++) slices.push(chatSlice(start + i * 5, [{ nick: `n${i % 3}`, room: '#a', words: [`w${i % 4}`] }]))
        const last = start + 69 * 5
        at(last, 500)
        await store.applyBatch(batch(1, slices))
        const covered = slices.filter((s) => bucketOf(spec, s.second) > bucketOf(spec, last) - spec.buckets)
        assert.equal(covered.length, 60)
        const words: Counts = new Map()
        for (const s of covered) addInto(words, s.words)
        assert.deepEqual(await top(store, 'words', '5m'), expectedTop(words, 100))
        assert.deepEqual(await store.roomTotals('#a', '5m'), { messages: 60, events: {}, tracked: true, firstSeenAt: start * 1000 })
        assert.deepEqual(await store.roomTotals('#a', '1m'), { messages: 12, events: {}, tracked: true, firstSeenAt: start * 1000 })
        assert.deepEqual(await store.roomTotals('#a', '1h'), { messages: 70, events: {}, tracked: true, firstSeenAt: start * 1000 })
      })
    })

    describe('series', () => {
      it('gives one zero-filled point per interval starting in [from, to]', async (t) => {
        const { store, at } = await setup(t)
        const base = DAY + 86_400 - 2 // across a day boundary
        at(base + 3)
        await store.applyBatch(batch(1, [
          slice(base, { messages: 2 }),
          slice(base + 1, { messages: 5 }),
          slice(base + 3, { messages: 1 })
        ]))
        assert.deepEqual(await store.series('1s', base * 1000 - 500, (base + 4) * 1000 + 999), [
          { t: base * 1000, messages: 2 },
          { t: (base + 1) * 1000, messages: 5 },
          { t: (base + 2) * 1000, messages: 0 },
          { t: (base + 3) * 1000, messages: 1 },
          { t: (base + 4) * 1000, messages: 0 }
        ])
        assert.deepEqual(await store.series('1s', (base + 1) * 1000 + 1, (base + 1) * 1000 + 999), [])
        assert.deepEqual(await store.series('1s', (base + 1) * 1000, (base + 1) * 1000), [{ t: (base + 1) * 1000, messages: 5 }])
        const minute = (DAY + 86_400 - 60) * 1000
        assert.deepEqual(await store.series('1m', minute - 60_000, minute + 120_000), [
          { t: minute - 60_000, messages: 0 },
          { t: minute, messages: 7 },
          { t: minute + 60_000, messages: 1 },
          { t: minute + 120_000, messages: 0 }
        ])
        // A day of seconds is the longest read (MAX_SERIES_POINTS); one more point is refused.
        const day = await store.series('1s', (DAY + 6) * 1000, (DAY + 86_405) * 1000)
        assert.equal(day.length, MAX_SERIES_POINTS)
        assert.equal(day.reduce((n, p) => n + p.messages, 0), 8)
        await assert.rejects(store.series('1s', (DAY + 5) * 1000, (DAY + 86_405) * 1000), RangeError)
      })
    })

    describe('failed messages', () => {
      it('keeps the newest first, capped, and counts every failure', async (t) => {
        const { store, at } = await setup(t)
        const entry = (i: number): FailedMessage => ({ raw: `raw ${i} "quoted" ✓`, reason: i % 2 === 0 ? 'invalid JSON' : 'not an object', at: DAY * 1000 + i })
        at(DAY + 1)
        await store.applyBatch(batch(1, [], { failedCount: 700, failedLog: Array.from({ length: 600 }, (_, i) => entry(i)) }))
        assert.deepEqual(await store.failedMessages(3), [entry(599), entry(598), entry(597)])
        await store.applyBatch(batch(2, [], { failedLog: Array.from({ length: 600 }, (_, i) => entry(600 + i)) }))
        assert.equal((await store.totals()).failedMessages, 1300)
        const all = await store.failedMessages(5000)
        assert.equal(all.length, DEFAULT_FAILED_LOG)
        assert.deepEqual(all[0], entry(1199))
        assert.deepEqual(all.at(-1), entry(1199 - DEFAULT_FAILED_LOG + 1))
        assert.deepEqual(all.map((e) => e.at), Array.from({ length: DEFAULT_FAILED_LOG }, (_, i) => DAY * 1000 + 1199 - i))
        assert.deepEqual(await store.failedMessages(0), [])
      })
    })

    describe('rooms', () => {
      it('knows a room only from an applied batch, even one with only moderation events', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 9)
        await store.applyBatch(batch(1, [chatSlice(DAY + 9, [{ nick: 'ann', room: '#chat', words: ['hi'] }], [
          { command: 'CLEARCHAT', room: '#quiet' }, { command: 'CLEARCHAT', room: '#quiet' }, { command: 'CLEARMSG', room: '#quiet' }
        ])]))
        for (const window of WINDOW_NAMES) {
          assert.deepEqual(await store.roomTotals('#quiet', window), { messages: 0, events: { CLEARCHAT: 2, CLEARMSG: 1 }, tracked: true, firstSeenAt: (DAY + 9) * 1000 }, window)
          assert.deepEqual(await roomTop(store, '#quiet', 'words', { window, limit: 10 }), [])
          assert.equal(await store.roomTotals('#unknown', window), null)
        }
        assert.deepEqual(await top(store, 'rooms', 'all'), [{ value: '#chat', count: 1 }])
      })

      it('keeps when each room was first seen: the earliest event second of its detail, in any batch order', async (t) => {
        const { store, at } = await setup(t)
        const s = DAY + 600
        const firstSeen = async (room: string): Promise<Array<number | null | undefined>> =>
          await Promise.all(WINDOW_NAMES.map(async (window) => (await store.roomTotals(room, window))?.firstSeenAt))
        const every = (value: number | null): Array<number | null> => WINDOW_NAMES.map(() => value)
        at(s, 300)
        assert.equal(await store.applyBatch(batch(1, [chatSlice(s, [{ nick: 'ann', room: '#a', words: ['x'] }], [{ command: 'CLEARCHAT', room: '#mod' }])])), 'applied')
        assert.deepEqual(await firstSeen('#a'), every(s * 1000))
        // A room whose detail starts with a moderation event is seen then.
        assert.deepEqual(await firstSeen('#mod'), every(s * 1000))
        // A room that first appears in a later batch: its own second, not the stream's start.
        at(s + 30, 300)
        assert.equal(await store.applyBatch(batch(2, [chatSlice(s + 30, [{ nick: 'bob', room: '#b', words: ['y'] }, { nick: 'ann', room: '#a', words: ['x'] }])])), 'applied')
        assert.deepEqual(await firstSeen('#b'), every((s + 30) * 1000))
        assert.deepEqual(await firstSeen('#a'), every(s * 1000))
        // An earlier second arriving later (a late event time) lowers it; later seconds do not raise it.
        at(s + 40, 300)
        assert.equal(await store.applyBatch(batch(3, [
          chatSlice(s + 40, [{ nick: 'bob', room: '#b', words: ['y'] }]),
          chatSlice(s + 20, [{ nick: 'bob', room: '#b', words: ['y'] }]),
          // A new room whose slices come latest first.
          chatSlice(s + 39, [{ nick: 'cid', room: '#c', words: ['z'] }]),
          chatSlice(s + 35, [{ nick: 'cid', room: '#c', words: ['z'] }])
        ])), 'applied')
        assert.deepEqual(await firstSeen('#b'), every((s + 20) * 1000))
        assert.deepEqual(await firstSeen('#c'), every((s + 35) * 1000))
        // A batch that is not applied (duplicate sequence) changes nothing.
        assert.equal(await store.applyBatch(batch(3, [chatSlice(s - 100, [{ nick: 'bob', room: '#b', words: ['y'] }, { nick: 'ann', room: '#a', words: ['x'] }])])), 'duplicate')
        assert.deepEqual(await firstSeen('#b'), every((s + 20) * 1000))
        assert.deepEqual(await firstSeen('#a'), every(s * 1000))
        assert.equal(await store.roomTotals('#never', 'all'), null)
      })

      it('keeps rooms apart whatever their names', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 9)
        const rooms = ['#a', '#a:b', 'a', '#a:words', 'words:#a', '#{x}', '#a b', '#😀']
        await store.applyBatch(batch(1, [chatSlice(DAY + 9, rooms.map((room, i) => ({ nick: `nick${i}`, room, words: [`word${i}`] })))]))
        for (const [i, room] of rooms.entries()) {
          for (const window of ['all', '1m'] as const) {
            assert.deepEqual(await store.roomTotals(room, window), { messages: 1, events: {}, tracked: true, firstSeenAt: (DAY + 9) * 1000 }, room)
            assert.deepEqual(await roomTop(store, room, 'words', { window, limit: 10 }), [{ value: `word${i}`, count: 1 }], room)
            assert.deepEqual(await roomTop(store, room, 'nicks', { window, limit: 10 }), [{ value: `nick${i}`, count: 1 }], room)
          }
        }
      })
    })

    describe('lease', () => {
      it('is taken when free, extended by its holder, refused to others, released by its holder only', async (t) => {
        const { store } = await setup(t)
        assert.equal(await store.renewLease('A', 10_000), false)
        assert.equal(await store.acquireLease('A', 10_000), true)
        assert.equal(await store.acquireLease('B', 10_000), false)
        assert.equal(await store.acquireLease('A', 10_000), true)
        assert.equal(await store.renewLease('A', 10_000), true)
        assert.equal(await store.renewLease('B', 10_000), false)
        await store.releaseLease('B')
        assert.equal(await store.acquireLease('B', 10_000), false)
        await store.releaseLease('A')
        assert.equal(await store.renewLease('A', 10_000), false)
        assert.equal(await store.acquireLease('B', 10_000), true)
      })

      it('lapses after its TTL and can be taken over', async (t) => {
        const { store, clock } = await setup(t)
        assert.equal(await store.acquireLease('A', LEASE_TTL_MS), true)
        clock.now += 10_000
        await sleep(LEASE_TTL_MS * 2)
        assert.equal(await store.acquireLease('B', 10_000), true)
        assert.equal(await store.renewLease('A', 10_000), false)
        assert.equal(await store.acquireLease('A', 10_000), false)
      })

      it('refuses a batch from a writer that does not hold the lease, writing nothing', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 9)
        const s = chatSlice(DAY + 9, [{ nick: 'ann', room: '#a', words: ['hi'] }])
        await assert.rejects(store.applyBatch(batch(1, [s], { lastEventId: 'x' }), 'A'), LeaseLostError)
        assert.equal(await store.acquireLease('B', 10_000), true)
        await assert.rejects(store.applyBatch(batch(1, [s], { lastEventId: 'x', failedLog: [{ raw: 'r', reason: 'r', at: 1 }] }), 'A'), LeaseLostError)
        assert.deepEqual(await store.position(), { lastEventId: null, sequence: 0 })
        assert.deepEqual(await store.totals(), { totalMessages: 0, failedMessages: 0, events: {}, startedAt: null, lastMessageAt: null })
        assert.deepEqual(await top(store, 'words', 'all'), [])
        assert.deepEqual(await store.failedMessages(10), [])
        assert.equal(await store.roomTotals('#a', 'all'), null)
        assert.equal(await store.applyBatch(batch(1, [s], { lastEventId: 'x' }), 'B'), 'applied')
        assert.deepEqual(await store.position(), { lastEventId: 'x', sequence: 1 })
        // Lease checked before the sequence: a lost lease is reported even for an old sequence.
        await assert.rejects(store.applyBatch(batch(1, [s]), 'A'), LeaseLostError)
      })

      it('refuses a batch whose previousSequence is above the committed one (the store lost writes), writing nothing', async (t) => {
        const { store, at } = await setup(t)
        at(DAY + 9)
        const s = chatSlice(DAY + 9, [{ nick: 'ann', room: '#a', words: ['hi'] }])
        assert.equal(await store.applyBatch({ ...batch(3, [s], { lastEventId: 'c' }), previousSequence: 0 }), 'applied')
        // The writer committed up to 5 as far as it knows; the store holds 3: it went back.
        await assert.rejects(store.applyBatch({ ...batch(6, [s], { lastEventId: 'f' }), previousSequence: 5 }), StoreBehindError)
        assert.deepEqual(await store.position(), { lastEventId: 'c', sequence: 3 })
        assert.equal((await store.totals()).totalMessages, 1)
        // Where the writer left it, or ahead of it (a shard that had committed more): applied, or duplicate.
        assert.equal(await store.applyBatch({ ...batch(4, [s], { lastEventId: 'd' }), previousSequence: 3 }), 'applied')
        assert.equal(await store.applyBatch({ ...batch(4, [s], { lastEventId: 'd' }), previousSequence: 2 }), 'duplicate')
        assert.equal((await store.totals()).totalMessages, 2)
      })
    })

    describeStorageBounds(setup, globalTrim)

    describe('against a naive model', () => {
      it('agrees over random batches with ties, trimming and windows', async (t) => {
        // Without exact global trimming, a bound the stream-wide lists never reach.
        const maxTrackedWords = globalTrim ? 12 : 1000
        const maxTrackedPerRoom = 6
        const { store, at } = await setup(t, { maxTrackedWords, maxTrackedPerRoom })
        // The simulator's seeded generator: the same batches on every run.
        const seeded = new Random(20250115)
        const random = (): number => seeded.float()
        const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!
        const vocabulary = ['a', 'b', 'ab', 'é', '中', '\uE000', '\uFFFF', '😀', '𝄞', 'Z', 'z', 'kappa', 'pog', 'lul', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6']
        const nickNames = ['ann', 'bob', 'cid', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy', 'jo', 'kim', 'lee', 'max', 'ned']
        const roomNames = ['#a', '#b', '#c', '#d:x']
        const model = {
          all: new Map(CATEGORIES.map((c) => [c, new Map<string, number>()])),
          room: new Map<string, Map<string, Counts>>(),
          slices: [] as Array<ReturnType<typeof chatSlice>>
        }
        let second = DAY + 5000
        for (let sequence = 1; sequence <= 40; sequence++) {
          const slices = []
          const sliceCount = 1 + Math.floor(random() * 3)
          for (let i = 0; i < sliceCount; i++) {
            second += Math.floor(random() * 40)
            const lines = Array.from({ length: 1 + Math.floor(random() * 6) }, () => ({
              nick: pick(nickNames),
              room: pick([...roomNames, '']),
              words: Array.from({ length: Math.floor(random() * 4) }, () => pick(vocabulary)),
              emotes: random() < 0.3 ? [pick(['Kappa', 'LUL', 'PogChamp'])] : []
            }))
            const s = chatSlice(second, lines, random() < 0.2 ? [{ command: 'CLEARCHAT', room: pick(roomNames) }] : [])
            if (slices.at(-1)?.second === s.second) continue
            slices.push(s)
          }
          at(second, 500)
          assert.equal(await store.applyBatch(batch(sequence, slices)), 'applied')
          model.slices.push(...slices)
          for (const category of CATEGORIES) {
            const counts = model.all.get(category)!
            for (const s of slices) addInto(counts, s[category])
            model.all.set(category, trimmed(counts, maxTrackedWords))
          }
          for (const s of slices) {
            for (const [room, detail] of s.roomDetail) {
              if (!model.room.has(room)) model.room.set(room, new Map(ROOM_CATEGORIES.map((c) => [c, new Map()])))
              for (const category of ROOM_CATEGORIES) addInto(model.room.get(room)!.get(category)!, detail[category])
            }
          }
          for (const lists of model.room.values()) for (const category of ROOM_CATEGORIES) lists.set(category, trimmed(lists.get(category)!, maxTrackedPerRoom))

          for (const category of CATEGORIES) {
            assert.deepEqual(await top(store, category, 'all', 10), expectedTop(model.all.get(category)!, 10), `${category} after ${sequence}`)
          }
          for (const [room, lists] of model.room) {
            for (const category of ROOM_CATEGORIES) {
              assert.deepEqual(await roomTop(store, room, category, { window: 'all', limit: 4 }), expectedTop(lists.get(category)!, 4), `${room} ${category} after ${sequence}`)
            }
          }
          const noVowels = (value: string): boolean => /[aeiou]/.test(value)
          assert.deepEqual(await top(store, 'words', 'all', 3, noVowels), expectedTop(model.all.get('words')!, 3, noVowels))
        }
        const lastSecond = second
        assert.equal((await store.totals()).totalMessages, model.slices.reduce((n, s) => n + s.messages, 0))
        const series = await store.series('1s', (DAY + 5000) * 1000, lastSecond * 1000)
        for (const point of series) {
          const expected = model.slices.filter((s) => s.second * 1000 === point.t).reduce((n, s) => n + s.messages, 0)
          assert.equal(point.messages, expected, `series at ${point.t}`)
        }
        // Windows at a few later moments (each in a new bucket of every window).
        for (const offset of [0, 61, 333, 1801, 3700]) {
          at(lastSecond + offset, 1)
          const nowSecond = lastSecond + offset
          for (const spec of WINDOW_SPECS) {
            const inWindow = model.slices.filter((s) => bucketOf(spec, s.second) > bucketOf(spec, nowSecond) - spec.buckets)
            const words: Counts = new Map()
            const roomWords: Counts = new Map()
            let roomMessages = 0
            for (const s of inWindow) {
              addInto(words, s.words)
              const detail = s.roomDetail.get('#a')
              if (detail !== undefined) {
                addInto(roomWords, detail.words)
                roomMessages += detail.messages
              }
            }
            assert.deepEqual(await top(store, 'words', spec.name, 100), expectedTop(words, 100), `${spec.name} at +${offset}`)
            assert.deepEqual(await roomTop(store, '#a', 'words', { window: spec.name, limit: 100 }), expectedTop(roomWords, 100), `#a ${spec.name} at +${offset}`)
            assert.equal((await store.roomTotals('#a', spec.name))?.messages, roomMessages, `#a messages ${spec.name} at +${offset}`)
          }
        }
      })
    })
  })
}
