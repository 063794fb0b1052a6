import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { isStopword } from '../../src/stopwords.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { topListFromStore } from '../../src/api/services/store-top-list.js'
import type { Category, RoomCategory, StatsStore } from '../../src/store/types.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'
import { storeKinds } from '../helpers/store-kinds.js'

/**
 * Every route of the API over both stores, seeded with a small hand-counted
 * stream through the real BatchBuilder. "Now" is fixed half a minute into a
 * real minute (Redis expiry works on real time), so windows are exact.
 */

const NOW = Math.floor(Date.now() / 60_000) * 60_000 + 30_500
const T1 = NOW - 200_000 // inside 5m, outside 1m
const T2 = NOW - 2000
const T3 = NOW - 1000
const STOPWORD_LINE = 'the and of to in is it you that was for on'

function chat (room: string, nick: string, body: string, emotes = ''): string {
  return JSON.stringify({ command: '', room, nick, target: '', body, tags: `emotes=${emotes}` }) // no tmi-sent-ts: the message time is the test clock's arrival time
}

function system (command: string, target: string, body = ''): string {
  return JSON.stringify({ command, room: '', nick: '', target, body, tags: '' })
}

/** The seeded stream: each entry is [arrival ms, SSE data]. Counts are worked out by hand in the tests. */
const EVENTS: Array<[number, string]> = [
  [T1, chat('#forsen', 'alice', 'Kappa pog the kekw', '25:0-4')],
  [T1, chat('#forsen', 'Nightbot', 'pog pog')],
  ...Array.from({ length: 3 }, (): [number, string] => [T1, chat('#forsen', 'StreamElements', '!')]),
  ...Array.from({ length: 3 }, (): [number, string] => [T1, chat('#forsen', 'moobot', '!')]),
  ...Array.from({ length: 5 }, (): [number, string] => [T1, chat('#stop', 'dave', STOPWORD_LINE)]),
  [T2, chat('#sanmery_', 'bob', 'olá the olá')],
  [T2, chat('#forsen', 'alice', 'kekw')],
  [T2, system('CLEARCHAT', '#forsen', 'dashh_u')],
  [T2, system('CLEARMSG', '#forsen')],
  [T3, chat('#forsen', 'carol', '😂 pog')],
  [T3, '{not json']
]

async function seed (store: StatsStore): Promise<void> {
  let now = 0
  const builder = new BatchBuilder(() => now)
  let sequence = 0
  for (const [index, [at, data]] of EVENTS.entries()) {
    // One batch per arrival time, as consecutive flushes would write them.
    if (at !== now && !builder.isEmpty) assert.equal(await store.applyBatch(builder.take(++sequence)), 'applied')
    now = at
    builder.addEvent(data, String(index + 1))
  }
  assert.equal(await store.applyBatch(builder.take(sequence + 1)), 'applied')
}

function testConfig (overrides: Record<string, string> = {}): Config {
  return loadConfig({ LOG_LEVEL: 'silent', STORE_TIMEOUT_MS: '1000', RATE_LIMIT_MAX: '1000000', ...overrides }, null)
}

const STORE_KINDS = storeKinds('test:api')

function json<T> (body: string): T {
  return JSON.parse(body) as T
}

