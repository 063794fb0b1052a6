import { createHash, randomBytes } from 'node:crypto'
import * as fsp from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setImmediate } from 'node:timers/promises'
import { CATEGORIES, ROOM_CATEGORIES, type Counts } from '../types.js'
import { flattenTrimmed } from '../windows/serialise.js'
import { SnapshotWriteError } from './errors.js'
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from './snapshot-format.js'
import type { StoreState } from './state.js'

export { readSnapshot, type SnapshotReadOptions } from './snapshot-reader.js'

/*
 * Snapshot file, version 3 (storage v2, issue 12; rooms' first-seen times, issue 14). One JSON document laid
 * out one record per line, so it is written and read as a stream (a million
 * words never become one string) and a cut-off file is detected:
 *
 *   {"format":"chat-stats-memory-snapshot","version":3,"savedAt":<ms>,"records":[
 *   ["meta",{sequence,lastEventId,totalMessages,failedMessages,events,startedAt,lastMessageAt,windowLife}],
 *   ["failed",[{raw,reason,at},...]],                 oldest first, in chunks
 *   ["series","1s"|"1m",[epochSecondOrMinute,messages,...]],
 *   ["top",category,[value,count,value,count,...]],  in chunks of CHUNK_ENTRIES (any size reads)
 *   ["room",room,{messages,events,firstSeen}],       a tracked room, before its lists (firstSeen: epoch second or null)
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
 * The next snapshot is written as version 3.
 *
 * Version 2 is version 3 without `firstSeen` in room records: its rooms load
 * with an unknown first-seen time (null; the rate falls back to the stream's
 * start, docs/API.md#message-rates) and are saved back as version 3.
 */

export { READABLE_VERSIONS, SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from './snapshot-format.js'
/** List entries per record line: small enough that one line is quick to encode (the reader takes any size). */
const CHUNK_ENTRIES = 2000
const FAILED_PER_RECORD = 200
/** Characters gathered before a write (hashed and encoded in one go, so kept short). */
const WRITE_CHUNK_CHARS = 256 * 1024
/**
 * Longest stretch of serialising before the writer yields to the event loop.
 * The store shares its process with the API: a write that yielded only at
 * each 1 MiB file write held the loop for up to 0.5-1.3 s at a time on a
 * loaded machine (BENCHMARKS.md, "Snapshot writes and the event loop").
 * Slices of about 5 ms keep an API request's wait near one slice; a yield
 * costs one setImmediate turn, so the write takes little longer.
 */
export const SNAPSHOT_SLICE_MS = 5

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
  /** Times the writer gave the event loop a turn while serialising (SNAPSHOT_SLICE_MS). */
  yields: number
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
    yield JSON.stringify(['room', name, { messages: room.messages, events: eventsObject(room.events), firstSeen: room.firstSeen }])
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
      // The stored text is the record's last field as it is (it is JSON).
      for (const [name, text] of values.rooms) yield `${JSON.stringify(['roomBucket', level, index, name]).slice(0, -1)},${text}]`
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
    let yields = 0
    let sliceStarted = performance.now()
    for (const record of snapshotRecords(state)) {
      buffer += `${record},\n`
      records++
      if (buffer.length >= WRITE_CHUNK_CHARS) await flush()
      if (performance.now() - sliceStarted >= SNAPSHOT_SLICE_MS) {
        // The state is not written to meanwhile (the store holds its writes until onSerialized), so the
        // generator resumes on the same state; reads and other timers run in between.
        await setImmediate()
        yields++
        sliceStarted = performance.now()
      }
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
    return { bytes, records, yields, serializeMs, totalMs: performance.now() - started }
  } catch (err) {
    release()
    await handle?.close().catch(() => {})
    if (tempCreated) await fs.unlink(temp).catch(() => {})
    throw new SnapshotWriteError(path, (err as Error).message, { cause: err })
  }
}
