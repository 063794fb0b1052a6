import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { runStoreContract } from '../contract/store-contract.js'
import { createRedisClusterClient } from '../../src/store/redis/redis-store.js'
import { ShardedRedisStore } from '../../src/store/redis/sharded-store.js'
import { batch, chatSlice } from '../helpers/batches.js'
import { randomPrefix } from '../helpers/redis.js'
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js'

/** The conformance suite on a real three-master Redis Cluster (docs/STORAGE.md#sharding-on-a-redis-cluster). */
let cluster: TestRedisCluster
before(async () => { cluster = await startRedisCluster() })
after(async () => { await cluster?.close() })

function clusterStore (namespace: string, shards: number, options: { clock?: () => number, maxTrackedWords: number, maxTrackedPerRoom: number }): ShardedRedisStore {
  return new ShardedRedisStore({ redis: createRedisClusterClient({ nodes: cluster.nodes, commandTimeoutMs: 30_000 }), namespace, shards, ...options })
}

for (const shards of [16, 1]) {
  runStoreContract(`ShardedRedisStore on a 3-master cluster, ${shards} shard(s)`, async (options) => {
    const namespace = randomPrefix()
    const store = clusterStore(namespace, shards, options)
    return {
      store,
      cleanup: async () => {
        await store.close()
        await cluster.deleteKeysWithPrefix(namespace)
      }
    }
  }, { globalTrim: shards === 1 })
}

describe('ShardedRedisStore on a cluster', () => {
  it('spreads 16 shards over all three masters and reads back across them', async (t) => {
    const namespace = randomPrefix()
    const store = clusterStore(namespace, 16, { maxTrackedWords: 1000, maxTrackedPerRoom: 1000 })
    t.after(async () => {
      await store.close()
      await cluster.deleteKeysWithPrefix(namespace)
    })
    await store.open()
    const second = Math.floor(Date.now() / 1000)
    const lines = Array.from({ length: 300 }, (_, i) => ({ nick: `n${i % 50}`, room: `#r${i % 30}`, words: [`w${i % 90}`] }))
    assert.equal(await store.applyBatch(batch(1, [chatSlice(second, lines)], { lastEventId: 'e1' })), 'applied')
    const perMaster = await Promise.all(cluster.admins.map((admin) => admin.dbsize()))
    assert.ok(perMaster.every((n) => n > 0), `keys per master: ${perMaster.join(', ')}`)
    const nicks = await store.top('nicks', { window: 'all', limit: 100 })
    assert.equal(nicks.entries.length, 50)
    assert.ok(nicks.entries.every((e) => e.count === 6))
    assert.deepEqual(await store.position(), { sequence: 1, lastEventId: 'e1' })
  })
})
