import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { encodeMsgpack as msgpackEncode } from '../src/store/redis/msgpack.js'
import { BatchBuilder } from '../src/worker/batch-builder.js'
import type { Batch, Counts } from '../src/store/types.js'
import { loadStreamBlock } from './stream-block.js'

/**
 * Prototype of the storage-v2 flush (issue 12): writes the same realistic
 * batches (the bench's stream, 5,000 rooms) with several write paths into a
 * private redis-server and prints Redis CPU per message for each
 * (used_cpu_sys + used_cpu_user deltas). Run:
 *   node --import tsx bench/write-path.ts [events] [batchMessages]
 */

const EVENTS = Number(process.argv[2] ?? 200_000)
const BATCH = Number(process.argv[3] ?? 25_000)
const WINDOW_TOP = 1000
const ROOM_WINDOW_TOP = 25
const PORT = 6500 + Math.floor(Math.random() * 400)

function batches (): { batches: Batch[], messages: number } {
  const block = loadStreamBlock('default', 1, 500_000)
  const text = readFileSync(block.path).toString('utf8', 0, block.ends[EVENTS - 1])
  let second = 1_700_000_000
  let count = 0
  const builder = new BatchBuilder(() => second * 1000 + (count % 1000))
  const out: Batch[] = []
  let messages = 0
  for (const event of text.split('\n\n')) {
    let data = ''
    let id = ''
    for (const line of event.split('\n')) {
      if (line.startsWith('se-data: ')) data = line.slice(9)
      else if (line.startsWith('data: ')) data = line.slice(6)
      else if (line.startsWith('id: ')) id = line.slice(4)
    }
    if (data === '') continue
    builder.addEvent(data, id)
    count++
    // 20,000 events per event second, as at 20k msg/s; a batch per BATCH events.
    if (count % 20_000 === 0) second++
    if (count % BATCH === 0) {
      const batch = builder.take(out.length + 1)
      for (const s of batch.slices) messages += s.messages
      out.push(batch)
    }
  }
  return { batches: out, messages }
}

/** What a flush of the new layout writes, computed in the worker. */
interface Flush {
  /** Stream-wide all-time deltas per category. */
  allTime: Array<[string, Counts]>
  /** Per tracked room: hash deltas and per-category deltas. */
  rooms: Array<{ room: string, hash: Counts, lists: Array<[string, Counts]> }>
  /** Compact window values: key -> JSON string. */
  strings: Array<[string, string]>
  /** Per (level, bucket) hash: field = room, value = JSON. */
  roomWindows: Array<[string, Array<[string, string]>]>
}

function add (into: Counts, from: Counts): void {
  for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n)
}

function topJson (counts: Counts, top: number): string {
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
  const err = sorted.length > top ? sorted[top]![1] : 0
  return JSON.stringify([err, sorted.slice(0, top)])
}

function planFlush (batch: Batch): Flush {
  const allTime = new Map<string, Counts>(['words', 'nicks', 'rooms', 'emotes'].map((c) => [c, new Map()]))
  const rooms = new Map<string, { hash: Counts, lists: Map<string, Counts> }>()
  const strings: Array<[string, string]> = []
  const roomWindows: Array<[string, Array<[string, string]>]> = []
  for (const slice of batch.slices) {
    for (const c of ['words', 'nicks', 'rooms', 'emotes'] as const) {
      add(allTime.get(c)!, slice[c])
      strings.push([`p:win:0:${c}:${slice.second}`, topJson(slice[c], WINDOW_TOP)])
    }
    const fields: Array<[string, string]> = []
    for (const [room, d] of slice.roomDetail) {
      let r = rooms.get(room)
      if (r === undefined) {
        r = { hash: new Map(), lists: new Map([['words', new Map()], ['nicks', new Map()], ['emotes', new Map()]]) }
        rooms.set(room, r)
      }
      r.hash.set('m', (r.hash.get('m') ?? 0) + d.messages)
      for (const [e, n] of d.events) r.hash.set(`e:${e}`, (r.hash.get(`e:${e}`) ?? 0) + n)
      for (const c of ['words', 'nicks', 'emotes'] as const) add(r.lists.get(c)!, d[c])
      fields.push([room, JSON.stringify({ m: d.messages, w: topJson(d.words, ROOM_WINDOW_TOP), n: topJson(d.nicks, ROOM_WINDOW_TOP), e: topJson(d.emotes, ROOM_WINDOW_TOP) })])
    }
    roomWindows.push([`p:rwin:0:${slice.second}`, fields])
  }
  return {
    allTime: [...allTime],
    rooms: [...rooms].map(([room, r]) => ({ room, hash: r.hash, lists: [...r.lists] })),
    strings,
    roomWindows
  }
}

