import type { Category, RoomCategory } from '../types.js'

/**
 * Every Redis key of the store is built here and nowhere else (scripts get
 * their keys from the caller). `{ns}` is REDIS_NAMESPACE (default
 * `chat-stats:`); `<cat>` a category (words, nicks, rooms, emotes; inside a
 * room words, nicks, emotes); `<level>` a window level (0..4 = 1 s, 5 s,
 * 15 s, 60 s and 1440 s buckets, src/store/windows/levels.ts); `<bucket>` =
 * floor(epoch second / the level's bucket seconds).
 *
 * | key pattern                  | type   | what                                                          | expiry                                      |
 * | ---------------------------- | ------ | ------------------------------------------------------------- | ------------------------------------------- |
 * | `{ns}lease`                  | string | token of the worker holding the lease                         | PX = lease TTL                              |
 * | `{ns}position`               | string | `<sequence>` or `<sequence>:<lastEventId>`                    | none                                        |
 * | `{ns}totals`                 | hash   | messages, failed, startedAt, lastMessageAt                    | none                                        |
 * | `{ns}events`                 | hash   | system events, command -> count (at most MAX_EVENT_COMMANDS)  | none                                        |
 * | `{ns}failed`                 | list   | failed messages as JSON {raw, reason, at}, newest first       | none; LTRIM to maxFailedLog                 |
 * | `{ns}top:<cat>`              | zset   | all-time top list                                             | none; trimmed to MAX_TRACKED_WORDS          |
 * | `{ns}sec:<epoch minute>`     | hash   | second of the minute (0..59) -> messages                      | 24 h + 2 min after the minute ends          |
 * | `{ns}min:<epoch day>`        | hash   | minute of the day (0..1439) -> messages                       | 7 days after the day ends                   |
 * | `{ns}tracked`                | zset   | tracked rooms (drill-down kept) -> all-time messages          | none; at most MAX_TRACKED_ROOMS             |
 * | `{ns}room:<room>`            | hash   | a tracked room's `m` -> messages, `e:<COMMAND>` -> events, `f` -> first-seen epoch second | none; deleted when the room leaves tracked  |
 * | `{ns}rtop:<cat>:<room>`      | zset   | a tracked room's all-time top list                            | none; trimmed to MAX_TRACKED_PER_ROOM       |
 * | `{ns}win:<level>:<cat>:<b>`  | string | one window bucket's trimmed list (windows/serialise.ts)       | its window's need (see below)               |
 * | `{ns}rwin:<level>:<b>`       | hash   | tracked room -> its value in one window bucket                | its window's need (see below)               |
 * | `{ns}windows`                | hash   | `floor`, `newest`: the writer's bucket life (bucket-life.ts)  | none                                        |
 * | `{ns}shards`                 | string | STORE_SHARDS of a sharded store (in shard 0 only)             | none                                        |
 *
 * A window value lives as long as its own window reads it once its parent
 * bucket is built, and until the 24 h window no longer needs it before
 * (so a writer that stops can still build the parent when it comes back).
 * Expiries are relative to the store's clock at write time.
 *
 * Room names are arbitrary text (they may contain `:`), so the room is always
 * the last part of a key: the fixed first part (`room`, `rtop`, ...) tells
 * how many `:`-separated parts precede it, and no two keys can collide.
 */
export class RedisKeys {
  readonly lease: string
  readonly position: string
  readonly totals: string
  readonly events: string
  readonly failedLog: string
  /** The tracked rooms and their all-time messages. */
  readonly tracked: string
  /** The writer's bucket life state (floor, newest written second). */
  readonly windows: string
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
    this.tracked = `${namespace}tracked`
    this.windows = `${namespace}windows`
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

  /** Per-second message counts of one epoch minute. */
  secondSeries (epochMinute: number): string {
    return `${this.namespace}sec:${epochMinute}`
  }

  /** Per-minute message counts of one epoch day. */
  minuteSeries (epochDay: number): string {
    return `${this.namespace}min:${epochDay}`
  }

  /** A tracked room's all-time messages and events. */
  room (room: string): string {
    return `${this.namespace}room:${room}`
  }

  /** A tracked room's all-time top list. */
  roomTop (room: string, category: RoomCategory): string {
    return `${this.namespace}rtop:${category}:${room}`
  }

  /** The trimmed list of one category in one window bucket. */
  windowValue (level: number, category: Category, bucket: number): string {
    return `${this.namespace}win:${level}:${category}:${bucket}`
  }

  /** The tracked rooms' values in one window bucket (field = room). */
  roomWindowValues (level: number, bucket: number): string {
    return `${this.namespace}rwin:${level}:${bucket}`
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

/** Fields of the `{ns}room:<room>` hash. */
export const ROOM_MESSAGES_FIELD = 'm'
export const ROOM_EVENT_FIELD_PREFIX = 'e:'
/** The epoch second a tracked room was first seen (since it entered tracking); absent for a room tracked before stores kept it (unknown). */
export const ROOM_FIRST_SEEN_FIELD = 'f'
