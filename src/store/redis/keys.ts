import type { Category, RoomCategory } from '../types.js'
import type { WindowSpec } from '../windows.js'

/**
 * Every Redis key of the store is built here and nowhere else (Lua scripts
 * receive their keys in KEYS). `{ns}` is REDIS_NAMESPACE (default
 * `chat-stats:`); `<w>` a window name (1m, 5m, 15m, 1h, 24h); `<cat>` a
 * category (words, nicks, rooms, emotes; inside a room words, nicks,
 * emotes); `<bucket>` = floor(epoch second / bucket seconds of the window).
 *
 * | key pattern                              | type   | what                                                        | expiry                                   |
 * | ---------------------------------------- | ------ | ----------------------------------------------------------- | ---------------------------------------- |
 * | `{ns}lease`                              | string | token of the worker holding the lease                       | PX = lease TTL                           |
 * | `{ns}position`                           | string | `<sequence>` or `<sequence>:<lastEventId>`                  | none                                     |
 * | `{ns}totals`                             | hash   | messages, failed, startedAt, lastMessageAt                  | none                                     |
 * | `{ns}events`                             | hash   | system events, command -> count                             | none                                     |
 * | `{ns}failed`                             | list   | failed messages as JSON {raw, reason, at}, newest first     | none; LTRIM to maxFailedLog              |
 * | `{ns}top:<cat>`                          | zset   | all-time top list                                           | none; trimmed to MAX_TRACKED_WORDS       |
 * | `{ns}win:<w>:<cat>:<bucket>`             | zset   | counts of one window bucket                                 | bucketTtlSeconds after the bucket starts |
 * | `{ns}sec:<epoch minute>`                 | hash   | second of the minute (0..59) -> messages                    | 24 h + 2 min after the minute ends       |
 * | `{ns}min:<epoch day>`                    | hash   | minute of the day (0..1439) -> messages                     | 7 days after the day ends                |
 * | `{ns}room:<room>`                        | hash   | `m` -> messages, `e:<COMMAND>` -> events, all time          | none                                     |
 * | `{ns}rtop:<cat>:<room>`                  | zset   | a room's all-time top list                                  | none; trimmed to MAX_TRACKED_PER_ROOM    |
 * | `{ns}rwin:<w>:<bucket>:<room>`           | zset   | a room's `m` and `e:<COMMAND>` in one window bucket         | bucketTtlSeconds after the bucket starts |
 * | `{ns}rwtop:<w>:<cat>:<bucket>:<room>`    | zset   | a room's counts of one window bucket                        | bucketTtlSeconds after the bucket starts |
 * | `{ns}rollup`                             | hash   | `1`..`4`: last final bucket of each coarser level; `last`   | none                                     |
 * | `{ns}rooms:<w>:<bucket>`                 | set    | rooms with counts in a bucket not yet rolled up             | until the 24 h window no longer needs it |
 * | `{ns}cache:<w>:<cat>:<bucket>`           | zset   | ZUNIONSTORE of the 60 buckets covering a window             | PEXPIRE 1000 ms                          |
 * | `{ns}rcache:<w>:<cat>:<bucket>:<room>`   | zset   | the same for a room                                         | PEXPIRE 1000 ms                          |
 * | `{ns}shards`                             | string | STORE_SHARDS of a sharded store (in shard 0 only)           | none                                     |
 *
 * Window buckets of 1m are written by every flush; the coarser ones are
 * rolled up from the finer ones when they close (levels.ts). Until then a
 * bucket lives as long as the 24 h window might need it, then as long as
 * its own window does.
 *
 * Room names are arbitrary text (they may contain `:`), so the room is always
 * the last part of a key: the fixed first part (`room`, `rtop`, ...) tells
 * how many `:`-separated parts precede it, and no two keys can collide.
 * Expiries are relative to the store's clock at write time, so a bucket
 * lives exactly as long as the windows that read it need it.
 */