const LUA_COMMON = `
local function zincr (key, flat, trim)
  local n = #flat / 2
  if n == 0 then return end
  if n <= 3 then
    for i = 1, #flat, 2 do redis.call('ZINCRBY', key, flat[i + 1], flat[i]) end
  else
    for s = 1, n, 2000 do
      local e = math.min(n, s + 1999)
      local members = {}
      for i = s, e do members[i - s + 1] = flat[2 * i - 1] end
      local scores = redis.call('ZMSCORE', key, unpack(members))
      local args = {}
      for i = s, e do
        local current = scores[i - s + 1]
        local inc = flat[2 * i]
        args[2 * (i - s) + 1] = current and (tonumber(current) + inc) or inc
        args[2 * (i - s) + 2] = flat[2 * i - 1]
      end
      redis.call('ZADD', key, unpack(args))
    end
  end
  if trim > 0 then
    local count = redis.call('ZCARD', key)
    if count > trim then redis.call('ZREMRANGEBYRANK', key, 0, count - trim - 1) end
  end
end
local function hincr (key, flat)
  local n = #flat / 2
  if n == 0 then return end
  if n <= 3 then
    for i = 1, #flat, 2 do redis.call('HINCRBY', key, flat[i], flat[i + 1]) end
    return
  end
  local members = {}
  for i = 1, n do members[i] = flat[2 * i - 1] end
  local values = redis.call('HMGET', key, unpack(members))
  local args = {}
  for i = 1, n do
    local current = values[i]
    args[2 * i - 1] = flat[2 * i - 1]
    args[2 * i] = current and (tonumber(current) + flat[2 * i]) or flat[2 * i]
  end
  redis.call('HSET', key, unpack(args))
end
local function apply (d, roomLists)
  for _, g in ipairs(d[1]) do zincr(g[1], g[2], 100000) end
  for _, r in ipairs(d[2]) do
    hincr(r[1], r[2])
    for j = 3, #r, 2 do
      if roomLists == 'z' then zincr(r[j], r[j + 1], 1000) else hincr(r[j], r[j + 1]) end
    end
  end
  for _, s in ipairs(d[3]) do redis.call('SET', s[1], s[2], 'EX', 3600) end
  for _, h in ipairs(d[4]) do
    redis.call('HSET', h[1], unpack(h[2]))
    redis.call('EXPIRE', h[1], 3600)
  end
  return 1
end
`

function flatCounts (counts: Counts): Array<string | number> {
  const out: Array<string | number> = []
  for (const [k, n] of counts) out.push(k, n)
  return out
}

function packed (flush: Flush, prefix: string): Buffer {
  return msgpackEncode([
    flush.allTime.map(([c, counts]) => [`${prefix}top:${c}`, flatCounts(counts)]),
    flush.rooms.map((r) => [`${prefix}room:${r.room}`, flatCounts(r.hash), ...r.lists.flatMap(([c, counts]) => [`${prefix}rtop:${c}:${r.room}`, flatCounts(counts)])]),
    flush.strings,
    flush.roomWindows.map(([key, fields]) => [key, fields.flat()])
  ])
}

function jsonPacked (flush: Flush, prefix: string): string {
  return JSON.stringify([
    flush.allTime.map(([c, counts]) => [`${prefix}top:${c}`, flatCounts(counts)]),
    flush.rooms.map((r) => [`${prefix}room:${r.room}`, flatCounts(r.hash), ...r.lists.flatMap(([c, counts]) => [`${prefix}rtop:${c}:${r.room}`, flatCounts(counts)])]),
    flush.strings,
    flush.roomWindows.map(([key, fields]) => [key, fields.flat()])
  ])
}

async function cpu (redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const user = Number(/used_cpu_user:([\d.]+)/.exec(info)![1])
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(info)![1])
  return user + sys
}

type Writer = (redis: Redis, flush: Flush, prefix: string) => Promise<void>

