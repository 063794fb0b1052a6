import { createHash, randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { CATEGORIES, ROOM_CATEGORIES, type Category, type Counts, type FailedMessage, type RoomCategory } from '../types.js'
import { WINDOW_SPECS } from '../windows.js'
import { levelOf, LEVELS } from '../windows/levels.js'
import { emptyRoomCounts, type RoomCounts, roomValueOf } from '../windows/room-value.js'
import { flattenRoomValue, flattenTrimmed, unflattenRoomValue, unflattenTrimmed } from '../windows/serialise.js'
import { trimCounts } from '../windows/trimmed-list.js'
import { SnapshotCorruptError, SnapshotUnreadableError, SnapshotWriteError } from './errors.js'
import { type BucketValues, emptyBucketValues, emptyRoom, emptyState, type StoreState } from './state.js'

/*
 * Snapshot file, version 2 (storage v2, issue 12). One JSON document laid
 * out one record per line, so it is written and read as a stream (a million
 * words never become one string) and a cut-off file is detected:
 *
 *   {"format":"chat-stats-memory-snapshot","version":2,"savedAt":<ms>,"records":[
 *   ["meta",{sequence,lastEventId,totalMessages,failedMessages,events,startedAt,lastMessageAt,windowLife}],
 *   ["failed",[{raw,reason,at},...]],                 oldest first, in chunks
 *   ["series","1s"|"1m",[epochSecondOrMinute,messages,...]],
 *   ["top",category,[value,count,value,count,...]],  in chunks of CHUNK_ENTRIES
 *   ["room",room,{messages,events}],                 a tracked room, before its lists
 *   ["roomTop",room,"words"|"nicks"|"emotes",[value,count,...]],
 *   ["bucket",level,bucketIndex,category,[err,value,count,...]],        a trimmed list (serialise.ts)
 *   ["roomBucket",level,bucketIndex,room,[messages,{events},words,nicks,emotes]],
 *   ["end",{"records":<record lines above>,"sha256":<hex of every byte before this line>}]
 *   ]}
 *
 * Every record line but the end line ends with a comma. Lists are flat
 * [key, count, key, count, ...] arrays (a million pairs would otherwise be a
 * million small arrays to allocate on load); counts are positive integers and
 * a key appears once per list. `windowLife` is BucketLife's state (null for
 * a store that never wrote a window).
 *
 * Version 1 (before storage v2: exact counts per window bucket, every room
 * with detail) is migrated on load: each bucket's counts are trimmed to the
 * store's WINDOW_TOP / ROOM_WINDOW_TOP, every bucket up to the save is taken
 * as built, and the store keeps the MAX_TRACKED_ROOMS most active rooms.
 * The next snapshot is written as version 2.
 */

export const SNAPSHOT_FORMAT = 'chat-stats-memory-snapshot'
export const SNAPSHOT_VERSION = 2
/** Versions this build reads (1 is migrated). */
const READABLE_VERSIONS = [1, 2]
/** List entries per record line. */
const CHUNK_ENTRIES = 10_000
const FAILED_PER_RECORD = 200
/** Bytes gathered before a write (and a turn of the event loop). */
const WRITE_CHUNK_CHARS = 1 << 20

/** The file operations a snapshot write needs (node:fs/promises by default; tests inject faults). */
export interface SnapshotFileHandle {
  write: (data: string) => Promise<unknown>
  sync: () => Promise<void>
  close: () => Promise<void>
}
export interface SnapshotFileSystem {
  mkdir: (path: string, options: { recursive: true }) => Promise<unknown>
  open: (path: string, flags: string) => Promise<SnapshotFileHandle>
  rename: (from: string, to: string) => Promise<void>
  unlink: (path: string) => Promise<void>
}

export const nodeFileSystem: SnapshotFileSystem = {
  mkdir: (path, options) => fsp.mkdir(path, options),
  open: (path, flags) => fsp.open(path, flags),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path)
}

export interface SnapshotWriteResult {
  bytes: number
  records: number
  /** Milliseconds spent producing the text (while writes to the store wait). */
  serializeMs: number
  /** Milliseconds for the whole write, fsync and rename included. */
  totalMs: number
}

function * chunks<T> (items: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = []
  for (const item of items) {
    chunk.push(item)
    if (chunk.length === size) {
      yield chunk
      chunk = []
    }
  }
  if (chunk.length > 0) yield chunk
}