export class RedisKeys {
  readonly lease: string
  readonly position: string
  readonly totals: string
  readonly events: string
  readonly failedLog: string
  /** Roll-up progress: the last final bucket per level, and the last second written. */
  readonly rollup: string
  /** A sharded store's shard count, kept in shard 0: members are placed by it. */
  readonly shardCount: string
  private readonly topKeys: Record<Category, string>

  /** @param namespace the prefix of every key (REDIS_NAMESPACE), e.g. `chat-stats:` */
  constructor (readonly namespace: string) {
    if (typeof namespace !== 'string' || namespace === '') throw new TypeError('the Redis namespace must be a non-empty string')
    this.lease = `${namespace}lease`
    this.position = `${namespace}position`
    this.totals = `${namespace}totals`
    this.events = `${namespace}events`
    this.failedLog = `${namespace}failed`
    this.rollup = `${namespace}rollup`
    this.shardCount = `${namespace}shards`
    this.topKeys = {
      words: `${namespace}top:words`,
      nicks: `${namespace}top:nicks`,
      rooms: `${namespace}top:rooms`,
      emotes: `${namespace}top:emotes`
    }
  }

  /** The all-time top list of a category. */
  top (category: Category): string {
    return this.topKeys[category]
  }

  /** One bucket of a window's top list. */
  windowBucket (spec: WindowSpec, category: Category, bucket: number): string {
    return `${this.namespace}win:${spec.name}:${category}:${bucket}`
  }

  /** Per-second message counts of one epoch minute. */
  secondSeries (epochMinute: number): string {
    return `${this.namespace}sec:${epochMinute}`
  }

  /** Per-minute message counts of one epoch day. */
  minuteSeries (epochDay: number): string {
    return `${this.namespace}min:${epochDay}`
  }

  /** A room's all-time messages and events; its existence means the room was seen. */
  room (room: string): string {
    return `${this.namespace}room:${room}`
  }

  /** A room's all-time top list. */
  roomTop (room: string, category: RoomCategory): string {
    return `${this.namespace}rtop:${category}:${room}`
  }

  /** A room's messages and events in one window bucket. */
  roomWindowBucket (spec: WindowSpec, bucket: number, room: string): string {
    return `${this.namespace}rwin:${spec.name}:${bucket}:${room}`
  }

  /** A room's top list in one window bucket. */
  roomTopBucket (spec: WindowSpec, category: RoomCategory, bucket: number, room: string): string {
    return `${this.namespace}rwtop:${spec.name}:${category}:${bucket}:${room}`
  }

  /** Rooms with counts in a bucket of a coarser window that is not rolled up yet. */
  rollupRooms (spec: WindowSpec, bucket: number): string {
    return `${this.namespace}rooms:${spec.name}:${bucket}`
  }

  /** The cached union of a window's buckets, named by the bucket being filled. */
  windowCache (spec: WindowSpec, category: Category, currentBucket: number): string {
    return `${this.namespace}cache:${spec.name}:${category}:${currentBucket}`
  }

  /** The cached union of a room window's buckets. */
  roomWindowCache (spec: WindowSpec, category: RoomCategory, currentBucket: number, room: string): string {
    return `${this.namespace}rcache:${spec.name}:${category}:${currentBucket}:${room}`
  }
}

/**
 * The namespace of shard `index` of a sharded store: `{ns}{s<index>}:`. The
 * hash tag `{s<index>}` puts every key of one shard in one cluster slot, so
 * each shard's Lua script and MULTI is legal on a Redis Cluster, while the
 * keys still start with the namespace (SCAN by prefix finds them all).
 */
export function shardNamespace (namespace: string, index: number): string {
  if (/[{}]/.test(namespace)) throw new RangeError('a sharded namespace must not contain { or } (they would change the hash tag)')
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`bad shard index ${String(index)}`)
  return `${namespace}{s${index}}:`
}

/** Fields of the `{ns}room:<room>` and `{ns}rwin:...` hashes. */
export const ROOM_MESSAGES_FIELD = 'm'
export const ROOM_EVENT_FIELD_PREFIX = 'e:'
