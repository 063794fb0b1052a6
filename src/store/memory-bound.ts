import { DEFAULT_MAX_EVENT_COMMANDS, MAX_COMMAND_BYTES } from '../model/event-commands.js'
import { DEFAULT_MAX_NAME_BYTES } from '../model/names.js'
import { DEFAULT_MAX_OPEN_ENTRIES } from './windows/bucket-life.js'
import { bucketTtlSeconds, MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS, WINDOW_SPECS } from './windows.js'

/**
 * The memory formula of ARCHITECTURE.md ("Memory bounds") as code: the most
 * memory each stored structure can reach, from the settings that bound it
 * (docs/STORAGE.md#bounds). Pure; the bench (`npm run bench -- --only day`) prints
 * it beside the memory it measures over a simulated day, and `--only worst-case`
 * beside every structure filled to its bound (bench/worst-case.ts).
 *
 * Each structure is entries × bytes per entry. The per-entry sizes are named
 * below with how they were found: for Redis, measured on Redis 7.0.15
 * (jemalloc, 64-bit) as the growth of `used_memory` per entry over 10^5 to
 * 2·10^5 entries; for the embedded store, V8's heap growth per entry
 * (Node 20). They include allocator rounding and hash-table slack, not the
 * transient doubling while a hash table rehashes.
 */

/**
 * A sorted-set member in a skip list + dict (over 128 members or 64 bytes),
 * beyond the allocation of the member's own text (redisZsetEntryBytes):
 * 112 B measured for 10-byte members, 176 for 64, 256 for 128, 320 for 200,
 * 416 for 256.
 */
export const REDIS_ZSET_ENTRY_BYTES = 100

/** jemalloc's size class for `bytes`: 8, then 16 apart up to 128, then four classes to each power of two (160, 192, 224, 256, 320, ...). */
export function jemallocClass (bytes: number): number {
  if (bytes <= 8) return 8
  const step = Math.max(16, 2 ** (Math.ceil(Math.log2(bytes)) - 3))
  return Math.ceil(bytes / step) * step
}

/** One member of a sorted set: the entry plus the member's text (an sds: 3 B header and a terminating 0) in its size class. */
export function redisZsetEntryBytes (memberBytes: number): number {
  return REDIS_ZSET_ENTRY_BYTES + jemallocClass(memberBytes + 4)
}
/** A key with an expiry, beyond its name and value: dict entry, robj, sds headers, expires entry (245 B measured for a 30-byte name and a 100-byte string). */
export const REDIS_KEY_BYTES = 120
/** A field of a hash in a hash table, beyond its name and value (75 B measured for 10 + 10 bytes). */
export const REDIS_HASH_FIELD_BYTES = 60
/** A field of a small hash (listpack, up to 128 fields of up to 64 bytes), beyond its name and value (344 B measured for a 60-field key). */
export const REDIS_LISTPACK_FIELD_BYTES = 4
/** A Map entry in V8 beyond its key string: table slot, hash, value (61 B measured for 10-character keys). */
export const EMBEDDED_MAP_ENTRY_BYTES = 40
/** A V8 string beyond its characters (header, hash, length), and the factor for two-byte strings (any character past U+00FF). */
export const EMBEDDED_STRING_BYTES = 16
/** One [member, count] of a trimmed list kept as a JS array of pairs, beyond the member (106 B measured with 10-character members). */
export const EMBEDDED_PAIR_BYTES = 80
/** One entry of a compact window value (`["member",count],` in JSON), beyond the member: quotes, brackets, commas and up to 10 digits. */
export const COMPACT_ENTRY_BYTES = 16
/** jemalloc's size classes are a quarter of a power of two apart: a value of a few KB takes up to 25 % more than its bytes. */
export const REDIS_ALLOCATION_ROUNDING = 1.25
/** A room's per-bucket value besides its lists and its events by command: messages and the lists' error bounds. */
export const ROOM_BUCKET_FIXED_BYTES = 120
/** A room's all-time hash besides its `e:<COMMAND>` fields: `m` (messages) and `f` (first seen). */
export const ROOM_HASH_FIELDS = 2
/** A hash field's name and value besides the name's own text: a count of up to 16 digits and the like. */
const HASH_FIELD_TEXT_BYTES = 16
/** Bytes of one kept failed message: the raw text cut at 2 KiB plus its reason, time and JSON. */
export const FAILED_MESSAGE_BYTES = 2048 + 150
/**
 * One kept failed message in Redis: a list element of JSON text, where a
 * control character of the raw text is written `\u00XX` (6 bytes), so the
 * 2 KiB cut is up to 12 KiB; an element past 8 KB sits alone in a quicklist
 * node (40 B, allocated as 48) in its jemalloc class. MEMORY USAGE gives
 * 14,376 B per entry of 2,048 U+0001 (the worst-case bench part, BENCHMARKS.md).
 */
