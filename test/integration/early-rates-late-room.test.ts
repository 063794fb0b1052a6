import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import type { StatsStore } from '../../src/store/types.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'
import { storeKinds } from '../helpers/store-kinds.js'

/**
 * Issue 14 item 7, rooms: a room that first appears long after the stream
 * started reads its own rate at once, not that rate diluted by the minutes
 * before it existed. The stream starts at START with a quiet room; ten
 * minutes later #late starts receiving 80 msg/s. Through GET
 * /stats/rooms/:room, over both stores, with one injected clock (the way
 * early-rates.test.ts does it). Before the stores kept a first-seen time per
 * room, its 5m rate 30 s after it appeared was 2,400 / 300 = 8/s.
 */

// The stream starts on a real second boundary; Redis expiry works on real time.
const START = Math.floor(Date.now() / 60_000) * 60_000 + 1000
/** When #late first appears: ten minutes into the stream. */
const LATE = START + 600_000
const RATE = 80
/** Relative tolerance on a rate: the windows are bucketed (docs/STORAGE.md#windows-and-series). */
const TOLERANCE = 0.02

const STORE_KINDS = storeKinds('test:late-room')

// No tmi-sent-ts: a message's event time is its arrival time on the test clock.
const chat = (room: string): string => JSON.stringify({ command: '', room, nick: 'n', target: '', body: 'pog', tags: '' })

interface RoomAnswer { messages: number, messagesPerSecond: number, firstSeenAt: string | null }

function assertNear (actual: number, expected: number, label: string): void {
  assert.ok(Math.abs(actual - expected) <= TOLERANCE * expected, `${label}: ${actual} is not within ${TOLERANCE * 100} % of ${expected}`)
}

for (const kind of STORE_KINDS) {
  describe(`a room that appears late reads its own rate over the ${kind.name} store`, () => {
    let now = START
    let app: FastifyInstance
    let cleanup: () => Promise<void>
    /** The next flush's arrival time. */
    let fed = START
    const builder = new BatchBuilder(() => fed)
    let sequence = 0
    let id = 0
    let store: StatsStore

    /** Feeds until `untilMs`, one flush per `stepMs`, `perFlush` messages each: [room, count] pairs. */
    async function feedUntil (untilMs: number, stepMs: number, perFlush: Array<[string, number]>): Promise<void> {
      while (fed < untilMs) {
        now = fed
        for (const [room, count] of perFlush) for (let i = 0; i < count; i++) builder.addEvent(chat(room), String(++id))
        assert.equal(await store.applyBatch(builder.take(++sequence)), 'applied')
        fed += stepMs
      }
    }

    async function room (name: string, window: string): Promise<RoomAnswer> {
      const res = await app.inject({ method: 'GET', url: `/stats/rooms/${encodeURIComponent(name)}?window=${window}` })
      assert.equal(res.statusCode, 200, res.body)
      return JSON.parse(res.body) as RoomAnswer
    }

    before(async () => {
      const created = await kind.create(() => now)
      store = created.store
      cleanup = created.cleanup
      const config = loadConfig({ LOG_LEVEL: 'silent', STORE_TIMEOUT_MS: '5000', RATE_LIMIT_MAX: '1000000', API_CACHE_MS: '0' }, null)
      // API_CACHE_MS 0: the test clock jumps faster than real time, so no answer may be reused.
      app = await buildApp({ config, store, clock: () => now })
      // Ten minutes of a quiet stream: 4 msg/s in #quiet, one flush a second.
      await feedUntil(LATE, 1000, [['#quiet', 4]])
    })

    after(async () => {
      await app.close()
      await cleanup()
    })

    it('30 s after it first appears, its rate over 1m, 5m and all time is the rate it receives', async () => {
      // From LATE: a flush every 250 ms with 20 messages in #late (80/s), the quiet room going on.
      await feedUntil(LATE + 30_000, 250, [['#late', RATE / 4], ['#quiet', 1]])
      now = LATE + 30_000
      for (const window of ['1m', '5m', '15m', 'all']) {
        const answer = await room('#late', window)
        assert.equal(answer.firstSeenAt, new Date(LATE).toISOString(), window)
        if (window !== 'all') assert.equal(answer.messages, 30 * RATE, window)
        assertNear(answer.messagesPerSecond, RATE, `#late ${window}`)
      }
      // The stream's first room, seen from the start, is averaged over its full window as before.
      const quiet = await room('#quiet', '5m')
      assert.equal(quiet.firstSeenAt, new Date(START).toISOString())
      assertNear(quiet.messagesPerSecond, quiet.messages / 300, '#quiet 5m')
    })

    it('90 s after, 1m is a full window and 5m the 90 s since it appeared', async () => {
      await feedUntil(LATE + 90_000, 250, [['#late', RATE / 4], ['#quiet', 1]])
      now = LATE + 90_000
      assertNear((await room('#late', '1m')).messagesPerSecond, RATE, '#late 1m')
      const fiveMinutes = await room('#late', '5m')
      assert.equal(fiveMinutes.messages, 90 * RATE)
      assertNear(fiveMinutes.messagesPerSecond, RATE, '#late 5m')
      // Then it goes silent: the silence counts, the rate falls (never above what it received).
      now = LATE + 120_000
      assertNear((await room('#late', '5m')).messagesPerSecond, 90 * RATE / 120, '#late 5m after 30 silent seconds')
      // The 1m window is the 60 one-second buckets up to the one being filled: LATE + 61 s .. LATE + 89 s hold messages.
      assertNear((await room('#late', '1m')).messagesPerSecond, 29 * RATE / 60, '#late 1m after 30 silent seconds')
    })
  })
}
