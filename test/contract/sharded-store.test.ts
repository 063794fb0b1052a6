import assert from 'node:assert/strict'
import { after, describe, it, type TestContext } from 'node:test'
import { shardNamespace } from '../../src/store/redis/keys.js'
import { createRedisClient } from '../../src/store/redis/redis-store.js'
import { ShardedRedisStore } from '../../src/store/redis/sharded-store.js'
import { shardOf } from '../../src/store/shards.js'
import { batch, chatSlice } from '../helpers/batches.js'
import { createTestRedis, deleteKeysWithPrefix, keysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'
import { commitOnShards } from '../helpers/shards.js'
import { runStoreContract } from './store-contract.js'

const admin = createTestRedis()
after(() => admin.quit())
const SHARDS = 4

function makeSharded (namespace: string, options: { clock?: () => number, maxTrackedWords?: number, maxTrackedPerRoom?: number, maxTrackedRooms?: number, windowTop?: number, roomWindowTop?: number } = {}): ShardedRedisStore {
  return new ShardedRedisStore({
    redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }),
    namespace,
    shards: SHARDS,
    clock: options.clock,
    maxTrackedWords: options.maxTrackedWords ?? 1000,
    maxTrackedPerRoom: options.maxTrackedPerRoom ?? 1000,
    maxTrackedRooms: options.maxTrackedRooms,
    windowTop: options.windowTop,
    roomWindowTop: options.roomWindowTop
  })
}

// The same suite as RedisStore, on a single Redis with STORE_SHARDS=4.
runStoreContract(`ShardedRedisStore (${SHARDS} shards, single Redis)`, async (bounds) => {
  const namespace = randomPrefix()
  const store = makeSharded(namespace, bounds)
  return {
    store,
    cleanup: async () => {
      await store.close()
      await deleteKeysWithPrefix(admin, namespace)
    }
  }
}, { globalTrim: false })

async function openStore (t: TestContext, options: Parameters<typeof makeSharded>[1] = {}): Promise<{ store: ShardedRedisStore, namespace: string }> {
  const namespace = randomPrefix()
  const store = makeSharded(namespace, options)
  t.after(async () => {
    await store.close()
    await deleteKeysWithPrefix(admin, namespace)
  })
  await store.open()
  return { store, namespace }
}