export const REDIS_FAILED_MESSAGE_BYTES = jemallocClass(6 * 2048 + 150) + 48
/** Lease, position, totals, roll-up marks and the like: a few small keys. */
export const FIXED_BYTES = 16 * 1024

export interface MemoryBoundSettings {
  /** MAX_TRACKED_WORDS: members of each stream-wide all-time list (words, nicks, rooms, emotes). */
  maxTrackedWords: number
  /** MAX_TRACKED_PER_ROOM: members of each per-room all-time list (words, nicks, emotes). */
  maxTrackedPerRoom: number
  /** MAX_TRACKED_ROOMS: rooms with drill-down detail. */
  maxTrackedRooms: number
  /** WINDOW_TOP: members per list of a closed stream-wide window bucket. */
  windowTop: number
  /** Members per list of a room's window bucket (ROOM_WINDOW_TOP, or WINDOW_TOP when there is no separate setting). */
  roomWindowTop: number
  /** Failed messages kept (1,000). */
  failedLogSize: number
  /** Bucket sizes (seconds) of the room windows' levels, when coarser than the stream-wide ones; default the same five. */
  roomBucketSeconds?: readonly number[] | undefined
  /**
   * STORE_SHARDS (default 1): each shard keeps ceil(bound / shards) of
   * MAX_TRACKED_WORDS and MAX_TRACKED_ROOMS, but its own stream-wide window
   * lists of WINDOW_TOP each, so those multiply by the shards.
   */
  shards?: number | undefined
  /** MAX_NAME_BYTES (default 64): the longest nick, room or emote, the worst case's member size (worstCaseMembers). */
  maxNameBytes?: number | undefined
  /**
   * MAX_EVENT_COMMANDS (default 16): system-event commands counted, each at
   * most MAX_COMMAND_BYTES. Each is a field of the events hash and of every
   * tracked room's hash, and may be in every room window value.
   */
  maxEventCommands?: number | undefined
}

/** Average bytes of what is stored as members (UTF-8 in Redis; characters in V8). */
export interface MemberSizes {
  /** A nick or emote. */
  memberBytes: number
  /**
   * A word, in UTF-8 (Redis) and in V8 alike: a word is bounded by code
   * points, not bytes, and its longest form (64 characters past U+FFFF) is
   * 4 bytes a character in both.
   */
  wordBytes: number
  /** A room name with its `#`. */
  roomBytes: number
  /** True when members are mostly outside Latin-1 (two bytes a character in V8). */
  wide: boolean
}

/** The longest word: 64 code points (docs/COUNTING.md#words), each past U+FFFF: 4 bytes in UTF-8, a surrogate pair in V8. */
export const WORST_CASE_WORD_BYTES = 64 * 4

/**
 * The worst case's members under MAX_NAME_BYTES `maxNameBytes`: nicks,
 * rooms and emotes of that many bytes (docs/COUNTING.md#long-names), held in
 * V8 as two-byte strings (twice the bytes: one character past U+00FF makes
 * a whole string two-byte), and words of 64 four-byte characters (256 bytes
 * in UTF-8 and in V8).
 */
export function worstCaseMembers (maxNameBytes: number = DEFAULT_MAX_NAME_BYTES): MemberSizes {
  return { memberBytes: maxNameBytes, wordBytes: WORST_CASE_WORD_BYTES, roomBytes: maxNameBytes, wide: true }
}

/** The worst case at the default MAX_NAME_BYTES: names of 64 bytes (Twitch nicks have at most 25 characters, room names 26), words of 256. */
export const WORST_CASE_MEMBERS: MemberSizes = worstCaseMembers()
/** The real firehose: words average about 6 bytes, nicks about 11, emotes about 8, rooms about 12 with the `#`. */
export const TYPICAL_MEMBERS: MemberSizes = { memberBytes: 10, wordBytes: 6, roomBytes: 12, wide: false }