/** A count map as flat [key, count, ...] arrays of at most `size` pairs. */
function * flatChunks<K> (counts: ReadonlyMap<K, number>, size = CHUNK_ENTRIES): Generator<Array<K | number>> {
  let chunk: Array<K | number> = []
  for (const [key, n] of counts) {
    chunk.push(key, n)
    if (chunk.length === 2 * size) {
      yield chunk
      chunk = []
    }
  }
  if (chunk.length > 0) yield chunk
}

function eventsObject (events: Counts): Record<string, number> {
  return Object.fromEntries(events)
}

/** The record lines of a state, lazily: the state must not change until the generator is done. */
function * snapshotRecords (state: StoreState): Generator<string> {
  yield JSON.stringify(['meta', {
    sequence: state.sequence,
    lastEventId: state.lastEventId,
    totalMessages: state.totalMessages,
    failedMessages: state.failedMessages,
    events: eventsObject(state.events),
    startedAt: state.startedAt,
    lastMessageAt: state.lastMessageAt,
    windowLife: state.windowLife
  }])
  for (const chunk of chunks(state.failedLog, FAILED_PER_RECORD)) {
    yield JSON.stringify(['failed', chunk.map(({ raw, reason, at }) => ({ raw, reason, at }))])
  }
  for (const chunk of flatChunks(state.seconds)) yield JSON.stringify(['series', '1s', chunk])
  for (const chunk of flatChunks(state.minutes)) yield JSON.stringify(['series', '1m', chunk])
  for (const category of CATEGORIES) {
    for (const chunk of flatChunks(state.top[category].counts)) yield JSON.stringify(['top', category, chunk])
  }
  for (const [name, room] of state.rooms) {
    yield JSON.stringify(['room', name, { messages: room.messages, events: eventsObject(room.events) }])
    for (const category of ROOM_CATEGORIES) {
      for (const chunk of flatChunks(room[category].counts)) yield JSON.stringify(['roomTop', name, category, chunk])
    }
  }
  for (const [level, buckets] of state.levels.entries()) {
    for (const [index, values] of buckets) {
      for (const category of CATEGORIES) {
        const list = values.lists[category]
        if (list !== undefined) yield JSON.stringify(['bucket', level, index, category, flattenTrimmed(list)])
      }
      for (const [name, room] of values.rooms) yield JSON.stringify(['roomBucket', level, index, name, flattenRoomValue(room)])
    }
  }
}

async function syncDirectory (fs: SnapshotFileSystem, directory: string): Promise<void> {
  // Makes the rename itself durable; not every platform can open a directory.
  let handle: SnapshotFileHandle | null = null
  try {
    handle = await fs.open(directory, 'r')
    await handle.sync()
  } catch {
    // EISDIR/EPERM/EINVAL on platforms without directory fsync: the rename is still atomic.
  } finally {
    await handle?.close().catch(() => {})
  }
}

/** Temp files of a write cut short (a process killed mid-write) are removed once this old. */
const STALE_TEMP_MS = 10 * 60_000

/** Best effort: removes temp files of `target` left by writes that never finished. */
async function removeStaleTemps (directory: string, target: string): Promise<void> {
  try {
    const prefix = `.${target}.`
    for (const name of await fsp.readdir(directory)) {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue
      const file = join(directory, name)
      const { mtimeMs } = await fsp.stat(file)
      if (Date.now() - mtimeMs > STALE_TEMP_MS) await fsp.unlink(file)
    }
  } catch {
    // A temp file left behind costs disk space only; never fail a good snapshot over it.
  }
}

/**
 * Writes `state` to `path` atomically: a temp file in the same directory,
 * fsync, rename over the target, fsync of the directory. A failure at any
 * point leaves the previous file as it was and removes the temp file.
 * `onSerialized` is called once the state has been read in full (also on
 * failure), so the caller can let writes to the state go on during the fsync.
 */
