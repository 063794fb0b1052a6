import type { RedisClient } from './clients.js'
import { COMMAND_SCRIPTS } from './scripts.js'

/**
 * The read and lease scripts as commands of the client (ioredis
 * defineCommand: EVALSHA, and EVAL when Redis lost the script). The names
 * carry a prefix so they cannot shadow a Redis command; defining them again
 * on a shared client (the shards of a ShardedRedisStore) is harmless.
 */
export interface StoreCommands {
  /** lua/top-1.lua: the sorted set, then its ARGV. */
  chatStatsTop: (key: string, ...args: string[]) => Promise<unknown>
  /** lua/lease-acquire-1.lua: lease key, token, ttl ms. */
  chatStatsLeaseAcquire: (lease: string, token: string, ttlMs: string) => Promise<unknown>
  /** lua/lease-renew-1.lua: lease key, token, ttl ms. */
  chatStatsLeaseRenew: (lease: string, token: string, ttlMs: string) => Promise<unknown>
  /** lua/lease-release-1.lua: lease key, token. */
  chatStatsLeaseRelease: (lease: string, token: string) => Promise<unknown>
}

const DEFINITIONS: Record<keyof StoreCommands, typeof COMMAND_SCRIPTS[keyof typeof COMMAND_SCRIPTS]> = {
  chatStatsTop: COMMAND_SCRIPTS.top,
  chatStatsLeaseAcquire: COMMAND_SCRIPTS.leaseAcquire,
  chatStatsLeaseRenew: COMMAND_SCRIPTS.leaseRenew,
  chatStatsLeaseRelease: COMMAND_SCRIPTS.leaseRelease
}

/** Defines the store's commands on `redis` (once per client) and returns it typed with them. */
export function defineStoreCommands (redis: RedisClient): StoreCommands {
  const client = redis as RedisClient & Partial<StoreCommands>
  for (const [name, script] of Object.entries(DEFINITIONS)) {
    if (typeof client[name as keyof StoreCommands] === 'function') continue
    redis.defineCommand(name, script.numberOfKeys === null ? { lua: script.source } : { lua: script.source, numberOfKeys: script.numberOfKeys })
  }
  return client as RedisClient & StoreCommands
}