for (const kind of STORE_KINDS) {
  describe(`API routes over the ${kind.name} store`, () => {
    let app: FastifyInstance
    let cleanup: () => Promise<void>

    before(async () => {
      const created = await kind.create(() => NOW)
      cleanup = created.cleanup
      await seed(created.store)
      app = await buildApp({ config: testConfig(), store: created.store, clock: () => NOW })
    })

    after(async () => {
      await app.close()
      await cleanup()
    })

    const get = async (url: string, remoteAddress = '127.0.0.1') => await app.inject({ method: 'GET', url, remoteAddress })

    it('the seeded words are not stop words except the ones meant to be', () => {
      for (const word of ['pog', 'kekw', 'olá', 'kappa', '😂']) assert.equal(isStopword(word), false, word)
      for (const word of STOPWORD_LINE.split(' ')) assert.equal(isStopword(word), true, word)
    })

    describe('GET /stats', () => {
      it('gives totals, events and the rate over the last complete seconds', async () => {
        const res = await get('/stats')
        assert.equal(res.statusCode, 200)
        assert.match(String(res.headers['content-type']), /application\/json/)
        assert.deepEqual(json(res.body), {
          // T2 (2 messages) and T3 (1) are the last two complete seconds; 10 s window.
          messagesPerSecond: 0.3,
          lastSecond: 1,
          windowSeconds: 10,
          totalMessages: 16,
          failedMessages: 1,
          events: { CLEARCHAT: 1, CLEARMSG: 1 },
          startedAt: new Date(NOW).toISOString(),
          lastMessageAt: new Date(T3).toISOString(),
          storeRollbacks: 0,
          messagesLost: 0
        })
      })

      it('averages over ?window seconds', async () => {
        const wide = json<{ messagesPerSecond: number, windowSeconds: number }>((await get('/stats?window=3600')).body)
        assert.equal(wide.windowSeconds, 3600)
        // Every message lies in the last hour: the mean is over the 200 complete seconds since the first (T1).
        assert.equal(wide.messagesPerSecond, 16 / 200)
        const one = json<{ messagesPerSecond: number, lastSecond: number }>((await get('/stats?window=1')).body)
        assert.deepEqual([one.messagesPerSecond, one.lastSecond], [1, 1])
        const two = json<{ messagesPerSecond: number }>((await get('/stats?window=2')).body)
        assert.equal(two.messagesPerSecond, 1.5)
      })

      for (const bad of ['0', '3601', 'abc', '1.5', '-1', '', '1e9', 'Infinity', '-Infinity', 'NaN', '1e2', '9'.repeat(400)]) {
        it(`refuses ?window=${bad}`, async () => {
          const res = await get(`/stats?window=${encodeURIComponent(bad)}`)
          assert.equal(res.statusCode, 400)
          const body = json<{ statusCode: number, error: string, message: string }>(res.body)
          assert.equal(body.statusCode, 400)
          assert.equal(body.error, 'Bad Request')
          assert.match(body.message, /^querystring\/window /)
        })
      }
    })

    describe('top lists', () => {
      it('GET /stats/words: count descending, ties in code-point order, default limit 10', async () => {
        const res = await get('/stats/words')
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['x-stats-window'], 'all')
        assert.equal(res.headers['last-modified'], undefined)
        // Both stores here trim no window bucket: every answer is exact.
        assert.equal(res.headers['x-stats-max-error'], '0')
        assert.deepEqual(json(res.body), [
          { word: 'the', count: 7 },
          ...['and', 'for', 'in', 'is', 'it', 'of', 'on', 'that', 'to'].map((word) => ({ word, count: 5 }))
        ])
      })

      it('GET /stats/words?limit cuts exactly, even inside a tie', async () => {
        assert.deepEqual(json((await get('/stats/words?limit=2')).body), [{ word: 'the', count: 7 }, { word: 'and', count: 5 }])
        const all = json<Array<{ word: string, count: number }>>((await get('/stats/words?limit=100')).body)
        assert.equal(all.length, 17)
        assert.deepEqual(all.slice(12), [
          { word: 'pog', count: 4 }, { word: 'kekw', count: 2 }, { word: 'olá', count: 2 }, { word: 'kappa', count: 1 }, { word: '😂', count: 1 }
        ])
      })

      it('?stopwords=exclude leaves stop words out and still fills the limit', async () => {
        assert.deepEqual(json((await get('/stats/words?stopwords=exclude&limit=3')).body), [
          { word: 'pog', count: 4 }, { word: 'kekw', count: 2 }, { word: 'olá', count: 2 }
        ])
        assert.deepEqual(json<unknown[]>((await get('/stats/words?stopwords=exclude')).body).length, 5)
        assert.deepEqual(json((await get('/stats/words?stopwords=include&limit=1')).body), [{ word: 'the', count: 7 }])
      })

      it('GET /stats/words?window=1m counts only the last minute and says when', async () => {
        const res = await get('/stats/words?window=1m')
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['x-stats-window'], '1m')
        assert.equal(res.headers['last-modified'], new Date(NOW).toUTCString())
        assert.deepEqual(json(res.body), [
          { word: 'olá', count: 2 }, { word: 'kekw', count: 1 }, { word: 'pog', count: 1 }, { word: 'the', count: 1 }, { word: '😂', count: 1 }
        ])
      })

      for (const window of ['5m', '15m', '1h', '24h']) {
        it(`?window=${window} covers everything seeded`, async () => {
          const res = await get(`/stats/rooms?window=${window}`)
          assert.equal(res.headers['x-stats-window'], window)
          assert.deepEqual(json(res.body), [{ room: '#forsen', count: 10 }, { room: '#stop', count: 5 }, { room: '#sanmery_', count: 1 }])
        })
      }

      it('GET /stats/nicks counts messages per nick, verbatim', async () => {
        assert.deepEqual(json((await get('/stats/nicks')).body), [
          { nick: 'dave', count: 5 },
          { nick: 'StreamElements', count: 3 },
          { nick: 'moobot', count: 3 },
          { nick: 'alice', count: 2 },
          { nick: 'Nightbot', count: 1 },
          { nick: 'bob', count: 1 },
          { nick: 'carol', count: 1 }
        ])
      })

      it('?bots=exclude leaves out bots case-insensitively and still fills the limit', async () => {
        assert.deepEqual(json((await get('/stats/nicks?bots=exclude&limit=3')).body), [
          { nick: 'dave', count: 5 }, { nick: 'alice', count: 2 }, { nick: 'bob', count: 1 }
        ])
      })

      it('BOT_NICKS replaces the default bot list', async () => {
        const created = await kind.create(() => NOW)
        try {
          await seed(created.store)
          const custom = await buildApp({ config: testConfig({ BOT_NICKS: 'DAVE, alice' }), store: created.store, clock: () => NOW })
          try {
            const res = await custom.inject({ url: '/stats/nicks?bots=exclude&limit=2' })
            assert.deepEqual(json(res.body), [{ nick: 'StreamElements', count: 3 }, { nick: 'moobot', count: 3 }])
          } finally {
            await custom.close()
          }
        } finally {
          await created.cleanup()
        }
      })

      it('GET /stats/rooms and /stats/emotes', async () => {
        assert.deepEqual(json((await get('/stats/rooms')).body), [{ room: '#forsen', count: 10 }, { room: '#stop', count: 5 }, { room: '#sanmery_', count: 1 }])
        assert.deepEqual(json((await get('/stats/rooms?window=1m')).body), [{ room: '#forsen', count: 2 }, { room: '#sanmery_', count: 1 }])
        const emotes = await get('/stats/emotes')
        assert.equal(emotes.headers['x-stats-window'], 'all')
        assert.equal(emotes.headers['x-stats-max-error'], '0')
        assert.equal((await get('/stats/rooms?window=1m')).headers['x-stats-max-error'], '0')
        assert.deepEqual(json(emotes.body), [{ emote: 'Kappa', count: 1 }])
        assert.deepEqual(json((await get('/stats/emotes?window=1m')).body), [])
      })

      const BAD_PARAMETERS: Array<[string, RegExp]> = [
        ['limit=0', /^querystring\/limit must be >= 1$/],
        ['limit=101', /^querystring\/limit must be <= 100$/],
        ['limit=abc', /^querystring\/limit must be integer$/],
        ['limit=2.5', /^querystring\/limit must be integer$/],
        ['limit=', /^querystring\/limit /],
        ['limit=1&limit=2', /^querystring\/limit /],
        ['window=2m', /^querystring\/window must be equal to one of the allowed values: all, 1m, 5m, 15m, 1h, 24h$/],
        ['window=ALL', /^querystring\/window /],
        [`window=${'x'.repeat(5000)}`, /^querystring\/window /],
        [`limit=${'9'.repeat(400)}`, /^querystring\/limit /],
        ['limit=%00', /^querystring\/limit /],
        ['limit=Infinity', /^querystring\/limit must be integer$/],
        ['limit=1e1', /^querystring\/limit must be integer$/],
        ['limit=0x10', /^querystring\/limit must be integer$/],
        ['limit=%205', /^querystring\/limit must be integer$/],
        ['limit=-5', /^querystring\/limit must be >= 1$/],
        ['window=%F0%9F%98%82', /^querystring\/window /]
      ]
      for (const route of ['words', 'nicks', 'rooms', 'emotes']) {
        for (const [query, message] of BAD_PARAMETERS) {
          it(`GET /stats/${route}?${query.slice(0, 30)} is a 400 naming the field`, async () => {
            const res = await get(`/stats/${route}?${query}`)
            assert.equal(res.statusCode, 400)
            const body = json<{ statusCode: number, error: string, message: string, code: string }>(res.body)
            assert.equal(body.statusCode, 400)
            assert.equal(body.code, 'CS_INVALID_PARAMETER')
            assert.match(body.message, message)
          })
        }
      }

      it('?stopwords=maybe and ?bots=maybe are 400s', async () => {
        const words = await get('/stats/words?stopwords=maybe')
        assert.equal(words.statusCode, 400)
        assert.match(json<{ message: string }>(words.body).message, /^querystring\/stopwords must be equal to one of the allowed values: exclude, include$/)
        const nicks = await get('/stats/nicks?bots=maybe')
        assert.equal(nicks.statusCode, 400)
        assert.match(json<{ message: string }>(nicks.body).message, /^querystring\/bots /)
      })
    })

    describe('GET /stats/rooms/:room', () => {
      it('drills into a room given URL-encoded, all time', async () => {
        const res = await get('/stats/rooms/%23forsen')
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['x-stats-window'], 'all')
        assert.deepEqual(json(res.body), {
          room: '#forsen',
          window: 'all',
          messages: 10,
          // All time: the last minute's rate (T2's alice and T3's carol).
          messagesPerSecond: 2 / 60,
          // The start of the second of its first message (T1): long before the store's first write at NOW.
          firstSeenAt: new Date(Math.floor(T1 / 1000) * 1000).toISOString(),
          words: [{ word: 'pog', count: 4 }, { word: 'kekw', count: 2 }, { word: 'kappa', count: 1 }, { word: 'the', count: 1 }, { word: '😂', count: 1 }],
          nicks: [{ nick: 'StreamElements', count: 3 }, { nick: 'moobot', count: 3 }, { nick: 'alice', count: 2 }, { nick: 'Nightbot', count: 1 }, { nick: 'carol', count: 1 }],
          emotes: [{ emote: 'Kappa', count: 1 }],
          moderation: { CLEARCHAT: 1, CLEARMSG: 1 }
        })
      })

      it('takes window, limit, stopwords and bots', async () => {
        const res = await get('/stats/rooms/%23forsen?window=1m&limit=2&stopwords=exclude&bots=exclude')
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['x-stats-window'], '1m')
        assert.equal(res.headers['x-stats-max-error'], '0')
        assert.equal(res.headers['last-modified'], new Date(NOW).toUTCString())
        assert.deepEqual(json(res.body), {
          room: '#forsen',
          window: '1m',
          messages: 2,
          messagesPerSecond: 2 / 60,
          firstSeenAt: new Date(Math.floor(T1 / 1000) * 1000).toISOString(),
          words: [{ word: 'kekw', count: 1 }, { word: 'pog', count: 1 }],
          nicks: [{ nick: 'alice', count: 1 }, { nick: 'carol', count: 1 }],
          emotes: [],
          moderation: { CLEARCHAT: 1, CLEARMSG: 1 }
        })
        const all = json<{ words: unknown[], nicks: unknown[] }>((await get('/stats/rooms/%23forsen?stopwords=exclude&bots=exclude')).body)
        assert.deepEqual(all.words, [{ word: 'pog', count: 4 }, { word: 'kekw', count: 2 }, { word: 'kappa', count: 1 }, { word: '😂', count: 1 }])
        assert.deepEqual(all.nicks, [{ nick: 'alice', count: 2 }, { nick: 'carol', count: 1 }])
      })

      it('a room with no moderation events still lists CLEARCHAT and CLEARMSG as 0', async () => {
        const body = json<{ messages: number, moderation: Record<string, number>, messagesPerSecond: number, firstSeenAt: string | null }>((await get('/stats/rooms/%23sanmery_?window=5m')).body)
        assert.equal(body.messages, 1)
        // The room was first seen in T2's second, 2.5 s before NOW (1 message): averaged over those 2.5 s.
        assert.equal(body.firstSeenAt, new Date(Math.floor(T2 / 1000) * 1000).toISOString())
        assert.equal(body.messagesPerSecond, 1 / ((NOW - Math.floor(T2 / 1000) * 1000) / 1000))
        assert.deepEqual(body.moderation, { CLEARCHAT: 0, CLEARMSG: 0 })
      })

      it('an unknown room is a 404 JSON error', async () => {
        const res = await get('/stats/rooms/%23nosuchroom')
        assert.equal(res.statusCode, 404)
        assert.deepEqual(json(res.body), { statusCode: 404, error: 'Not Found', message: 'room "#nosuchroom" has no statistics', code: 'CS_ROOM_NOT_FOUND' })
        // Without the # it is another room.
        assert.equal((await get('/stats/rooms/forsen')).statusCode, 404)
      })

      it('refuses bad parameters', async () => {
        assert.equal((await get('/stats/rooms/%23forsen?limit=0')).statusCode, 400)
        assert.equal((await get('/stats/rooms/%23forsen?window=2m')).statusCode, 400)
        assert.equal((await get('/stats/rooms/%23forsen?stopwords=maybe')).statusCode, 400)
        const long = await get(`/stats/rooms/${'r'.repeat(150)}`)
        assert.equal(long.statusCode, 400)
        assert.match(json<{ message: string }>(long.body).message, /^params\/room must not have more than 100 characters$/)
        const empty = await get('/stats/rooms/')
        assert.equal(empty.statusCode, 400)
        assert.match(json<{ message: string }>(empty.body).message, /^params\/room /)
      })
    })

    describe('GET /stats/timeseries', () => {
      it('zero-fills per second, the last point being the second being filled', async () => {
        const res = await get('/stats/timeseries?window=5')
        assert.equal(res.statusCode, 200)
        const second = Math.floor(NOW / 1000) * 1000
        assert.deepEqual(json(res.body), [
          { t: second - 4000, messages: 0 },
          { t: second - 3000, messages: 0 },
          { t: second - 2000, messages: 2 },
          { t: second - 1000, messages: 1 },
          { t: second, messages: 0 }
        ])
      })

      it('defaults to 300 points at 1 s and sums to what was counted', async () => {
        const points = json<Array<{ t: number, messages: number }>>((await get('/stats/timeseries')).body)
        assert.equal(points.length, 300)
        assert.equal(points.reduce((sum, p) => sum + p.messages, 0), 16)
        for (let i = 1; i < points.length; i++) assert.equal(points[i]!.t - points[i - 1]!.t, 1000)
      })

      it('per minute', async () => {
        const minute = Math.floor(NOW / 60_000) * 60_000
        const res = await get('/stats/timeseries?resolution=1m&window=300')
        assert.deepEqual(json(res.body), [0, 1, 2, 3, 4].map((i) => {
          const t = minute - (4 - i) * 60_000
          const messages = (Math.floor(T1 / 60_000) * 60_000 === t ? 13 : 0) + (t === minute ? 3 : 0)
          return { t, messages }
        }))
        const week = json<unknown[]>((await get('/stats/timeseries?resolution=1m&window=604800')).body)
        assert.equal(week.length, 10_080)
      })

      for (const [query, message] of [
        ['resolution=5s', /^querystring\/resolution must be equal to one of the allowed values: 1s, 1m$/],
        ['window=0', /^querystring\/window must be >= 1$/],
        ['window=86401', /^querystring\/window must be <= 86400 when resolution is 1s$/],
        ['resolution=1m&window=604801', /^querystring\/window must be <= 604800$/],
        ['window=abc', /^querystring\/window must be integer$/]
      ] as Array<[string, RegExp]>) {
        it(`?${query} is a 400`, async () => {
          const res = await get(`/stats/timeseries?${query}`)
          assert.equal(res.statusCode, 400)
          assert.match(json<{ message: string }>(res.body).message, message)
        })
      }
    })

    describe('GET /stats/failedMessages', () => {
      it('answers loopback clients when ADMIN_TOKEN is unset: raw text, reason, ISO time, newest first', async () => {
        const res = await get('/stats/failedMessages')
        assert.equal(res.statusCode, 200)
        assert.deepEqual(json(res.body), [{ raw: '{not json', reason: 'invalid JSON', at: new Date(T3).toISOString() }])
      })

      it('refuses ?limit outside 1..1000', async () => {
        for (const limit of ['0', '1001', 'x']) {
          const res = await get(`/stats/failedMessages?limit=${limit}`)
          assert.equal(res.statusCode, 400, limit)
          assert.match(json<{ message: string }>(res.body).message, /^querystring\/limit /)
        }
        assert.equal((await get('/stats/failedMessages?limit=1000')).statusCode, 200)
      })
    })

    describe('health', () => {
      it('GET /health/live and /health/ready', async () => {
        const live = await get('/health/live')
        assert.equal(live.statusCode, 200)
        assert.deepEqual(json(live.body), { status: 'ok' })
        const ready = await get('/health/ready')
        assert.equal(ready.statusCode, 200)
        assert.deepEqual(json(ready.body), { status: 'ready', store: 'ok', worker: null })
      })
    })
  })
}

