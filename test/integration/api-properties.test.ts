import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'

/**
 * No query string, however hostile, makes the top-list, room or timeseries
 * routes answer a 5xx: each answer is a 200 or a 400 naming the field.
 */

const ROUTES = ['/stats/words', '/stats/nicks', '/stats/rooms', '/stats/emotes', '/stats/rooms/%23forsen', '/stats/timeseries', '/stats']
const NAMES = ['limit', 'window', 'stopwords', 'bots', 'resolution', 'x', '__proto__', 'constructor', 'limit[]', 'window[0]']
const GOOD_VALUES = ['1', '10', '100', 'all', '1m', '5m', '15m', '1h', '24h', 'exclude', 'include', '1s', '300', '86400', '604800']

/** Any bytes, percent-encoded: invalid UTF-8, NUL, separators and all. */
const rawBytes = fc.uint8Array({ maxLength: 40 }).map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''))
const value = fc.oneof(
  fc.constantFrom(...GOOD_VALUES),
  fc.integer({ min: -2, max: 700_000 }).map(String),
  fc.double().map(String),
  fc.string({ unit: 'grapheme', maxLength: 30 }).map(encodeURIComponent),
  rawBytes,
  fc.constantFrom('', '%', '%zz', '&', '=', '1e2', '0x10', ' 5', '5 ', '+5', 'Infinity', 'NaN', '[]', '{}', 'true', 'null')
)
const pair = fc.tuple(fc.oneof(fc.constantFrom(...NAMES), rawBytes), value).map(([k, v]) => `${k}=${v}`)
const query = fc.array(pair, { maxLength: 5 }).map((pairs) => pairs.join('&'))

describe('query parameters: property', () => {
  let app: FastifyInstance
  let store: MemoryStore

  before(async () => {
    store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
    await store.open()
    const builder = new BatchBuilder()
    for (let i = 0; i < 50; i++) {
      builder.addEvent(JSON.stringify({ command: '', room: i % 3 === 0 ? '#forsen' : `#room${i % 7}`, nick: `nick${i % 11}`, target: '', body: `word${i % 13} the pog ${i}`, tags: `emotes=25:0-2` }), String(i))
    }
    await store.applyBatch(builder.take(1))
    app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '100000000' }, null), store })
  })

  after(async () => {
    await app.close()
    await store.close()
  })

  it('never answers 5xx; 400s are JSON naming a parameter', { timeout: 120_000 }, async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...ROUTES), query, async (route, qs) => {
      const res = await app.inject({ method: 'GET', url: `${route}?${qs}` })
      assert.ok(res.statusCode === 200 || res.statusCode === 400, `${route}?${qs} -> ${res.statusCode} ${res.body.slice(0, 200)}`)
      const body = JSON.parse(res.body) as unknown
      if (res.statusCode === 400) {
        const error = body as { statusCode: number, message: string }
        assert.equal(error.statusCode, 400)
        assert.match(error.message, /^querystring\/\w+ /)
      } else {
        assert.ok(Array.isArray(body) || (typeof body === 'object' && body !== null))
      }
    }), { numRuns: 400 })
  })
})
