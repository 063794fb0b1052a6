import { resumePlanOf, shardOf, splitBatch } from '../shards.js'
import { compareTopEntries } from '../top-order.js'
import {
  type Batch,
  type Category,
  type FailedMessage,
  LeaseLostError,
  StoreBehindError,
  type Position,
  type Resolution,
  type ResumePlan,
  type RoomCategory,
  type RoomTotals,
  type StatsStore,
  type TimePoint,
  type TopList,
  type TopQuery,
  type Totals,
  type WindowName
} from '../types.js'
import { shardNamespace } from './keys.js'
import { type RedisClient, RedisStore, type RedisStoreOptions } from './redis-store.js'

export interface ShardedRedisStoreOptions extends RedisStoreOptions {
  /** STORE_SHARDS: how many shards each statistic is spread over. */
  shards: number
}

/**
 * The Redis store spread over shards (docs/STORAGE.md#sharding-on-a-redis-cluster), for a Redis Cluster:
 * one RedisStore per shard on one shared client, each under its own hash tag
 * (keys.ts shardNamespace), so every shard's flush is one atomic script in
 * one slot that also records that shard's stream position. Members go to
 * shards by shards.ts; a top list is the merge of the shards' top lists.
 *
 * Each shard keeps ceil(maxTrackedWords / shards) members of each all-time
 * list and tracks ceil(maxTrackedRooms / shards) rooms (a room's detail
 * lives in the room's shard), so the whole stays within MAX_TRACKED_WORDS
 * and MAX_TRACKED_ROOMS (+ shards).
 */
export class ShardedRedisStore implements StatsStore {
  readonly shards: readonly RedisStore[]
  private readonly redis: RedisClient
  private readonly namespace: string

  constructor (options: ShardedRedisStoreOptions) {
    const count = options.shards
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`shards must be a positive integer, got ${String(count)}`)
    this.redis = options.redis
    this.namespace = options.namespace
    const maxTrackedWords = Math.ceil(options.maxTrackedWords / count)
    const maxTrackedRooms = Math.ceil((options.maxTrackedRooms ?? 1000) / count)
    this.shards = Array.from({ length: count }, (_, i) => new RedisStore({ ...options, namespace: shardNamespace(options.namespace, i), maxTrackedWords, maxTrackedRooms }))
  }

  async open (): Promise<void> {
    // The first connects the shared client and loads the scripts; the others find both done.
    await this.shards[0]!.open()
    await Promise.all(this.shards.slice(1).map((shard) => shard.open({ loadScripts: false })))
    // Members are placed by hash mod shards: another count would misplace them (a member in two shards).
    const key = this.shards[0]!.keys.shardCount
    await this.redis.set(key, String(this.shards.length), 'NX')
    const stored = await this.redis.get(key)
    if (stored !== String(this.shards.length)) {
      throw new RangeError(`STORE_SHARDS is ${this.shards.length} but namespace ${this.namespace} was written with ${String(stored)} shards: keep ${String(stored)}, or use a new REDIS_NAMESPACE`)
    }
  }

  async close (): Promise<void> {
    // One client: the first close quits it, the others find it ended.
    for (const shard of this.shards) await shard.close()
    if (this.redis.status !== 'end') this.redis.disconnect()
  }

  async ping (): Promise<void> {
    await this.shards[0]!.ping()
  }

  /**
   * Applies each shard's part concurrently. A shard that already has this
   * sequence answers duplicate and writes nothing, so a flush that committed
   * on some shards before an error or a crash is resent and counted once,
   * and a replay cut at the commit points of resumePlan() reaches only the
   * shards that lack it.
   */
  async applyBatch (batch: Batch, leaseToken?: string): Promise<'applied' | 'duplicate'> {
    // splitBatch validates the whole batch; each part is a piece of it.
    const parts = splitBatch(batch, this.shards.length)
    const outcomes = await Promise.allSettled(this.shards.map((shard, i) => shard.applyValidBatch(parts[i]!, leaseToken)))
    const failures = outcomes.flatMap((outcome) => outcome.status === 'rejected' ? [outcome.reason as unknown] : [])
    if (failures.length > 0) throw failures.find((err) => err instanceof LeaseLostError) ?? failures.find((err) => err instanceof StoreBehindError) ?? failures[0]
    return outcomes.some((outcome) => outcome.status === 'fulfilled' && outcome.value === 'applied') ? 'applied' : 'duplicate'
  }

  /** The lowest committed position: where a restarted worker must resume. */
  async position (): Promise<Position> {
    const positions = await this.shardPositions()
    return positions.reduce((lowest, p) => p.sequence < lowest.sequence ? p : lowest)
  }

  /** Resume from the lowest shard; each shard ahead is a commit point (shards.ts resumePlanOf). */
  async resumePlan (): Promise<ResumePlan> {
    return resumePlanOf(await this.shardPositions())
  }

  /** Each shard's committed position, by shard index. */
  async shardPositions (): Promise<Position[]> {
    return await Promise.all(this.shards.map((shard) => shard.position()))
  }

  // Stream-wide counters live in shard 0, which every batch reaches (only a shard behind is ever left out).
  async totals (): Promise<Totals> {
    return await this.shards[0]!.totals()
  }

  async series (resolution: Resolution, fromMs: number, toMs: number): Promise<TimePoint[]> {
    return await this.shards[0]!.series(resolution, fromMs, toMs)
  }

  async failedMessages (limit: number): Promise<FailedMessage[]> {
    return await this.shards[0]!.failedMessages(limit)
  }

  /**
   * A member lives in one shard, so the top `limit` overall are among the
   * shards' top `limit`s: exact for `all`. A windowed member's count is off
   * by at most its own shard's maxError, so the merge's is the largest.
   */
  async top (category: Category, query: TopQuery): Promise<TopList> {
    const lists = await Promise.all(this.shards.map((shard) => shard.top(category, query)))
    return {
      entries: lists.flatMap((list) => list.entries).sort(compareTopEntries).slice(0, query.limit),
      maxError: Math.max(...lists.map((list) => list.maxError))
    }
  }

  /** A room's detail, first-seen time included, lives in its own shard only (splitBatch), so that shard's is the earliest over all shards. */
  async roomTotals (room: string, window: WindowName): Promise<RoomTotals | null> {
    return await this.roomShard(room).roomTotals(room, window)
  }

  async roomTop (room: string, category: RoomCategory, query: TopQuery): Promise<TopList> {
    return await this.roomShard(room).roomTop(room, category, query)
  }

  /**
   * Shard 0 first: a contender that cannot take it stops there, so two
   * workers never end up holding half the shards each. True once all are held.
   */
  async acquireLease (token: string, ttlMs: number): Promise<boolean> {
    for (const shard of this.shards) if (!await shard.acquireLease(token, ttlMs)) return false
    return true
  }

  async renewLease (token: string, ttlMs: number): Promise<boolean> {
    const held = await Promise.all(this.shards.map((shard) => shard.renewLease(token, ttlMs)))
    return held.every(Boolean)
  }

  async releaseLease (token: string): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.releaseLease(token)))
  }

  private roomShard (room: string): RedisStore {
    if (typeof room !== 'string') throw new TypeError('room must be a string')
    return this.shards[shardOf(room, this.shards.length)]!
  }
}