/**
 * How full the per-room window buckets are, per level (1 s, 5 s, 15 s, 1 min,
 * 24 min): `rooms` the share of tracked rooms with a value in a bucket,
 * `members` the share of the 3 × ROOM_WINDOW_TOP members a value holds.
 * Every other structure is full in both cases.
 */
export interface RoomWindowFill {
  rooms: readonly number[]
  members: readonly number[]
  /** The share of MAX_EVENT_COMMANDS commands a value holds (0: the few a room sees fit in ROOM_BUCKET_FIXED_BYTES). */
  commands: number
}

/** The worst case: every tracked room has more than ROOM_WINDOW_TOP distinct words, nicks and emotes, and every system-event command, in every bucket. */
export const FULL_ROOM_WINDOWS: RoomWindowFill = { rooms: [1, 1, 1, 1, 1], members: [1, 1, 1, 1, 1], commands: 1 }
/**
 * The real firehose's 1,000 most active rooms (about 2,000 msg/s over tens of
 * thousands of rooms, the top rooms carrying most of it): many get less than
 * a message a second, so a 1 s bucket holds a value for a third of them with
 * a few members; from 15 s up most rooms have a value, and from 1 min up it
 * is full. Estimates, checked against the measured day (BENCHMARKS.md).
 */
export const FIREHOSE_ROOM_WINDOWS: RoomWindowFill = { rooms: [0.35, 0.7, 0.9, 1, 1], members: [0.1, 0.3, 0.5, 0.9, 1], commands: 0 }

export type StoreKind = 'redis' | 'embedded'

export interface MemoryBoundPart {
  /** The structure, as ARCHITECTURE.md names it. */
  name: string
  entries: number
  bytesPerEntry: number
  bytes: number
}

export interface MemoryBound {
  parts: MemoryBoundPart[]
  /** Sum of the parts, in bytes. */
  total: number
}

/** Live buckets of a level: how long a bucket lives (bucketTtlSeconds) over its size, plus the one being filled. */
function liveBuckets (bucketSeconds: number, ttlSeconds: number): number {
  return Math.ceil(ttlSeconds / bucketSeconds) + 1
}

/**
 * The most memory the store's structures can take under `settings` with
 * members of `sizes` (and per-room window buckets as full as `fill`: full by
 * default). For 'embedded' it includes the writer's open 1 s buckets (in
 * the same process); for 'redis' those are the worker's memory, not Redis's.
 */
