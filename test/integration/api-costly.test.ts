import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { buildApp } from '../../src/api/app.js'
import { COMPRESS_MIN_BYTES } from '../../src/api/plugins/compress.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { StatsStore } from '../../src/store/types.js'

/**
 * Issue 18, item 2: a cheap request must not cost a lot. A day at 1 s is
 * charged its 86,400 points against SERIES_POINTS_PER_MINUTE, long series
 * share one store read per tier however their windows differ, and large
 * answers are gzipped for clients that accept it.
 */

const NOW = 1_800_000_000_500

async function api (t: TestContext, settings: Record<string, string> = {}) {
  const store = new MemoryStore({ clock: () => NOW, maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  let seriesReads = 0
  const series = store.series.bind(store)
  store.series = async (...args: Parameters<StatsStore['series']>) => {
    seriesReads++
    return await series(...args)
  }
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000', ...settings }, null)
  const app = await buildApp({ config, store, clock: () => NOW })
  t.after(async () => {
    await app.close()
    await store.close()
  })
  return { app, seriesReads: () => seriesReads }
}

describe('GET /stats/timeseries cost', () => {
  it('charges each client its points per minute: past SERIES_POINTS_PER_MINUTE a 429 with Retry-After, others unaffected', async (t) => {
    const { app } = await api(t, { SERIES_POINTS_PER_MINUTE: String(2 * 86_400 + 300) })
    const day = '/stats/timeseries?resolution=1s&window=86400'
    for (let i = 0; i < 2; i++) assert.equal((await app.inject({ url: day, remoteAddress: '198.51.100.1' })).statusCode, 200)
    // What is left still buys a five-minute chart...
    assert.equal((await app.inject({ url: '/stats/timeseries?window=300', remoteAddress: '198.51.100.1' })).statusCode, 200)
    // ...but not another day, nor one more point.
    for (const url of [day, '/stats/timeseries?window=1']) {
      const refused = await app.inject({ url, remoteAddress: '198.51.100.1' })
      assert.equal(refused.statusCode, 429, url)
      const body = JSON.parse(refused.body) as { statusCode: number, error: string, code: string, message: string }
      assert.deepEqual([body.statusCode, body.error, body.code], [429, 'Too Many Requests', 'CS_COST_LIMITED'])
      const retryAfter = Number(refused.headers['retry-after'])
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`)
    }
    assert.equal((await app.inject({ url: day, remoteAddress: '198.51.100.2' })).statusCode, 200)
    // The other routes are not charged.
    assert.equal((await app.inject({ url: '/stats', remoteAddress: '198.51.100.1' })).statusCode, 200)
  })

  it('windows that differ by a second share one store read of their tier, and answer exactly their points', async (t) => {
    const { app, seriesReads } = await api(t, { SERIES_POINTS_PER_MINUTE: '10000000' })
    const windows = Array.from({ length: 20 }, (_, i) => 86_400 - i * 997)
    const answers = await Promise.all(windows.map(async (window) => await app.inject({ url: `/stats/timeseries?resolution=1s&window=${window}` })))
    for (const [i, res] of answers.entries()) {
      assert.equal(res.statusCode, 200)
      const points = JSON.parse(res.body) as Array<{ t: number, messages: number }>
      assert.equal(points.length, windows[i])
      assert.equal(points.at(-1)?.t, Math.floor(NOW / 1000) * 1000, 'ends with the second being filled')
    }
    assert.equal(seriesReads(), 1)
    // Short windows share their own (small) tier: the dashboard's five minutes never read a day.
    await Promise.all([300, 299, 120, 60].map(async (window) => await app.inject({ url: `/stats/timeseries?window=${window}` })))
    assert.equal(seriesReads(), 2)
  })

  it('gzips large JSON answers for clients that accept it; small ones and others get plain JSON', async (t) => {
    const { app } = await api(t)
    const url = '/stats/timeseries?resolution=1s&window=86400'
    const plain = await app.inject({ url })
    assert.equal(plain.headers['content-encoding'], undefined)
    assert.ok(plain.rawPayload.length > COMPRESS_MIN_BYTES)
    assert.match(String(plain.headers.vary), /Accept-Encoding/i)

    const zipped = await app.inject({ url, headers: { 'accept-encoding': 'gzip, deflate, br' } })
    assert.equal(zipped.statusCode, 200)
    assert.equal(zipped.headers['content-encoding'], 'gzip')
    assert.match(String(zipped.headers['content-type']), /^application\/json/)
    const unzipped = gunzipSync(zipped.rawPayload)
    assert.deepEqual(JSON.parse(unzipped.toString('utf8')), JSON.parse(plain.body))
    assert.ok(zipped.rawPayload.length * 10 < plain.rawPayload.length, `${zipped.rawPayload.length} bytes gzipped vs ${plain.rawPayload.length}`)

    assert.equal((await app.inject({ url, headers: { 'accept-encoding': 'gzip;q=0' } })).headers['content-encoding'], undefined)
    assert.equal((await app.inject({ url: '/stats', headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding'], undefined)
  })
})