export async function writeSnapshot (
  path: string,
  state: StoreState,
  options: { fs?: SnapshotFileSystem, savedAt: number, onSerialized?: () => void }
): Promise<SnapshotWriteResult> {
  const fs = options.fs ?? nodeFileSystem
  const started = performance.now()
  let released = false
  const release = (): void => {
    if (released) return
    released = true
    options.onSerialized?.()
  }
  const directory = dirname(path)
  const temp = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  let handle: SnapshotFileHandle | null = null
  let tempCreated = false
  try {
    await fs.mkdir(directory, { recursive: true })
    handle = await fs.open(temp, 'wx')
    tempCreated = true
    const hash = createHash('sha256')
    let bytes = 0
    let records = 0
    let buffer = `${JSON.stringify({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, savedAt: options.savedAt }).slice(0, -1)},"records":[\n`
    const out = handle
    const flush = async (): Promise<void> => {
      if (buffer === '') return
      const text = buffer
      buffer = ''
      hash.update(text, 'utf8')
      bytes += Buffer.byteLength(text, 'utf8')
      await out.write(text)
    }
    for (const record of snapshotRecords(state)) {
      buffer += `${record},\n`
      records++
      if (buffer.length >= WRITE_CHUNK_CHARS) await flush()
    }
    await flush()
    const serializeMs = performance.now() - started
    release()
    const end = `${JSON.stringify(['end', { records, sha256: hash.digest('hex') }])}\n]}\n`
    bytes += Buffer.byteLength(end, 'utf8')
    await out.write(end)
    await out.sync()
    handle = null
    await out.close()
    await fs.rename(temp, path)
    tempCreated = false
    await syncDirectory(fs, directory)
    await removeStaleTemps(directory, basename(path))
    return { bytes, records, serializeMs, totalMs: performance.now() - started }
  } catch (err) {
    release()
    await handle?.close().catch(() => {})
    if (tempCreated) await fs.unlink(temp).catch(() => {})
    throw new SnapshotWriteError(path, (err as Error).message, { cause: err })
  }
}

/** The window bounds a version 1 snapshot is migrated to. */
export interface SnapshotReadOptions {
  windowTop: number
  roomWindowTop: number
}

/** A version 1 bucket: exact counts, trimmed once the file is read. */
interface ExactBucket {
  lists: Partial<Record<Category, Counts>>
  rooms: Map<string, RoomCounts>
}

/** Reads one record line at a time, with what a clear error needs. */
class SnapshotReader {
  readonly state = emptyState()
  hasMeta = false
  version = SNAPSHOT_VERSION
  savedAt = 0
  /** Version 1 window buckets by level, then bucket index. */
  private readonly exact = LEVELS.map(() => new Map<number, ExactBucket>())

  constructor (private readonly path: string, private readonly options: SnapshotReadOptions) {}

  corrupt (line: number, reason: string): SnapshotCorruptError {
    return new SnapshotCorruptError(this.path, `line ${line}: ${reason}`)
  }

  header (line: string): void {
    const suffix = '"records":['
    if (!line.endsWith(suffix)) throw this.corrupt(1, `not a ${SNAPSHOT_FORMAT} file (bad first line)`)
    let header: unknown
    try {
      header = JSON.parse(`${line}]}`)
    } catch {
      throw this.corrupt(1, `not a ${SNAPSHOT_FORMAT} file (first line is not JSON)`)
    }
    const h = header as Record<string, unknown>
    if (typeof header !== 'object' || header === null || h.format !== SNAPSHOT_FORMAT) {
      throw this.corrupt(1, `not a ${SNAPSHOT_FORMAT} file (format is ${JSON.stringify(h.format)})`)
    }
    if (!READABLE_VERSIONS.includes(h.version as number)) {
      throw this.corrupt(1, `unsupported version ${JSON.stringify(h.version)} (this build reads versions ${READABLE_VERSIONS.join(' and ')})`)
    }
    if (typeof h.savedAt !== 'number' || !Number.isFinite(h.savedAt)) throw this.corrupt(1, 'savedAt is not a number')
    this.version = h.version as number
    this.savedAt = h.savedAt
  }

