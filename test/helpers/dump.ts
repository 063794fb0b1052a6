import type { Cluster, Redis } from 'ioredis'
import { RedisKeys, ROOM_EVENT_FIELD_PREFIX, ROOM_MESSAGES_FIELD, shardNamespace } from '../../src/store/redis/keys.js'
import type { ExpectedCounts } from '../../src/simulator/index.js'
import type { RoomCategory } from '../../src/store/types.js'

/** Everything the Redis store counted, read back in full (not only top lists) to compare with expected counts. */
export interface CountsDump {
  messages: number
  failed: number
  lastEventId: string | null
  events: Map<string, number>
  words: Map<string, number>
  nicks: Map<string, number>
  rooms: Map<string, number>
  emotes: Map<string, number>
  roomDetail: Map<string, { messages: number, events: Map<string, number>, words: Map<string, number>, nicks: Map<string, number>, emotes: Map<string, number> }>
}

async function zsetAll (redis: Redis | Cluster, key: string): Promise<Map<string, number>> {
  const flat = await redis.zrange(key, 0, -1, 'WITHSCORES')
  const out = new Map<string, number>()
  for (let i = 0; i < flat.length; i += 2) out.set(flat[i]!, Number(flat[i + 1]))
  return out
}

function numbers (hash: Record<string, string>): Map<string, number> {
  return new Map(Object.entries(hash).map(([k, v]) => [k, Number(v)]))
}

/** Reads every count under `namespace`, with the detail of `rooms`. */
export async function dumpRedisCounts (redis: Redis | Cluster, namespace: string, rooms: Iterable<string>): Promise<CountsDump> {
  const keys = new RedisKeys(namespace)
  const totals = await redis.hgetall(keys.totals)
  const position = await redis.get(keys.position)
  const colon = position?.indexOf(':') ?? -1
  const dump: CountsDump = {
    messages: Number(totals.messages ?? 0),
    failed: Number(totals.failed ?? 0),
    lastEventId: position === null || colon === -1 ? null : position.slice(colon + 1),
    events: numbers(await redis.hgetall(keys.events)),
    words: await zsetAll(redis, keys.top('words')),
    nicks: await zsetAll(redis, keys.top('nicks')),
    rooms: await zsetAll(redis, keys.top('rooms')),
    emotes: await zsetAll(redis, keys.top('emotes')),
    roomDetail: new Map()
  }
  for (const room of rooms) {
    const hash = await redis.hgetall(keys.room(room))
    const events = new Map<string, number>()
    for (const [field, value] of Object.entries(hash)) {
      if (field.startsWith(ROOM_EVENT_FIELD_PREFIX)) events.set(field.slice(ROOM_EVENT_FIELD_PREFIX.length), Number(value))
    }
    const lists = {} as Record<RoomCategory, Map<string, number>>
    for (const category of ['words', 'nicks', 'emotes'] as const) lists[category] = await zsetAll(redis, keys.roomTop(room, category))
    dump.roomDetail.set(room, { messages: Number(hash[ROOM_MESSAGES_FIELD] ?? 0), events, ...lists })
  }
  return dump
}

function addMap (into: Map<string, number>, from: Map<string, number>): void {
  for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n)
}

/**
 * The counts of a sharded store: every shard dumped and added up (a member
 * found in two shards would show as a wrong count). lastEventId is the
 * shards' common position, or a text listing them when they differ.
 */
export async function dumpShardedCounts (redis: Redis | Cluster, namespace: string, shards: number, rooms: Iterable<string>): Promise<CountsDump> {
  const roomList = [...rooms]
  const dumps: CountsDump[] = []
  for (let i = 0; i < shards; i++) dumps.push(await dumpRedisCounts(redis, shardNamespace(namespace, i), roomList))
  const total = dumps[0]!
  for (const dump of dumps.slice(1)) {
    total.messages += dump.messages
    total.failed += dump.failed
    for (const name of ['events', 'words', 'nicks', 'rooms', 'emotes'] as const) addMap(total[name], dump[name])
    for (const [room, detail] of dump.roomDetail) {
      const into = total.roomDetail.get(room)!
      into.messages += detail.messages
      for (const name of ['events', 'words', 'nicks', 'emotes'] as const) addMap(into[name], detail[name])
    }
  }
  const positions = new Set(dumps.map((d) => d.lastEventId))
  if (positions.size > 1) total.lastEventId = `shards at ${[...positions].join(', ')}`
  return total
}

function sorted (map: Map<string, number>): Array<[string, number]> {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** The differences between a dump and the simulator's expected counts ([] when exact). */
export function differences (dump: CountsDump, expected: ExpectedCounts, checkRooms = true): string[] {
  const out: string[] = []
  const same = (name: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${name}: got ${JSON.stringify(a)?.slice(0, 300)}, expected ${JSON.stringify(b)?.slice(0, 300)}`)
  }
  const sameMap = (name: string, got: Map<string, number>, want: Map<string, number>): void => {
    const wrong = sorted(want).filter(([k, v]) => got.get(k) !== v).map(([k, v]) => `${k}: ${got.get(k) ?? 0} != ${v}`)
    const extra = sorted(got).filter(([k]) => !want.has(k)).map(([k, v]) => `${k}: ${v} unexpected`)
    if (wrong.length + extra.length > 0) out.push(`${name} (${got.size} vs ${want.size} members): ${[...wrong, ...extra].slice(0, 5).join('; ')}`)
  }
  same('messages', dump.messages, expected.messages)
  same('failed', dump.failed, expected.failed)
  same('lastEventId', dump.lastEventId, expected.lastEventId)
  sameMap('events', dump.events, expected.events)
  sameMap('words', dump.words, expected.words)
  sameMap('nicks', dump.nicks, expected.nicks)
  sameMap('rooms', dump.rooms, expected.rooms)
  sameMap('emotes', dump.emotes, expected.emotes)
  if (checkRooms) {
    for (const [room, want] of expected.roomDetail) {
      const got = dump.roomDetail.get(room)
      if (got === undefined) { out.push(`room ${room} missing`); continue }
      same(`room ${room} messages`, got.messages, want.messages)
      sameMap(`room ${room} events`, got.events, want.events)
      sameMap(`room ${room} words`, got.words, want.words)
      sameMap(`room ${room} nicks`, got.nicks, want.nicks)
      sameMap(`room ${room} emotes`, got.emotes, want.emotes)
    }
  }
  return out
}