describe('ShardedRedisStore (sharding specifics)', () => {
  const second = Math.floor(Date.now() / 1000)
  const lines = Array.from({ length: 60 }, (_, i) => ({ nick: `n${i % 13}`, room: `#r${i % 7}`, words: [`w${i % 17}`, 'common'], emotes: i % 3 === 0 ? ['Kappa'] : [] }))

  it('keeps each shard\'s keys under its hash tag (one slot) and each member in its own shard only', async (t) => {
    const { store, namespace } = await openStore(t)
    await store.applyBatch(batch(1, [chatSlice(second, lines, [{ command: 'CLEARCHAT', room: '#r1' }])], { lastEventId: 'e1' }))
    await store.acquireLease('token', 10_000)
    const all = await keysWithPrefix(admin, namespace)
    assert.ok(all.length > 0)
    for (const key of all) {
      const match = /^\{s(\d+)\}:/.exec(key.slice(namespace.length))
      assert.ok(match !== null, `${key} is under a shard's hash tag`)
      // Redis Cluster hashes the text between the first { and the next }: the shard's tag.
      assert.equal(key.slice(key.indexOf('{') + 1, key.indexOf('}')), `s${match[1]}`, key)
    }
    for (let i = 0; i < SHARDS; i++) {
      const words = await admin.zrange(`${shardNamespace(namespace, i)}top:words`, 0, -1)
      for (const word of words) assert.equal(shardOf(word, SHARDS), i, `${word} in shard ${i}`)
      const rooms = await admin.zrange(`${shardNamespace(namespace, i)}top:rooms`, 0, -1)
      for (const room of rooms) {
        assert.equal(shardOf(room, SHARDS), i)
        assert.equal(await admin.exists(`${shardNamespace(namespace, i)}rtop:words:${room}`), 1, `${room}'s detail is in its shard`)
      }
      // Every shard records the position.
      assert.equal(await admin.get(`${shardNamespace(namespace, i)}position`), '1:e1')
    }
    assert.deepEqual(await store.top('words', { window: 'all', limit: 1 }), { entries: [{ value: 'common', count: 60 }], maxError: 0 })
  })

  it('counts a flush that committed on some shards only once when it is resent', async (t) => {
    const { store } = await openStore(t)
    const first = batch(1, [chatSlice(second, lines)], { lastEventId: 'e1' })
    // As if the worker died after two shards committed.
    await commitOnShards(store, first, [0, 2])
    assert.deepEqual((await store.shardPositions()).map((p) => p.sequence), [1, 0, 1, 0])
    assert.deepEqual(await store.position(), { sequence: 0, lastEventId: null })
    assert.equal(await store.applyBatch(first), 'applied')
    assert.equal(await store.applyBatch(first), 'duplicate')
    assert.deepEqual(await store.position(), { sequence: 1, lastEventId: 'e1' })
    const top = await store.top('nicks', { window: 'all', limit: 100 })
    assert.equal(top.entries.reduce((n, e) => n + e.count, 0), 60)
    assert.equal((await store.totals()).totalMessages, 60)
    assert.deepEqual(await store.top('words', { window: 'all', limit: 1 }), { entries: [{ value: 'common', count: 60 }], maxError: 0 })
  })

  it('keeps each stream-wide list within ceil(maxTrackedWords / shards) per shard, MAX_TRACKED_WORDS in all', async (t) => {
    const { store, namespace } = await openStore(t, { maxTrackedWords: 8 })
    const many = Array.from({ length: 40 }, (_, i) => ({ nick: 'ann', words: Array.from({ length: 1 + (i % 5) }, () => `x${i}`) }))
    await store.applyBatch(batch(1, [chatSlice(second, many)]))
    let total = 0
    for (let i = 0; i < SHARDS; i++) {
      const card = await admin.zcard(`${shardNamespace(namespace, i)}top:words`)
      assert.ok(card <= 2, `shard ${i} keeps ${card}`)
      total += card
    }
    assert.equal(total, 8)
    // The highest counts survive in every shard, so the top of the merge is the true top.
    const top = await store.top('words', { window: 'all', limit: 3 })
    assert.ok(top.entries.every((e) => e.count === 5), JSON.stringify(top))
  })

  it('refuses to open a namespace written with another shard count (members would be misplaced)', async (t) => {
    const { namespace } = await openStore(t)
    const other = new ShardedRedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }), namespace, shards: 2, maxTrackedWords: 1000, maxTrackedPerRoom: 1000 })
    t.after(() => other.close())
    await assert.rejects(other.open(), /STORE_SHARDS is 2 but namespace .* was written with 4 shards/)
    const same = makeSharded(namespace)
    t.after(() => same.close())
    await same.open()
  })

  it('takes the lease shard 0 first: a contender holds no shard and gets it whole after a release', async (t) => {
    const { store, namespace } = await openStore(t)
    assert.equal(await store.acquireLease('A', 10_000), true)
    assert.equal(await store.acquireLease('B', 10_000), false)
    for (let i = 0; i < SHARDS; i++) assert.equal(await admin.get(`${shardNamespace(namespace, i)}lease`), 'A')
    // A shard whose lease lapsed alone: renew reports it, acquire takes it back.
    await admin.del(`${shardNamespace(namespace, 3)}lease`)
    assert.equal(await store.renewLease('A', 10_000), false)
    assert.equal(await store.acquireLease('A', 10_000), true)
    await store.releaseLease('A')
    assert.equal(await store.acquireLease('B', 10_000), true)
  })
})