  record (lineNumber: number, text: string): void {
    let record: unknown
    try {
      record = JSON.parse(text)
    } catch (err) {
      throw this.corrupt(lineNumber, `invalid JSON (${(err as Error).message})`)
    }
    if (!Array.isArray(record) || typeof record[0] !== 'string') throw this.corrupt(lineNumber, 'a record must be an array starting with its type')
    const [type, ...fields] = record as [string, ...unknown[]]
    if (!this.hasMeta && type !== 'meta') throw this.corrupt(lineNumber, `the first record must be "meta", got ${JSON.stringify(type)}`)
    const fail = (what: string): never => { throw this.corrupt(lineNumber, `${type} record: ${what}`) }
    const s = this.state
    switch (type) {
      case 'meta': {
        if (this.hasMeta) fail('appears twice')
        this.hasMeta = true
        const meta = objectField(fields[0], 'meta', fail)
        s.sequence = count(meta.sequence, 'sequence', fail, true)
        s.lastEventId = nullable(meta.lastEventId, 'lastEventId', fail, (v) => typeof v === 'string')
        s.totalMessages = count(meta.totalMessages, 'totalMessages', fail, true)
        s.failedMessages = count(meta.failedMessages, 'failedMessages', fail, true)
        readEvents(meta.events, s.events, 'events', fail)
        s.startedAt = nullable(meta.startedAt, 'startedAt', fail, isTime)
        s.lastMessageAt = nullable(meta.lastMessageAt, 'lastMessageAt', fail, isTime)
        if (this.version >= 2 && meta.windowLife !== null) {
          const life = objectField(meta.windowLife, 'windowLife', fail)
          if (!Number.isSafeInteger(life.floor) || !Number.isSafeInteger(life.newestWritten)) fail('windowLife needs integer floor and newestWritten')
          s.windowLife = { floor: life.floor as number, newestWritten: life.newestWritten as number }
        }
        break
      }
      case 'failed': {
        if (!Array.isArray(fields[0])) fail('entries must be an array')
        for (const entry of fields[0] as unknown[]) {
          const e = objectField(entry, 'entry', fail)
          if (typeof e.raw !== 'string' || typeof e.reason !== 'string' || !isTime(e.at)) fail('an entry needs string raw, string reason and a time at')
          s.failedLog.push({ raw: e.raw as string, reason: e.reason as string, at: e.at as number } satisfies FailedMessage)
        }
        break
      }
      case 'series': {
        const [resolution, entries] = fields
        if (resolution !== '1s' && resolution !== '1m') fail(`unknown resolution ${JSON.stringify(resolution)}`)
        readCounts(entries, resolution === '1s' ? s.seconds : s.minutes, 'number', `series ${resolution}`, fail)
        break
      }
      case 'top': {
        const category = categoryField(fields[0], CATEGORIES, fail)
        readCounts(fields[1], s.top[category].counts, 'string', category, fail)
        break
      }
      case 'room': {
        const name = stringField(fields[0], 'room', fail)
        if (s.rooms.has(name)) fail(`room ${JSON.stringify(name)} appears twice`)
        const detail = objectField(fields[1], 'room detail', fail)
        const room = emptyRoom()
        room.messages = count(detail.messages, 'messages', fail, true)
        readEvents(detail.events, room.events, 'events', fail)
        s.rooms.set(name, room)
        break
      }
      case 'roomTop': {
        const name = stringField(fields[0], 'room', fail)
        const room = s.rooms.get(name) ?? fail(`room ${JSON.stringify(name)} has no room record before it`)
        const category = categoryField(fields[1], ROOM_CATEGORIES, fail)
        readCounts(fields[2], room[category].counts, 'string', `${name} ${category}`, fail)
        break
      }
      case 'bucket': {
        if (this.version === 1) {
          const bucket = this.exactBucket(fields[0], fields[1], fail)
          const category = categoryField(fields[2], CATEGORIES, fail)
          readCounts(fields[3], bucket.lists[category] ??= new Map(), 'string', `bucket ${String(fields[1])} ${category}`, fail)
          break
        }
        const values = this.bucketValues(fields[0], fields[1], fail)
        const category = categoryField(fields[2], CATEGORIES, fail)
        if (values.lists[category] !== undefined) fail(`${category} appears twice in bucket ${String(fields[1])}`)
        values.lists[category] = parsed(() => unflattenTrimmed(fields[3]), `bucket ${String(fields[1])} ${category}`, fail)
        break
      }
      case 'roomBucket': {
        const name = stringField(fields[2], 'room', fail)
        if (!s.rooms.has(name)) fail(`room ${JSON.stringify(name)} has no room record`)
        if (this.version === 1) {
          const bucket = this.exactBucket(fields[0], fields[1], fail)
          if (bucket.rooms.has(name)) fail(`room ${JSON.stringify(name)} appears twice in bucket ${String(fields[1])}`)
          const detail = objectField(fields[3], 'room bucket', fail)
          const room = emptyRoomCounts()
          room.messages = count(detail.messages, 'messages', fail, true)
          readEvents(detail.events, room.events, 'events', fail)
          for (const category of ROOM_CATEGORIES) readCounts(detail[category], room[category], 'string', category, fail)
          bucket.rooms.set(name, room)
          break
        }
        const values = this.bucketValues(fields[0], fields[1], fail)
        if (values.rooms.has(name)) fail(`room ${JSON.stringify(name)} appears twice in bucket ${String(fields[1])}`)
        values.rooms.set(name, parsed(() => unflattenRoomValue(fields[3]), `room bucket of ${JSON.stringify(name)}`, fail))
        break
      }
      default:
        fail('unknown record type')
    }
  }