export function memoryBound (settings: MemoryBoundSettings, sizes: MemberSizes, store: StoreKind = 'redis', fill: RoomWindowFill = FULL_ROOM_WINDOWS): MemoryBound {
  const S = settings.shards ?? 1
  const { maxTrackedPerRoom: P, windowTop: K, roomWindowTop: Kr } = settings
  const W = S * Math.ceil(settings.maxTrackedWords / S)
  const T = S * Math.ceil(settings.maxTrackedRooms / S)
  const m = sizes.memberBytes
  const w = sizes.wordBytes
  const r = sizes.roomBytes
  const C = settings.maxEventCommands ?? DEFAULT_MAX_EVENT_COMMANDS
  const redis = store === 'redis'
  // What one member of a list costs, and one key (a JS Map entry holding the structure in the embedded store).
  // A word's bytes are the same in V8 as in UTF-8 (see wordBytes); a name's double when wide.
  const string = (bytes: number, word = false): number => redis ? bytes : EMBEDDED_STRING_BYTES + (sizes.wide && !word ? 2 * bytes : bytes)
  const listEntry = (bytes: number, word = false): number => redis ? redisZsetEntryBytes(bytes) : EMBEDDED_MAP_ENTRY_BYTES + string(bytes, word)
  const key = redis ? REDIS_KEY_BYTES : EMBEDDED_MAP_ENTRY_BYTES + EMBEDDED_STRING_BYTES
  const compactEntry = (bytes: number, word = false): number => redis ? COMPACT_ENTRY_BYTES + bytes : EMBEDDED_PAIR_BYTES + string(bytes, word)
  const hashField = redis ? REDIS_HASH_FIELD_BYTES : EMBEDDED_MAP_ENTRY_BYTES

  const streamLevels = WINDOW_SPECS.map((spec) => liveBuckets(spec.bucketSeconds, bucketTtlSeconds(spec)))
  const streamBuckets = streamLevels.reduce((sum, n) => sum + n, 0)
  // A coarser room level keeps its bucket as long as the window it serves needs it.
  const roomLevels = settings.roomBucketSeconds === undefined
    ? streamLevels
    : settings.roomBucketSeconds.map((seconds, i) => liveBuckets(seconds, bucketTtlSeconds(WINDOW_SPECS[i] ?? WINDOW_SPECS.at(-1)!)))
  const roomBuckets = roomLevels.reduce((sum, n) => sum + n, 0)
  // One room's value in one bucket is its compact text (JSON), a Redis hash field or a V8 string (Map entry) beside the room's name.
  // Its events are `"COMMAND":count,` entries, like the lists' (docs/COUNTING.md#system-event-commands).
  const roomEventsText = Math.round(C * fill.commands) * (COMPACT_ENTRY_BYTES + MAX_COMMAND_BYTES)
  // A third of a room value's members are words. In V8 a wide text doubles everything but the
  // words, whose longest form (four-byte characters) already takes its UTF-8 bytes.
  const roomValueText = (members: number): number => {
    const names = ROOM_BUCKET_FIXED_BYTES + roomEventsText + members * (COMPACT_ENTRY_BYTES + (2 * m) / 3)
    const words = (members * w) / 3
    return redis ? Math.ceil(REDIS_ALLOCATION_ROUNDING * (names + words)) : EMBEDDED_STRING_BYTES + (sizes.wide ? 2 : 1) * names + words
  }
  const roomValue = (members: number): number => hashField + string(r) + roomValueText(members)
  // Filled values, summed over levels: (room, bucket) values and their mean size.
  let roomValues = 0
  let roomValueBytes = 0
  roomLevels.forEach((buckets, i) => {
    const values = buckets * T * (fill.rooms[i] ?? 1)
    roomValues += values
    roomValueBytes += values * roomValue(Math.round(3 * Kr * (fill.members[i] ?? 1)))
  })
  const meanRoomValue = roomValues === 0 ? 0 : Math.round(roomValueBytes / roomValues)
  // One closed stream-wide bucket of one list: WINDOW_TOP compact entries.
  const streamBucket = (entry: number): number => redis ? Math.ceil(REDIS_ALLOCATION_ROUNDING * K * entry) : K * entry
  const minuteHashes = Math.ceil(SECOND_SERIES_RETENTION_SECONDS / 60) + 1
  const dayHashes = Math.ceil(MINUTE_SERIES_RETENTION_SECONDS / 86400) + 1

  const part = (name: string, entries: number, bytesPerEntry: number): MemoryBoundPart =>
    ({ name, entries, bytesPerEntry, bytes: entries * bytesPerEntry })
  const parts = [
    part('all-time list: words (MAX_TRACKED_WORDS)', W, listEntry(w, true)),
    part('all-time lists: nicks, emotes (MAX_TRACKED_WORDS each)', 2 * W, listEntry(m)),
    part('all-time list: rooms (MAX_TRACKED_WORDS)', W, listEntry(r)),
    part('tracked rooms (MAX_TRACKED_ROOMS)', T, listEntry(r)),
    part('per-room all-time totals (a hash per tracked room: messages, first seen, MAX_EVENT_COMMANDS events)', T, key + r + ROOM_HASH_FIELDS * (hashField + HASH_FIELD_TEXT_BYTES) + C * (hashField + HASH_FIELD_TEXT_BYTES + string(2 + MAX_COMMAND_BYTES))),
    part('per-room all-time word lists (1 per tracked room, MAX_TRACKED_PER_ROOM each)', T * P, listEntry(w, true)),
    part('per-room all-time nick and emote lists (2 per tracked room, MAX_TRACKED_PER_ROOM each)', 2 * T * P, listEntry(m)),
    part('per-room all-time list keys', 3 * T, key + r + 10),
    part(`stream-wide window buckets: words (${streamBuckets} live buckets${S === 1 ? '' : ` x ${S} shards`}, WINDOW_TOP each)`, S * streamBuckets, key + 40 + streamBucket(compactEntry(w, true))),
    part(`stream-wide window buckets: nicks, emotes, rooms (${streamBuckets} live buckets x 3 lists${S === 1 ? '' : ` x ${S} shards`}, WINDOW_TOP each)`, S * streamBuckets * 3, key + 40 + streamBucket(compactEntry(m))),
    part(`per-room window buckets (${roomBuckets} live buckets x MAX_TRACKED_ROOMS rooms x ROOM_WINDOW_TOP)`, Math.round(roomValues), meanRoomValue),
    part('per-second series (a hash of 60 seconds per minute, 24 h)', minuteHashes, key + 30 + 60 * (redis ? REDIS_LISTPACK_FIELD_BYTES + 8 : EMBEDDED_MAP_ENTRY_BYTES)),
    part('per-minute series (a hash of 1,440 minutes per day, 7 days)', dayHashes, key + 30 + 1440 * (hashField + 16)),
    // The embedded store keeps the raw text as a string (at most 2 KiB even when two-byte); Redis keeps it as JSON.
    part('failed-message log', settings.failedLogSize, redis ? REDIS_FAILED_MESSAGE_BYTES : FAILED_MESSAGE_BYTES),
    part('system events by command (MAX_EVENT_COMMANDS)', C, hashField + HASH_FIELD_TEXT_BYTES + string(MAX_COMMAND_BYTES)),
    part('lease, position, totals, marks', S, FIXED_BYTES),
    ...(redis ? [] : [part('open 1 s buckets of the writer (at most 500,000 members)', DEFAULT_MAX_OPEN_ENTRIES, EMBEDDED_MAP_ENTRY_BYTES + string(Math.max(w, m), w >= m))])
  ]
  return { parts, total: parts.reduce((sum, p) => sum + p.bytes, 0) }
}

