import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { ConfigError, loadConfig } from '../../src/config.js'
import { createStore } from '../../src/runtime.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { RedisStore } from '../../src/store/redis/redis-store.js'
import { ShardedRedisStore } from '../../src/store/redis/sharded-store.js'

const logger = pino({ level: 'silent' })
const storeFor = (env: Record<string, string>): ReturnType<typeof createStore> => createStore(loadConfig(env, null), logger)

describe('createStore: which store the configuration picks (docs/STORAGE.md#one-contract-two-stores)', () => {
  it('keeps today\'s single-Redis store for STORE_SHARDS 1 (the default on a single Redis)', async () => {
    const { store } = storeFor({ REDIS_URL: 'redis://127.0.0.1:1' })
    assert.ok(store instanceof RedisStore)
    await store.close()
  })

  it('shards over a single Redis with STORE_SHARDS, and over a cluster with 16 shards by default', async () => {
    const single = storeFor({ REDIS_URL: 'redis://127.0.0.1:1', STORE_SHARDS: '4' })
    assert.ok(single.store instanceof ShardedRedisStore)
    assert.equal(single.store.shards.length, 4)
    await single.store.close()
    const cluster = storeFor({ REDIS_CLUSTER_NODES: '127.0.0.1:1,127.0.0.1:2' })
    assert.ok(cluster.store instanceof ShardedRedisStore)
    assert.equal(cluster.store.shards.length, 16)
    assert.match(cluster.description, /cluster .* shards 16/)
    await cluster.store.close()
  })

  it('refuses what it cannot honour, naming the variable', () => {
    const refused = (env: Record<string, string>, variable: string): void => {
      assert.throws(() => storeFor(env), (err: unknown) => err instanceof ConfigError && err.variable === variable, JSON.stringify(env))
    }
    refused({ STORE_SHARDS: '4' }, 'STORE_SHARDS')
    refused({ REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1' }, 'REDIS_CLUSTER_NODES')
    refused({ REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_NAMESPACE: 'a{b}:' }, 'REDIS_NAMESPACE')
    refused({ REDIS_URL: 'redis://127.0.0.1:1', STORE_SHARDS: '2', REDIS_NAMESPACE: 'a{' }, 'REDIS_NAMESPACE')
    assert.ok(storeFor({}).store instanceof MemoryStore)
  })
})
