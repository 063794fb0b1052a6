import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { StatsReader } from '../../src/api/services/stats-reader.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { StatsStore } from '../../src/store/types.js'
import { batch, slice } from '../helpers/batches.js'

/**
 * API_CACHE_MS: identical statistics reads within the reuse time share one
 * store read (a burst of requests costs the store one read); different
 * requests, failed reads and reuse time 0 never share.
 */

const NOW = 1_800_000_000_000

async function storeWith (words: Record<string, number>): Promise<{ store: MemoryStore, reads: () => number, fail: (on: boolean) => void }> {
  const store = new MemoryStore({ clock: () => NOW, maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  await store.applyBatch(batch(1, [slice(NOW / 1000 - 1, { messages: 1, words })]))
  let reads = 0
  let failing = false
  // The real store, counted: every top() that reaches it.
  const top = store.top.bind(store)
  store.top = async (...args: Parameters<StatsStore['top']>) => {
    reads++
    if (failing) throw new Error('store down')
    return await top(...args)
  }
  return { store, reads: () => reads, fail: (on) => { failing = on } }
}

function reader (store: StatsStore, reuseMs: number): StatsReader {
  return new StatsReader({ store, clock: () => NOW, timeoutMs: 1000, botNicks: new Set(), reuseMs })
}

describe('StatsReader read sharing (API_CACHE_MS)', () => {
  it('concurrent and repeated identical reads within the reuse time make one store read', async () => {
    const { store, reads } = await storeWith({ kappa: 3, pog: 1 })
    const r = reader(store, 60_000)
    const answers = await Promise.all(Array.from({ length: 20 }, async () => await r.top('words', { window: 'all', limit: 10 })))
    for (const answer of answers) assert.deepEqual(answer, { items: [{ word: 'kappa', count: 3 }, { word: 'pog', count: 1 }], maxError: 0 })
    await r.top('words', { window: 'all', limit: 10 })
    assert.equal(reads(), 1)
    // Another limit, window or filter is another read.
    await r.top('words', { window: 'all', limit: 1 })
    await r.top('words', { window: '1m', limit: 10 })
    await r.top('words', { window: 'all', limit: 10, stopwords: 'exclude' })
    assert.equal(reads(), 4)
  })

  it('after the reuse time a request reads the store again and sees new counts', async () => {
    const { store, reads } = await storeWith({ kappa: 3 })
    const r = reader(store, 30)
    assert.deepEqual((await r.top('words', { window: 'all', limit: 10 })).items, [{ word: 'kappa', count: 3 }])
    await store.applyBatch(batch(2, [slice(NOW / 1000 - 1, { messages: 1, words: { kappa: 2 } })]))
    // Within the reuse time: the shared answer.
    assert.deepEqual((await r.top('words', { window: 'all', limit: 10 })).items, [{ word: 'kappa', count: 3 }])
    await sleep(40)
    assert.deepEqual((await r.top('words', { window: 'all', limit: 10 })).items, [{ word: 'kappa', count: 5 }])
    assert.equal(reads(), 2)
  })

  it('a failed read is not shared: the next request reads the store again', async () => {
    const { store, reads, fail } = await storeWith({ kappa: 3 })
    const r = reader(store, 60_000)
    fail(true)
    await assert.rejects(r.top('words', { window: 'all', limit: 10 }), (err: { statusCode?: number }) => err.statusCode === 503)
    fail(false)
    assert.deepEqual((await r.top('words', { window: 'all', limit: 10 })).items, [{ word: 'kappa', count: 3 }])
    assert.equal(reads(), 2)
  })

  it('reuse time 0: every request reads the store', async () => {
    const { store, reads } = await storeWith({ kappa: 3 })
    const r = reader(store, 0)
    await Promise.all([r.top('words', { window: 'all', limit: 10 }), r.top('words', { window: 'all', limit: 10 })])
    await r.top('words', { window: 'all', limit: 10 })
    assert.equal(reads(), 3)
  })
})