/**
 * A store whose window buckets were trimmed answers each list with its bound
 * (docs/STORAGE.md#max-error). The real memory store, its top lists answered with the
 * given bounds: the API passes them on unchanged.
 */
function withBounds (store: MemoryStore, top: Record<Category, number>, room: Record<RoomCategory, number>): void {
  const readTop = store.top.bind(store)
  const readRoomTop = store.roomTop.bind(store)
  store.top = (async (category: Category, query: Parameters<StatsStore['top']>[1]) =>
    ({ entries: topListFromStore(await readTop(category, query)).entries, maxError: top[category] })) as unknown as MemoryStore['top']
  store.roomTop = (async (name: string, category: RoomCategory, query: Parameters<StatsStore['roomTop']>[2]) =>
    ({ entries: topListFromStore(await readRoomTop(name, category, query)).entries, maxError: room[category] })) as unknown as MemoryStore['roomTop']
}

describe('X-Stats-Max-Error', () => {
  let app: FastifyInstance
  let store: MemoryStore

  before(async () => {
    store = new MemoryStore({ clock: () => NOW, maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
    await store.open()
    await seed(store)
    withBounds(store, { words: 7, nicks: 0, rooms: 2, emotes: 11 }, { words: 3, nicks: 5, emotes: 0 })
    app = await buildApp({ config: testConfig(), store, clock: () => NOW })
  })

  after(async () => {
    await app.close()
    await store.close()
  })

  it('each top list says its store\'s bound, whatever the window; the list itself is unchanged', async () => {
    for (const [path, bound] of [['words', '7'], ['nicks', '0'], ['rooms', '2'], ['emotes', '11']]) {
      for (const window of ['all', '5m']) {
        const res = await app.inject(`/stats/${path}?window=${window}`)
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['x-stats-max-error'], bound, `${path} ${window}`)
      }
    }
    assert.deepEqual(json((await app.inject('/stats/rooms')).body), [{ room: '#forsen', count: 10 }, { room: '#stop', count: 5 }, { room: '#sanmery_', count: 1 }])
  })

  it('a room\'s drill-down says the largest bound of its three lists', async () => {
    const res = await app.inject('/stats/rooms/%23forsen?window=5m')
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['x-stats-max-error'], '5')
    assert.equal(json<{ messages: number }>(res.body).messages, 10)
  })

  it('the live snapshot carries each list\'s bound, and its room\'s', async () => {
    const params = { window: '5m' as const, limit: 10, rateWindow: 10 }
    const withRoom = await app.statsReader.snapshot({ ...params, room: '#forsen' }, null)
    assert.deepEqual(withRoom.maxError, { words: 7, nicks: 0, rooms: 2, emotes: 11, room: { words: 3, nicks: 5, emotes: 0 } })
    const unknownRoom = await app.statsReader.snapshot({ ...params, room: '#nowhere' }, null)
    assert.equal(unknownRoom.maxError.room, null)
    const noRoom = await app.statsReader.snapshot(params, null)
    assert.equal('room' in noRoom.maxError, false)
  })
})