  private bucketValues (level: unknown, index: unknown, fail: Fail): BucketValues {
    const buckets = this.state.levels[levelField(level, fail)] as Map<number, BucketValues>
    const bucket = bucketIndex(index, fail)
    let values = buckets.get(bucket)
    if (values === undefined) buckets.set(bucket, values = emptyBucketValues())
    return values
  }

  private exactBucket (window: unknown, index: unknown, fail: Fail): ExactBucket {
    const buckets = this.exact[windowLevel(window, fail)] as Map<number, ExactBucket>
    const bucket = bucketIndex(index, fail)
    let exact = buckets.get(bucket)
    if (exact === undefined) buckets.set(bucket, exact = { lists: {}, rooms: new Map() })
    return exact
  }

  /** Version 1: trims the exact buckets into values; every bucket up to the save counts as built. */
  finish (): StoreState {
    if (this.version !== 1) return this.state
    const { windowTop, roomWindowTop } = this.options
    this.exact.forEach((buckets, level) => {
      for (const [index, exact] of buckets) {
        const values = emptyBucketValues()
        for (const category of CATEGORIES) {
          const counts = exact.lists[category]
          if (counts !== undefined) values.lists[category] = trimCounts(counts, windowTop)
        }
        for (const [name, room] of exact.rooms) values.rooms.set(name, roomValueOf(room, roomWindowTop))
        this.state.levels[level]?.set(index, values)
      }
    })
    const savedSecond = Math.floor(this.savedAt / 1000)
    this.state.windowLife = { floor: savedSecond + 1, newestWritten: savedSecond }
    return this.state
  }

}

type Fail = (what: string) => never

function parsed<T> (read: () => T, name: string, fail: Fail): T {
  try {
    return read()
  } catch (err) {
    return fail(`${name}: ${(err as Error).message}`)
  }
}

function isTime (value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value)
}

function count (value: unknown, name: string, fail: Fail, zeroAllowed = false): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (zeroAllowed ? 0 : 1)) {
    fail(`${name} must be ${zeroAllowed ? 'a non-negative' : 'a positive'} integer, got ${JSON.stringify(value)}`)
  }
  return value as number
}

function nullable<T> (value: unknown, name: string, fail: Fail, check: (v: unknown) => boolean): T | null {
  if (value === null) return null
  if (!check(value)) fail(`${name} has the wrong type`)
  return value as T
}