/** The four figures ARCHITECTURE.md gives for `settings`: worst case and the real firehose, in Redis and in the embedded store. */
export function memoryFigures (settings: MemoryBoundSettings): Record<'redisWorst' | 'redisTypical' | 'embeddedWorst' | 'embeddedTypical', MemoryBound> {
  return {
    redisWorst: memoryBound(settings, worstCaseMembers(settings.maxNameBytes), 'redis'),
    redisTypical: memoryBound(settings, TYPICAL_MEMBERS, 'redis', FIREHOSE_ROOM_WINDOWS),
    embeddedWorst: memoryBound(settings, worstCaseMembers(settings.maxNameBytes), 'embedded'),
    embeddedTypical: memoryBound(settings, TYPICAL_MEMBERS, 'embedded', FIREHOSE_ROOM_WINDOWS)
  }
}

const mebibytes = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)
const thousands = (n: number): string => n.toLocaleString('en-US')

/**
 * ARCHITECTURE.md's memory table for `settings` (the defaults there):
 * per structure its entries and bytes per entry in the worst case, and MiB
 * in each of the four figures. test/unit/memory-bound.test.ts checks that
 * the document holds exactly this table, so the two cannot drift.
 */
export function memoryTable (settings: MemoryBoundSettings): string {
  const f = memoryFigures(settings)
  const rows = f.embeddedWorst.parts.map((embedded, i) => {
    const redis = f.redisWorst.parts.find((p) => p.name === embedded.name)
    const redisTypical = f.redisTypical.parts.find((p) => p.name === embedded.name)
    const inRedis = redis === undefined || redisTypical === undefined
      ? ['—', '— (in the worker)', '—']
      : [`${thousands(redis.bytesPerEntry)} B`, mebibytes(redis.bytes), mebibytes(redisTypical.bytes)]
    return `| ${embedded.name} | ${thousands(embedded.entries)} | ${inRedis[0]!} | ${thousands(embedded.bytesPerEntry)} B | ${inRedis[1]!} | ${inRedis[2]!} | ${mebibytes(embedded.bytes)} | ${mebibytes(f.embeddedTypical.parts[i]!.bytes)} |`
  })
  return [
    '| structure | entries (worst) | B/entry Redis (worst) | B/entry embedded (worst) | Redis worst MiB | Redis typical MiB | embedded worst MiB | embedded typical MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    `| **total** | | | | **${mebibytes(f.redisWorst.total)}** | **${mebibytes(f.redisTypical.total)}** | **${mebibytes(f.embeddedWorst.total)}** | **${mebibytes(f.embeddedTypical.total)}** |`
  ].join('\n')
}
