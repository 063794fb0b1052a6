import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { DEFAULT_MAX_EVENT_COMMANDS, MAX_COMMAND_BYTES } from '../src/model/event-commands.js'
import { DEFAULT_MAX_NAME_BYTES } from '../src/model/names.js'
import { type MemoryBound, memoryBound, type MemoryBoundSettings, WORST_CASE_WORD_BYTES, worstCaseMembers } from '../src/store/memory-bound.js'
import { createRedisClient, RedisStore } from '../src/store/redis/redis-store.js'
import type { Batch, CountSlice, FailedMessage, RoomSlice } from '../src/store/types.js'
import { bucketAt, bucketEnd, LEVELS } from '../src/store/windows/levels.js'
import { MINUTE_SERIES_RETENTION_SECONDS, SECOND_SERIES_RETENTION_SECONDS } from '../src/store/windows.js'
import { lazyFreeDone } from './day.js'
import { type BenchRedis, deleteNamespace, parseInfo } from './redis.js'
import { formatNumber, mib } from './report.js'

/**
 * The worst case of ARCHITECTURE.md ("Memory bounds") filled in a live
 * Redis: batches built to drive every structure the formula counts to its
 * bound (src/store/memory-bound.ts, worstCaseMembers: words of 64 four-byte
 * characters, nicks, rooms and emotes of MAX_NAME_BYTES, every list past its
 * bound, every tracked room with every command in every window bucket),
 * applied through RedisStore.applyBatch (the worker's write path below the
 * stream), then Redis `used_memory` and each structure's MEMORY USAGE beside
 * the formula's parts for the same settings.
 *
 * The store runs on the real clock (window expiries are EX relative to it),
 * so the fill follows real time:
 *  1. the past week, a slice per minute (per-minute series), carrying the
 *     all-time members (more than each bound: the lists are trimmed) in the
 *     minutes older than any window;
 *  2. every second of the last 24 h 2 min (per-second series), messages only;
 *  3. one full slice (WINDOW_TOP + 1 members per stream-wide list, every
 *     tracked room with ROOM_WINDOW_TOP + 1 words, nicks and emotes and every
 *     command) in each window bucket of the 5 s, 15 s, 1 min and 24 min levels
 *     that is live and built (written late: merged into the stored values);
 *  4. a full slice every second for `liveSeconds` of real time (the 1 s level;
 *     the coarser buckets of those seconds are built as their ends pass).
 * Then the memory is read at once, before the 1 s buckets begin to expire.
 */

export interface WorstCaseOptions {
  settings: MemoryBoundSettings
  /** Seconds of real time the 1 s level is filled for (its buckets live 62 s). */
  liveSeconds: number
  redis: BenchRedis
  namespace: string
  log: (line?: string) => void
}

/** A name of exactly `bytes` ASCII bytes: `prefix` then `id` in base 36, padded. */
export function asciiName (prefix: string, id: number, bytes: number): string {
  const tail = id.toString(36)
  return prefix + 'x'.repeat(bytes - prefix.length - tail.length) + tail
}

/** A word of 64 code points past U+FFFF (4 bytes each in UTF-8: WORST_CASE_WORD_BYTES): `id` in base 1024 in the first three, then U+1F600s. */
export function worstWord (id: number): string {
  const digits = [Math.floor(id / 1024 ** 2) % 1024, Math.floor(id / 1024) % 1024, id % 1024]
  const head = digits.map((d) => String.fromCodePoint(0x10000 + d)).join('')
  return head + String.fromCodePoint(0x1f600).repeat(WORST_CASE_WORD_BYTES / 4 - 3)
}

interface Names {
  word: (id: number) => string
  nick: (id: number) => string
  emote: (id: number) => string
  /** Rooms of the stream-wide list: `#` and MAX_NAME_BYTES - 1 more bytes. */
  room: (id: number) => string
  /** The rooms that keep a drill-down (the most messages). */
  heavyRoom: (id: number) => string
  commands: string[]
}

