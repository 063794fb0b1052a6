import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { roomRate, StatsBodies, streamRate } from '../../src/api/services/stats-bodies.js'
import type { StatsStore, TimePoint } from '../../src/store/types.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'
import { storeKinds } from '../helpers/store-kinds.js'

/**
 * Rates while the stream is younger than the averaging window: the mean is
 * over the complete seconds since the first message, not the whole window
 * (GET /stats said 48/s one second into a 480/s stream; a room 4.13/s over
 * 5m while it received 80/s). Stream-wide and per room, in the first
 * seconds and once the window is full, over both stores with one clock.
 */

// The stream starts on a real second boundary; Redis expiry works on real time.
const START = Math.floor(Date.now() / 60_000) * 60_000 + 1000

function point (second: number, messages: number): TimePoint {
  return { t: START + second * 1000, messages }
}

describe('streamRate and roomRate', () => {
  it('a young stream is averaged over the complete seconds since its first message', () => {
    const complete = [point(0, 0), point(1, 0), point(2, 400), point(3, 480)]
    assert.equal(streamRate(complete, [...complete, point(4, 100)], 980, 4), 440)
  })

  it('messages older than the window mean a full window, whatever the series shows', () => {
    const complete = [point(0, 0), point(1, 0), point(2, 400), point(3, 480)]
    assert.equal(streamRate(complete, [...complete, point(4, 100)], 981, 4), 220)
  })

  it('no complete second since the first message gives 0, not a division by zero', () => {
    const complete = [point(0, 0), point(1, 0)]
    assert.equal(streamRate(complete, [...complete, point(2, 7)], 7, 2), 0)
    assert.equal(streamRate([], [], 0, 10), 0)
  })

  it('a room is averaged over the time since it was first seen, at least a second, at most the window', () => {
    const LATE = START + 600_000
    // A room first seen ten minutes into the stream, 30 s ago, at 80/s: 80, not 2,400 / 300.
    assert.equal(roomRate(2400, 2400, 300, START, LATE, LATE + 30_000), 80)
    assert.equal(roomRate(800, 800, 300, START, START, START + 10_000), 80)
    assert.equal(roomRate(80, 80, 300, START, LATE, LATE + 200), 80)
    assert.equal(roomRate(900, 900, 300, START, START, START + 900_000), 3)
    // Back in tracking with an older all-time count: since it came back (its windows start there too).
    assert.equal(roomRate(800, 5000, 300, START, LATE, LATE + 10_000), 80)
    // First seen before the store's first write (a replayed or back-dated event time): from then, not from the start.
    assert.equal(roomRate(2, 10, 60, START, START - 200_000, START), 2 / 60)
    // An event time ahead of the clock: at least one second, never negative or infinite.
    assert.equal(roomRate(5, 5, 300, START, START + 4000, START + 1000), 5)
    assert.equal(roomRate(0, 5, 300, START, START, START + 10_000), 0)
    assert.equal(roomRate(5, 5, 300, null, START, START + 10_000), 0)
  })

  it('a room whose first-seen time is unknown is averaged over the time since the stream started when it has nothing older', () => {
    assert.equal(roomRate(800, 800, 300, START, null, START + 10_000), 80)
    assert.equal(roomRate(80, 80, 300, START, null, START + 200), 80)
    assert.equal(roomRate(900, 900, 300, START, null, START + 900_000), 3)
    assert.equal(roomRate(800, 801, 300, START, null, START + 10_000), 800 / 300)
    assert.equal(roomRate(0, 5, 300, START, null, START + 10_000), 0)
    assert.equal(roomRate(5, 5, 300, null, null, START + 10_000), 0)
  })
})

const STORE_KINDS = storeKinds('test:rates')

const chat = (room: string): string => JSON.stringify({ command: '', room, nick: 'n', target: '', body: 'pog', tags: '' })

for (const kind of STORE_KINDS) {
  describe(`early rates over the ${kind.name} store`, () => {
    let now = START
    let store: StatsStore
    let cleanup: () => Promise<void>
    let bodies: StatsBodies
    /** Where the feed is: the next flush's arrival time. */
    let fed = START
    const builder = new BatchBuilder(() => fed)
    let sequence = 0
    let id = 0

    /** Feeds the stream up to `untilMs`: per 250 ms flush, 120 messages (480/s), 20 of them (80/s) in #busy. */
    async function feedUntil (untilMs: number): Promise<void> {
      while (fed < untilMs) {
        now = fed
        for (let i = 0; i < 120; i++) builder.addEvent(chat(i < 20 ? '#busy' : '#other'), String(++id))
        assert.equal(await store.applyBatch(builder.take(++sequence)), 'applied')
        fed += 250
      }
    }

    before(async () => {
      const created = await kind.create(() => now)
      store = created.store
      cleanup = created.cleanup
      bodies = new StatsBodies({ store, clock: () => now, botNicks: new Set() })
    })

    after(async () => { await cleanup() })

    it('an empty stream has rate 0', async () => {
      assert.equal((await bodies.stats(10)).messagesPerSecond, 0)
    })

    it('one second in, the rate is the first complete second', async () => {
      await feedUntil(START + 1250)
      now = START + 1300
      const stats = await bodies.stats(10)
      assert.equal(stats.lastSecond, 480)
      assert.equal(stats.messagesPerSecond, 480)
    })

    it('a few seconds in, the mean of the complete seconds since the first message', async () => {
      await feedUntil(START + 4000)
      now = START + 4500
      assert.equal((await bodies.stats(10)).messagesPerSecond, 480)
      assert.equal((await bodies.stats(3600)).messagesPerSecond, 480)
    })

    it('a room of a young stream is averaged over the time since the stream started', async () => {
      await feedUntil(START + 15_000)
      now = START + 15_000
      const room = await bodies.room('#busy', { window: '5m', limit: 10 })
      assert.equal(room?.body.messages, 15 * 80)
      assert.equal(room?.body.messagesPerSecond, 80)
      const allTime = await bodies.room('#busy', { window: 'all', limit: 10 })
      assert.equal(allTime?.body.messagesPerSecond, 80)
    })

    it('once the stream is older than the window, the whole window, silent seconds included', async () => {
      await feedUntil(START + 20_000)
      now = START + 20_000
      assert.equal((await bodies.stats(10)).messagesPerSecond, 480)
      now = START + 25_000 // five silent seconds
      assert.equal((await bodies.stats(10)).messagesPerSecond, 240)
      // 20 s of data, 25 s since the start: the 5m window's mean counts the silence too.
      assert.equal((await bodies.room('#busy', { window: '5m', limit: 10 }))?.body.messagesPerSecond, 20 * 80 / 25)
      // All time: the last minute holds everything, so again since the start.
      assert.equal((await bodies.room('#busy', { window: 'all', limit: 10 }))?.body.messagesPerSecond, 20 * 80 / 25)
      now = START + 90_000
      assert.equal((await bodies.room('#busy', { window: '1m', limit: 10 }))?.body.messagesPerSecond, 0)
      assert.equal((await bodies.room('#busy', { window: 'all', limit: 10 }))?.body.messagesPerSecond, 0)
      assert.equal((await bodies.room('#busy', { window: '5m', limit: 10 }))?.body.messagesPerSecond, 20 * 80 / 90)
    })
  })
}
