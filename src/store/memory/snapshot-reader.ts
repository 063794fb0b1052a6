import { createHash } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { CATEGORIES, ROOM_CATEGORIES, type Category, type Counts, type FailedMessage, type RoomCategory } from '../types.js'
import { WINDOW_SPECS } from '../windows.js'
import { levelOf, LEVELS } from '../windows/levels.js'
import { emptyRoomCounts, type RoomCounts, roomValueOf } from '../windows/room-value.js'
import { encodeRoomValue, unflattenRoomValue, unflattenTrimmed } from '../windows/serialise.js'
import { trimCounts } from '../windows/trimmed-list.js'
import { SnapshotCorruptError, SnapshotUnreadableError } from './errors.js'
import { READABLE_VERSIONS, SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from './snapshot-format.js'
import { type BucketValues, emptyBucketValues, emptyRoom, emptyState, type StoreState } from './state.js'

/*
 * Reading the embedded store's snapshot (the format is described in
 * snapshot.ts): validated record by record, version 1 migrated.
 */

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
      throw this.corrupt(1, `unsupported version ${JSON.stringify(h.version)} (this build reads versions ${READABLE_VERSIONS.join(', ')})`)
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
        // Version 3 saves when the room was first seen (null: unknown); before, it is unknown.
        if (this.version >= 3) room.firstSeen = nullable(detail.firstSeen, 'firstSeen', fail, Number.isSafeInteger)
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
        values.rooms.set(name, encodeRoomValue(parsed(() => unflattenRoomValue(fields[3]), `room bucket of ${JSON.stringify(name)}`, fail)))
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
        for (const [name, room] of exact.rooms) values.rooms.set(name, encodeRoomValue(roomValueOf(room, roomWindowTop)))
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