function objectField (value: unknown, name: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${name} must be an object`)
  return value as Record<string, unknown>
}

function stringField (value: unknown, name: string, fail: Fail): string {
  if (typeof value !== 'string') fail(`${name} must be a string`)
  return value as string
}

function categoryField<C extends Category | RoomCategory> (value: unknown, allowed: readonly C[], fail: Fail): C {
  if (!allowed.includes(value as C)) fail(`unknown category ${JSON.stringify(value)}`)
  return value as C
}

/** A version 1 window name as its level index. */
function windowLevel (value: unknown, fail: Fail): number {
  const spec = WINDOW_SPECS.find((w) => w.name === value) ?? fail(`unknown window ${JSON.stringify(value)}`)
  return levelOf(spec).index
}

function levelField (value: unknown, fail: Fail): number {
  if (typeof value !== 'number' || LEVELS[value] === undefined) fail(`unknown level ${JSON.stringify(value)}`)
  return value as number
}

function bucketIndex (value: unknown, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(`bucket index must be an integer, got ${JSON.stringify(value)}`)
  return value as number
}

function readEvents (value: unknown, into: Counts, name: string, fail: Fail): void {
  const events = objectField(value, name, fail)
  for (const [command, n] of Object.entries(events)) into.set(command, count(n, `${name}.${command}`, fail))
}

/** Reads a flat [key, positiveCount, ...] array into `into`; a key seen twice is corrupt. */
function readCounts<K extends string | number> (value: unknown, into: Map<K, number>, keyType: 'string' | 'number', list: string, fail: Fail): void {
  if (!Array.isArray(value) || value.length % 2 !== 0) fail(`${list}: entries must be a flat [key, count, ...] array`)
  const pairs = value as unknown[]
  for (let i = 0; i < pairs.length; i += 2) {
    const key = pairs[i]
    const n = pairs[i + 1]
    if (typeof key !== keyType || (keyType === 'number' && !Number.isSafeInteger(key))) {
      fail(`${list}: key ${JSON.stringify(key)} is not ${keyType === 'string' ? 'a string' : 'an integer'}`)
    }
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) fail(`${list}: count of ${JSON.stringify(key)} must be a positive integer, got ${JSON.stringify(n)}`)
    const size = into.size
    into.set(key as K, n as number)
    if (into.size === size) fail(`${list}: ${JSON.stringify(key)} appears twice`)
  }
}

/**
 * Loads a snapshot file. Returns null when there is none; throws
 * SnapshotCorruptError (invalid JSON, wrong format or version, bad shape,
 * truncated, checksum mismatch) or SnapshotUnreadableError. Lists are loaded
 * as saved: the caller applies its bounds.
 */
export async function readSnapshot (path: string, options: SnapshotReadOptions = { windowTop: 1000, roomWindowTop: 25 }): Promise<StoreState | null> {
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new SnapshotUnreadableError(path, (err as Error).message, { cause: err })
  }
  const reader = new SnapshotReader(path, options)
  const hash = createHash('sha256')
  let lineNumber = 0
  let records = 0
  let end: { records: unknown, sha256: unknown } | null = null
  let closed = false
  try {
    const lines = createInterface({ input: handle.createReadStream({ encoding: 'utf8' }), crlfDelay: Infinity })
    for await (const line of lines) {
      lineNumber++
      if (lineNumber === 1) {
        reader.header(line)
        hash.update(`${line}\n`, 'utf8')
        continue
      }
      if (end !== null) {
        if (!closed && line === ']}') closed = true
        else if (line !== '' || !closed) throw reader.corrupt(lineNumber, 'unexpected text after the end record')
        continue
      }
      if (line.startsWith('["end",')) {
        let parsed: unknown
        try {
          parsed = JSON.parse(line)
        } catch {
          throw reader.corrupt(lineNumber, 'invalid end record')
        }
        const fields = Array.isArray(parsed) ? parsed[1] as Record<string, unknown> | undefined : undefined
        if (typeof fields !== 'object' || fields === null) throw reader.corrupt(lineNumber, 'invalid end record')
        end = { records: fields.records, sha256: fields.sha256 }
        continue
      }
      if (!line.endsWith(',')) throw reader.corrupt(lineNumber, 'truncated record (no trailing comma)')
      hash.update(`${line}\n`, 'utf8')
      reader.record(lineNumber, line.slice(0, -1))
      records++
    }
  } catch (err) {
    if (err instanceof SnapshotCorruptError) throw err
    throw new SnapshotUnreadableError(path, (err as Error).message, { cause: err })
  } finally {
    await handle.close().catch(() => {})
  }
  if (lineNumber === 0) throw new SnapshotCorruptError(path, 'the file is empty')
  if (end === null) throw new SnapshotCorruptError(path, `truncated after line ${lineNumber}: no end record`)
  if (!reader.hasMeta) throw new SnapshotCorruptError(path, 'no meta record')
  if (!closed) throw new SnapshotCorruptError(path, 'truncated: the closing "]}" is missing')
  if (end.records !== records) throw new SnapshotCorruptError(path, `the end record counts ${String(end.records)} records, the file has ${records}`)
  const digest = hash.digest('hex')
  if (end.sha256 !== digest) throw new SnapshotCorruptError(path, 'checksum mismatch (the file was changed or damaged)')
  return reader.finish()
}