function names (maxNameBytes: number, commands: number): Names {
  return {
    word: worstWord,
    nick: (id) => asciiName('n', id, maxNameBytes),
    emote: (id) => asciiName('E', id, maxNameBytes),
    room: (id) => asciiName('#r', id, maxNameBytes),
    heavyRoom: (id) => asciiName('#h', id, maxNameBytes),
    commands: Array.from({ length: commands }, (_, i) => asciiName('CMD', i, MAX_COMMAND_BYTES).toUpperCase())
  }
}

function emptySlice (second: number, messages: number): CountSlice {
  return { second, messages, words: new Map(), nicks: new Map(), rooms: new Map(), emotes: new Map(), events: new Map(), roomDetail: new Map() }
}

function emptyRoom (messages: number): RoomSlice {
  return { messages, words: new Map(), nicks: new Map(), emotes: new Map(), events: new Map() }
}

/** Counts of ten digits: the longest a window value's entry holds (COMPACT_ENTRY_BYTES). */
const BIG = 1_000_000_000
/** Messages of each second in the series: past 2^32, so every series field is a 64-bit integer. */
const SERIES_MESSAGES = 5_000_000_000

/** Spreads `count` members named by `name` over `slices` (ids from `from`), each with a count. */
function spreadMembers (slices: Array<Map<string, number>>, count: number, name: (id: number) => string, from = 0): void {
  for (let i = 0; i < count; i++) slices[i % slices.length]!.set(name(from + i), 1 + (i % 1000))
}

/** What the formula counts, as key patterns in Redis (MEMORY USAGE summed per group) and the formula's parts they hold. */
const GROUPS: Array<{ label: string, parts: string[], keys: RegExp, countKeys?: true }> = [
  { label: 'all-time words', parts: ['all-time list: words'], keys: /^top:words$/ },
  { label: 'all-time nicks, emotes', parts: ['all-time lists: nicks, emotes'], keys: /^top:(nicks|emotes)$/ },
  { label: 'all-time rooms', parts: ['all-time list: rooms'], keys: /^top:rooms$/ },
  { label: 'tracked rooms', parts: ['tracked rooms'], keys: /^tracked$/ },
  { label: 'per-room totals', parts: ['per-room all-time totals'], keys: /^room:/, countKeys: true },
  { label: 'per-room all-time lists', parts: ['per-room all-time word lists', 'per-room all-time nick and emote lists', 'per-room all-time list keys'], keys: /^rtop:/ },
  { label: 'stream-wide windows: words', parts: ['stream-wide window buckets: words'], keys: /^win:\d+:words:/ },
  { label: 'stream-wide windows: nicks, emotes, rooms', parts: ['stream-wide window buckets: nicks'], keys: /^win:\d+:(nicks|emotes|rooms):/ },
  { label: 'per-room windows', parts: ['per-room window buckets'], keys: /^rwin:/ },
  { label: 'per-second series', parts: ['per-second series'], keys: /^sec:/, countKeys: true },
  { label: 'per-minute series', parts: ['per-minute series'], keys: /^min:/, countKeys: true },
  { label: 'failed-message log', parts: ['failed-message log'], keys: /^failed$/ },
  { label: 'events by command', parts: ['system events by command'], keys: /^events$/ },
  { label: 'lease, position, totals, marks', parts: ['lease, position, totals, marks'], keys: /^(lease|position|totals|windows|shards)$/, countKeys: true }
]

interface KeyCensus {
  /** MEMORY USAGE summed per group label. */
  bytes: Map<string, number>
  keys: Map<string, number>
  /** Entries: members of sorted sets, fields of hashes, elements of lists, window keys. */
  entries: Map<string, number>
  /** Live window keys per level: stream-wide words strings and room hashes. */
  windowKeysByLevel: number[]
  roomWindowKeysByLevel: number[]
  unmatched: string[]
}

