import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'

/**
 * No query string, however hostile, makes GET /stats/trending answer a 5xx:
 * each answer is a 200 list, a 400 naming the field, or a 404 for a room
 * never seen.
 */

const NAMES = ['kind', 'window', 'baseline', 'room', 'limit', 'x', '__proto__', 'constructor', 'kind[]', 'window[0]']
const GOOD_VALUES = ['words', 'emotes', 'nicks', '1', '10', '100', 'all', '1m', '5m', '15m', '1h', '24h', '%23forsen', '%23room1', '#forsen']

const rawBytes = fc.uint8Array({ maxLength: 40 }).map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''))
const value = fc.oneof(
  fc.constantFrom(...GOOD_VALUES),
  fc.integer({ min: -2, max: 700_000 }).map(String),
  fc.double().map(String),
  fc.string({ unit: 'grapheme', maxLength: 120 }).map(encodeURIComponent),
  rawBytes,
  fc.constantFrom('', '%', '%zz', '&', '=', '1e2', '0x10', ' 5', '+5', 'Infinity', 'NaN', '[]', '{}', 'true', 'null')
)
const pair = fc.tuple(fc.oneof(fc.constantFrom(...NAMES), rawBytes), value).map(([k, v]) => `${k}=${v}`)
const query = fc.array(pair, { maxLength: 6 }).map((pairs) => pairs.join('&'))

describe('GET /stats/trending query parameters: property', () => {
  let app: FastifyInstance
  let store: MemoryStore

  before(async () => {
    store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
    await store.open()
    const builder = new BatchBuilder()
    for (let i = 0; i < 50; i++) {
      builder.addEvent(JSON.stringify({ command: '', room: i % 3 === 0 ? '#forsen' : `#room${i % 7}`, nick: `nick${i % 11}`, target: '', body: `word${i % 13} the pog ${i}`, tags: 'emotes=25:0-2' }), String(i))
    }
    await store.applyBatch(builder.take(1))
    app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '100000000' }, null), store })
  })

  after(async () => {
    await app.close()
    await store.close()
  })

  it('never answers 5xx; 400s are JSON naming a parameter', { timeout: 120_000 }, async () => {
    await fc.assert(fc.asyncProperty(query, async (qs) => {
      const res = await app.inject({ method: 'GET', url: `/stats/trending?${qs}` })
      assert.ok([200, 400, 404].includes(res.statusCode), `?${qs} -> ${res.statusCode} ${res.body.slice(0, 200)}`)
      const body = JSON.parse(res.body) as unknown
      if (res.statusCode === 400) assert.match((body as { message: string }).message, /^querystring\/\w+ /)
      else if (res.statusCode === 404) assert.equal((body as { code: string }).code, 'CS_ROOM_NOT_FOUND')
      else assert.ok(Array.isArray(body))
    }), { numRuns: 400 })
  })
})
