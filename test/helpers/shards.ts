import { splitBatch } from '../../src/store/shards.js'
import type { ShardedRedisStore } from '../../src/store/redis/sharded-store.js'
import type { Batch } from '../../src/store/types.js'

/** Commits a batch on some shards only: what a worker that crashed between the shards' commits leaves behind. */
export async function commitOnShards (store: ShardedRedisStore, batch: Batch, shards: readonly number[]): Promise<void> {
  const parts = splitBatch(batch, store.shards.length)
  for (const i of shards) await store.shards[i]!.applyBatch(parts[i]!)
}