async function census (admin: Redis, namespace: string): Promise<KeyCensus> {
  const bytes = new Map<string, number>()
  const keys = new Map<string, number>()
  const entries = new Map<string, number>()
  const windowKeysByLevel = LEVELS.map(() => 0)
  const roomWindowKeysByLevel = LEVELS.map(() => 0)
  const unmatched: string[] = []
  let cursor = '0'
  const all: string[] = []
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${namespace}*`, 'COUNT', 5000)
    all.push(...batch)
    cursor = next
  } while (cursor !== '0')
  for (const key of all) {
    const name = key.slice(namespace.length)
    const group = GROUPS.find((g) => g.keys.test(name))
    if (group === undefined) {
      unmatched.push(name)
      continue
    }
    const [usage, type] = await Promise.all([admin.memory('USAGE', key, 'SAMPLES', 0), admin.type(key)])
    if (usage === null) continue
    bytes.set(group.label, (bytes.get(group.label) ?? 0) + Number(usage))
    keys.set(group.label, (keys.get(group.label) ?? 0) + 1)
    const size = group.countKeys === true ? 1 : type === 'zset' ? await admin.zcard(key) : type === 'hash' ? await admin.hlen(key) : type === 'list' ? await admin.llen(key) : 1
    entries.set(group.label, (entries.get(group.label) ?? 0) + size)
    const window = /^(r?)win:(\d+):/.exec(name)
    if (window !== null) {
      const level = Number(window[2])
      if (window[1] === 'r') roomWindowKeysByLevel[level]!++
      else if (name.includes(':words:')) windowKeysByLevel[level]!++
    }
  }
  return { bytes, keys, entries, windowKeysByLevel, roomWindowKeysByLevel, unmatched }
}

async function memoryInfo (admin: Redis): Promise<Map<string, string>> {
  return parseInfo(await admin.info('memory'))
}

/** Runs the fill and prints the comparison; returns the figures for --json. */
export async function runWorstCase (options: WorstCaseOptions): Promise<unknown> {
  const { settings, log, redis, namespace } = options
  const C = settings.maxEventCommands ?? DEFAULT_MAX_EVENT_COMMANDS
  const maxNameBytes = settings.maxNameBytes ?? DEFAULT_MAX_NAME_BYTES
  const n = names(maxNameBytes, C)
  const W = settings.maxTrackedWords
  const T = settings.maxTrackedRooms
  const P = settings.maxTrackedPerRoom
  const K = settings.windowTop
  const Kr = settings.roomWindowTop
  const bound = memoryBound(settings, worstCaseMembers(maxNameBytes), 'redis')
  log(`== worst-case: every structure of the memory formula filled to its bound in a live Redis through RedisStore.applyBatch (${redis.description})`)
  log(`  settings: MAX_TRACKED_WORDS ${formatNumber(W)}, MAX_TRACKED_ROOMS ${formatNumber(T)}, MAX_TRACKED_PER_ROOM ${formatNumber(P)}, WINDOW_TOP ${formatNumber(K)}, ROOM_WINDOW_TOP ${formatNumber(Kr)}, MAX_NAME_BYTES ${maxNameBytes}, MAX_EVENT_COMMANDS ${C}, failed log ${formatNumber(settings.failedLogSize)}; words of ${WORST_CASE_WORD_BYTES} bytes`)
  log(`  formula (src/store/memory-bound.ts, redis, worst case): ${mib(bound.total)}`)

  const client = createRedisClient({ url: redis.url, commandTimeoutMs: 600_000 })
  const store = new RedisStore({ redis: client, namespace, maxTrackedWords: W, maxTrackedPerRoom: P, maxTrackedRooms: T, windowTop: K, roomWindowTop: Kr, maxFailedLog: settings.failedLogSize })
  const started = performance.now()
  let sequence = 0
  let slicesWritten = 0
  const apply = async (slices: CountSlice[], failedLog: FailedMessage[] = []): Promise<void> => {
    const batch: Batch = { sequence: ++sequence, slices, failedCount: failedLog.length, failedLog }
    const result = await store.applyBatch(batch)
    if (result !== 'applied') throw new Error(`batch ${sequence} was not applied (${result})`)
    slicesWritten += slices.length
  }
  const elapsed = (): string => `${formatNumber((performance.now() - started) / 1000, 1)} s`
  try {
    await store.open()
    // Before: the server with the scripts loaded and the store's client connected, and what earlier parts UNLINKed freed.
    await lazyFreeDone([redis.url])
    await sleep(1000)
    const before = await memoryInfo(redis.admin)
    const usedBefore = Number(before.get('used_memory'))
    log(`  used_memory before: ${formatNumber(usedBefore)} B (${mib(usedBefore)})`)

    // 1. The past week, a slice per minute; the minutes older than every window carry the all-time members.
    const nowSecond = Math.floor(Date.now() / 1000)
    const today = Math.floor(nowSecond / 86400)
    const firstMinute = (today - Math.ceil(MINUTE_SERIES_RETENTION_SECONDS / 86400)) * 1440
    const secondsFrom = nowSecond - SECOND_SERIES_RETENTION_SECONDS - 60
    const windowsFrom = nowSecond - 86400 - 4 * 1440
    const minuteSlices: CountSlice[] = []
    for (let minute = firstMinute; minute * 60 < secondsFrom; minute++) minuteSlices.push(emptySlice(minute * 60, SERIES_MESSAGES))
    const carriers = minuteSlices.filter((s) => s.second < windowsFrom)
    // More than each bound, so every list is trimmed to it.
    const over = (limit: number): number => limit + Math.ceil(limit / 10) + 1
    spreadMembers(carriers.map((s) => s.words), over(W), n.word)
    spreadMembers(carriers.map((s) => s.nicks), over(W), n.nick)
    spreadMembers(carriers.map((s) => s.emotes), over(W), n.emote)
    spreadMembers(carriers.map((s) => s.rooms), over(W), n.room)
    // One message each (the store only reads a slice's detail), in the detail as the worker sends every room.
    const light = emptyRoom(1)
    for (const slice of carriers) for (const room of slice.rooms.keys()) slice.roomDetail.set(room, light)
    // The heavy rooms: by far the most messages, so they are the tracked ones from the first batch on.
    // Their members go in the first few carriers (a RoomSlice per room and carrier would not fit in the bench's heap).
    const heavyCarriers = carriers.slice(0, 20)
    for (let r = 0; r < T; r++) {
      const room = n.heavyRoom(r)
      const details = heavyCarriers.map(() => emptyRoom(BIG))
      spreadMembers(details.map((d) => d.words), over(P), n.word, 100_000_000 + r * 10_000)
      spreadMembers(details.map((d) => d.nicks), over(P), n.nick, 100_000_000 + r * 10_000)
      spreadMembers(details.map((d) => d.emotes), over(P), n.emote, 100_000_000 + r * 10_000)
      for (const [i, slice] of heavyCarriers.entries()) {
        const detail = details[i]!
        if (i === 0) for (const command of n.commands) detail.events.set(command, BIG)
        slice.roomDetail.set(room, detail)
        slice.rooms.set(room, BIG)
      }
    }
    for (const command of n.commands) carriers[0]!.events.set(command, BIG)
    // The failed log: raw text at its 2 KiB cut made of control characters (JSON writes each as \u00XX: six bytes).
    const failedLog: FailedMessage[] = Array.from({ length: settings.failedLogSize }, (_, i) => ({
      raw: '\u0001'.repeat(2048),
      reason: `line is not an SSE field (worst-case fill ${i})`,
      at: Date.now()
    }))
    const minuteBatch = 60
    for (let i = 0; i < minuteSlices.length; i += minuteBatch) await apply(minuteSlices.slice(i, i + minuteBatch), i === 0 ? failedLog : [])
    log(`  1. ${formatNumber(minuteSlices.length)} minute slices over the past week (per-minute series; all-time lists, tracked rooms, their lists and totals, events, failed log): ${elapsed()}`)

    // 2. Every second of the last 24 h 2 min, messages only (per-second series).
    const secondsTo = Math.floor(Date.now() / 1000) - 120
    for (let second = secondsFrom; second <= secondsTo; second += 3600) {
      const slices: CountSlice[] = []
      for (let s = second; s < Math.min(second + 3600, secondsTo + 1); s++) slices.push(emptySlice(s, SERIES_MESSAGES))
      await apply(slices)
    }
    log(`  2. ${formatNumber(secondsTo - secondsFrom + 1)} second slices over the last 24 h 2 min (per-second series): ${elapsed()}`)

    // A full slice: more than each list's bound in every stream-wide list and in every tracked room, every command in every room.
    const fullSlice = (second: number): CountSlice => {
      const slice = emptySlice(second, SERIES_MESSAGES)
      for (let i = 0; i <= K; i++) {
        slice.words.set(n.word(i), BIG + i)
        slice.nicks.set(n.nick(i), BIG + i)
        slice.emotes.set(n.emote(i), BIG + i)
        slice.rooms.set(n.room(i), BIG + i)
        slice.roomDetail.set(n.room(i), emptyRoom(BIG + i))
      }
      for (let r = 0; r < T; r++) {
        const detail = emptyRoom(BIG + r)
        for (let j = 0; j <= Kr; j++) {
          const id = 100_000_000 + r * 10_000 + j
          detail.words.set(n.word(id), BIG + j)
          detail.nicks.set(n.nick(id), BIG + j)
          detail.emotes.set(n.emote(id), BIG + j)
        }
        for (const command of n.commands) detail.events.set(command, BIG)
        slice.roomDetail.set(n.heavyRoom(r), detail)
        slice.rooms.set(n.heavyRoom(r), BIG + r)
      }
      return slice
    }

    // 3. A full slice in each live, built bucket of the coarser levels (written late), finest level first, until none is left.
    const covered = LEVELS.map(() => new Set<number>())
    const cover = (second: number): void => { for (const l of LEVELS) covered[l.index]!.add(bucketAt(l.index, second)) }
    let late = 0
    for (let pass = 0; pass < 4; pass++) {
      const now = Math.floor(Date.now() / 1000)
      const seconds: number[] = []
      for (const l of LEVELS) {
        if (l.index === 0) continue
        const current = bucketAt(l.index, now)
        // Built (its end below the writer's floor, about 10 s behind the clock) and not expired (61 buckets back).
        for (let b = current - 61; b < current; b++) {
          const end = bucketEnd(l.index, b)
          if (covered[l.index]!.has(b) || end >= now - 12) continue
          seconds.push(end)
          cover(end)
        }
      }
      if (seconds.length === 0) break
      seconds.sort((a, b) => a - b)
      for (const second of seconds) await apply([fullSlice(second)])
      late += seconds.length
    }
    log(`  3. ${formatNumber(late)} full slices written late into the live buckets of the 5 s, 15 s, 1 min and 24 min levels: ${elapsed()}`)

    // 4. The 1 s level: a full slice for every second, as they come, for liveSeconds.
    const liveFrom = Math.floor(Date.now() / 1000)
    // From the seconds just behind the writer's floor: the 5 s buckets the late pass left (ends within 12 s of its clock).
    let last = liveFrom - 12
    let behind = 0
    while (last < liveFrom + options.liveSeconds - 1) {
      const now = Math.floor(Date.now() / 1000)
      if (now <= last) {
        await sleep(1000 - (Date.now() % 1000) + 5)
        continue
      }
      const slices: CountSlice[] = []
      for (let s = last + 1; s <= now; s++) slices.push(fullSlice(s))
      if (slices.length > 1) behind++
      await apply(slices)
      last = now
    }
    log(`  4. a full slice every second for ${options.liveSeconds} s (1 s level; ${behind} writes took more than a second and carried several): ${elapsed()}; ${formatNumber(slicesWritten)} slices in ${formatNumber(sequence)} batches`)

    const after = await memoryInfo(redis.admin)
    const usedAfter = Number(after.get('used_memory'))
    const measuredAt = Date.now()
    const keys = await census(redis.admin, namespace)
    log(`  used_memory after: ${formatNumber(usedAfter)} B (${mib(usedAfter)}); over before: ${mib(usedAfter - usedBefore)}; used_memory_dataset ${mib(Number(after.get('used_memory_dataset')))}, overhead ${mib(Number(after.get('used_memory_overhead')))} (clients ${mib(Number(after.get('mem_clients_normal')))}), Lua ${mib(Number(after.get('used_memory_lua') ?? after.get('used_memory_vm_eval')))}, rss ${mib(Number(after.get('used_memory_rss')))}, peak ${mib(Number(after.get('used_memory_peak')))}; census ${formatNumber((Date.now() - measuredAt) / 1000, 1)} s`)
    const rows = compare(bound, keys, log)
    const measured = usedAfter - usedBefore
    log(`  live window keys per level (1 s, 5 s, 15 s, 1 min, 24 min): stream-wide words ${keys.windowKeysByLevel.join(' / ')}, room hashes ${keys.roomWindowKeysByLevel.join(' / ')} (the formula counts 63 per level)`)
    if (keys.unmatched.length > 0) log(`  keys the formula has no part for: ${keys.unmatched.slice(0, 10).join(', ')}`)
    log(`  total: used_memory over before ${mib(measured)}, formula ${mib(bound.total)}: ratio measured/formula ${formatNumber(measured / bound.total, 3)}${measured <= bound.total ? '' : ' (OVER the formula)'}`)
    log()
    return { settings, liveSeconds: options.liveSeconds, usedBefore, usedAfter, measured, formula: bound, ratio: measured / bound.total, groups: rows, windowKeysByLevel: keys.windowKeysByLevel, roomWindowKeysByLevel: keys.roomWindowKeysByLevel, info: Object.fromEntries(after) }
  } finally {
    await store.close()
    await deleteNamespace(redis.admin, namespace)
  }
}

function compare (bound: MemoryBound, keys: KeyCensus, log: (line?: string) => void): unknown[] {
  const rows: unknown[] = []
  log(`  ${'structure'.padEnd(42)} ${'formula entries'.padStart(16)} ${'entries'.padStart(12)} ${'formula'.padStart(12)} ${'MEMORY USAGE'.padStart(13)}  ratio`)
  for (const group of GROUPS) {
    const parts = bound.parts.filter((p) => group.parts.some((prefix) => p.name.startsWith(prefix)))
    const formula = parts.reduce((sum, p) => sum + p.bytes, 0)
    // The per-room list keys' line counts keys, not entries.
    // Entries as the formula counts them: members or fields, or keys where its entry is a key.
    const formulaEntries = parts.filter((p) => !p.name.startsWith('per-room all-time list keys')).reduce((sum, p) => sum + p.entries, 0)
    const measured = keys.bytes.get(group.label) ?? 0
    const entries = keys.entries.get(group.label) ?? 0
    rows.push({ structure: group.label, formulaEntries, entries, keys: keys.keys.get(group.label) ?? 0, formula, measured })
    log(`  ${group.label.padEnd(42)} ${formatNumber(formulaEntries).padStart(16)} ${formatNumber(entries).padStart(12)} ${mib(formula).padStart(12)} ${mib(measured).padStart(13)}  ${formula === 0 ? 'n/a' : formatNumber(measured / formula, 3)}`)
  }
  const formula = bound.total
  const measured = [...keys.bytes.values()].reduce((sum, b) => sum + b, 0)
  log(`  ${'sum of MEMORY USAGE'.padEnd(42)} ${''.padStart(16)} ${''.padStart(12)} ${mib(formula).padStart(12)} ${mib(measured).padStart(13)}  ${formatNumber(measured / formula, 3)}`)
  return rows
}