const variants: Record<string, (redis: Redis) => Promise<Writer>> = {
  'lua+msgpack, room lists zsets': async (redis) => {
    const sha = await redis.script('LOAD', `${LUA_COMMON}\nreturn apply(cmsgpack.unpack(ARGV[1]), 'z')`) as string
    return async (r, flush, prefix) => { await r.evalsha(sha, 0, packed(flush, prefix)) }
  },
  'lua+msgpack, room lists hashes': async (redis) => {
    const sha = await redis.script('LOAD', `${LUA_COMMON}\nreturn apply(cmsgpack.unpack(ARGV[1]), 'h')`) as string
    return async (r, flush, prefix) => { await r.evalsha(sha, 0, packed(flush, prefix)) }
  },
  'lua+cjson, room lists zsets': async (redis) => {
    const sha = await redis.script('LOAD', `${LUA_COMMON}\nreturn apply(cjson.decode(ARGV[1]), 'z')`) as string
    return async (r, flush, prefix) => { await r.evalsha(sha, 0, jsonPacked(flush, prefix)) }
  },
  'function+msgpack, room lists zsets': async (redis) => {
    const lib = `#!lua name=protowrite\n${LUA_COMMON}\nredis.register_function('protowrite', function (keys, args) return apply(cmsgpack.unpack(args[1]), 'z') end)`
    await redis.call('FUNCTION', 'LOAD', 'REPLACE', lib)
    return async (r, flush, prefix) => { await r.call('FCALL', 'protowrite', '0', packed(flush, prefix)) }
  },
  'MULTI/EXEC of ZINCRBY/HINCRBY/SET/HSET': async () => async (r, flush, prefix) => {
    const m = r.multi()
    for (const [c, counts] of flush.allTime) for (const [k, n] of counts) m.zincrby(`${prefix}top:${c}`, n, k)
    for (const room of flush.rooms) {
      for (const [k, n] of room.hash) m.hincrby(`${prefix}room:${room.room}`, k, n)
      for (const [c, counts] of room.lists) for (const [k, n] of counts) m.zincrby(`${prefix}rtop:${c}:${room.room}`, n, k)
    }
    for (const [key, value] of flush.strings) m.set(key, value, 'EX', 3600)
    for (const [key, fields] of flush.roomWindows) {
      if (fields.length > 0) m.hset(key, ...fields.flat())
      m.expire(key, 3600)
    }
    await m.exec()
  }
}

async function main (): Promise<void> {
  const server = spawn('redis-server', ['--port', String(PORT), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' })
  const redis = new Redis({ port: PORT, lazyConnect: true })
  try {
    for (let i = 0; i < 50; i++) {
      try {
        await redis.connect()
        break
      } catch { await new Promise((resolve) => setTimeout(resolve, 100)) }
    }
    const t0 = performance.now()
    const { batches: list, messages } = batches()
    const flushes = list.map(planFlush)
    const t1 = performance.now()
    const stats = flushes.map((f) => ({
      allTime: f.allTime.reduce((n, [, c]) => n + c.size, 0),
      roomPairs: f.rooms.reduce((n, r) => n + r.hash.size + r.lists.reduce((m, [, c]) => m + c.size, 0), 0),
      rooms: f.rooms.length,
      bytes: packed(f, 'p:').length
    }))
    const sum = (k: keyof typeof stats[number]): number => stats.reduce((n, s) => n + s[k], 0)
    console.log(`${list.length} batches, ${messages} messages (${(t1 - t0).toFixed(0)} ms to build); per batch: ${(sum('allTime') / list.length).toFixed(0)} all-time members, ${(sum('rooms') / list.length).toFixed(0)} rooms, ${(sum('roomPairs') / list.length).toFixed(0)} room member updates, ${(sum('bytes') / list.length / 1024).toFixed(0)} KiB msgpack`)
    for (const [name, make] of Object.entries(variants)) {
      for (const round of [1, 2]) {
        await redis.flushdb() // a private server started above: nothing else lives in it
        const write = await make(redis)
        const before = await cpu(redis)
        const start = performance.now()
        for (const flush of flushes) await write(redis, flush, 'p:')
        const wall = performance.now() - start
        const used = (await cpu(redis)) - before
        console.log(`${name.padEnd(40)} round ${round}: Redis CPU ${(used * 1e6 / messages).toFixed(2)} µs/msg, wall ${(wall * 1000 / messages).toFixed(2)} µs/msg, used_memory ${(Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]) / 2 ** 20).toFixed(0)} MiB`)
      }
    }
  } finally {
    redis.disconnect()
    server.kill()
  }
}

await main()
