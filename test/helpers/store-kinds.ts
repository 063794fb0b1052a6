import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { createRedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import type { StatsStore } from '../../src/store/types.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from './redis.js'

/** A store a test builds on its own clock, and how to remove it (its keys, for Redis) afterwards. */
export interface StoreKind {
  name: 'memory' | 'redis'
  create: (clock: () => number) => Promise<{ store: StatsStore, cleanup: () => Promise<void> }>
}

/**
 * The embedded store and a Redis store under a fresh key prefix starting with
 * `prefix`, both on the caller's clock with room for every member a small
 * test stream has (1,000 tracked words, 1,000 per room).
 */
export function storeKinds (prefix: string): StoreKind[] {
  return [
    {
      name: 'memory',
      create: async (clock) => {
        const store = new MemoryStore({ clock, maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
        await store.open()
        return { store, cleanup: async () => { await store.close() } }
      }
    },
    {
      name: 'redis',
      create: async (clock) => {
        const namespace = randomPrefix(prefix)
        const redis = createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 5000 })
        const store = new RedisStore({ redis, namespace, maxTrackedWords: 1000, maxTrackedPerRoom: 1000, clock })
        await store.open()
        return {
          store,
          cleanup: async () => {
            await store.close()
            const cleaner = createTestRedis()
            try {
              await deleteKeysWithPrefix(cleaner, namespace)
            } finally {
              await cleaner.quit()
            }
          }
        }
      }
    }
  ]
}
