import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateEventWithIntent, type ProfileName, profileShape } from '../src/simulator/index.js'

/**
 * The pre-generated streams the bench serves, built once and cached on disk
 * so the load generator only copies bytes and the simulator is never what is
 * measured: `default` (a block of the default profile that longer runs loop
 * over) and `day` (a whole day of the day profile, one event per index, as
 * large as the run). The text stays on disk; the load generator reads what it
 * writes, and rewrites each event's `tmi-sent-ts` in place (13 digits at a
 * position the index holds) so that event times make sense whenever the
 * block is served (docs/COUNTING.md#event-time: a message's time is its tmi-sent-ts).
 */
export interface StreamBlock {
  profile: ProfileName
  /** The cache files' path without `.sse` / `.idx`: what a child process opens (readStreamBlock). */
  base: string
  /** The SSE text of every event, concatenated. */
  path: string
  events: number
  /** ends[i] = byte offset just after event i (0-based); Float64 because a day is larger than 4 GiB. */
  ends: Float64Array
  /** tsAt[i] = where the 13 digits of event i's tmi-sent-ts start, from the event's first byte; -1 when it has none. */
  tsAt: Int32Array
  /** chatBefore[i] = chat messages among events 0..i-1; chatBefore[events] = all of them. */
  chatBefore: Uint32Array
}

/** Cache files live here: never in the repository. */
export const CACHE_DIR = join(tmpdir(), 'chat-stats-bench')

/**
 * The day block's text ends at this moment; the load generator adds (time
 * of the request - this) to every event time, so a served day ends when it
 * is served. Any fixed moment with 13-digit times a day before works.
 */
export const DAY_BLOCK_START_MS = Date.UTC(2030, 0, 1)

/** Bumped when the cache files' layout changes, so an old cache is not misread. */
const FORMAT = 'v2'
const TS_TAG = Buffer.from('tmi-sent-ts=')
const TS_DIGITS = 13

function simulatorFingerprint (): string {
  // A changed generator must not be measured with a stale block.
  const dir = new URL('../src/simulator/', import.meta.url)
  const hash = createHash('sha1')
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts')).sort()) hash.update(readFileSync(new URL(file, dir)))
  return hash.digest('hex').slice(0, 12)
}

/** Byte offset of event `i` (0-based) in the block's file. */
export function eventStart (block: StreamBlock, i: number): number {
  return i === 0 ? 0 : block.ends[i - 1]!
}

/**
 * Loads the block of `events` events of `profile` and `seed`, generating and
 * caching it first if needed (`onGenerate` is told the path before that).
 */
export function loadStreamBlock (profile: ProfileName, seed: number, events: number, onGenerate?: (path: string) => void): StreamBlock {
  if (!Number.isSafeInteger(events) || events < 1 || events > 100_000_000) throw new RangeError(`block size must be 1..100,000,000 events, got ${events}`)
  mkdirSync(CACHE_DIR, { recursive: true })
  const base = join(CACHE_DIR, `block-${profile}-${seed}-${events}-${simulatorFingerprint()}-${FORMAT}`)
  if (!existsSync(`${base}.sse`) || !existsSync(`${base}.idx`)) {
    onGenerate?.(`${base}.sse`)
    generate(profile, seed, events, base)
  }
  return readStreamBlock(profile, base, events)
}

/**
 * The cached block at `base`, as loadStreamBlock made it. Child processes
 * open the parent's files by name: the simulator may change while a bench
 * runs, and a child must not serve (or regenerate) another block.
 */
export function readStreamBlock (profile: ProfileName, base: string, events: number): StreamBlock {
  const index = readFileSync(`${base}.idx`)
  // Copied out of the file's buffer: a typed array needs its own alignment.
  const ends = new Float64Array(index.buffer.slice(index.byteOffset, index.byteOffset + 8 * events))
  const tsAt = new Int32Array(index.buffer.slice(index.byteOffset + 8 * events, index.byteOffset + 12 * events))
  const chatBefore = new Uint32Array(index.buffer.slice(index.byteOffset + 12 * events, index.byteOffset + 16 * events + 4))
  const block = { profile, base, path: `${base}.sse`, events, ends, tsAt, chatBefore }
  if (chatBefore.length !== events + 1 || !existsSync(block.path)) throw new Error(`cached block ${base} is inconsistent: delete it and run again`)
  return block
}

/** Where the 13 digits of the event's tmi-sent-ts start, or -1 (no tag, or a malformed event cut inside it). */
function timestampAt (text: Buffer): number {
  const tag = text.indexOf(TS_TAG)
  if (tag === -1) return -1
  const at = tag + TS_TAG.length
  for (let i = 0; i < TS_DIGITS; i++) {
    const c = text[at + i]
    if (c === undefined || c < 0x30 || c > 0x39) return -1
  }
  const after = text[at + TS_DIGITS]
  return after !== undefined && after >= 0x30 && after <= 0x39 ? -1 : at
}

function generate (profile: ProfileName, seed: number, events: number, base: string): void {
  // The day's text ends at a fixed moment; the load generator moves it to the time of serving.
  const shape = profileShape(profile, profile === 'day' ? { events, startMs: DAY_BLOCK_START_MS } : {})
  const ends = new Float64Array(events)
  const tsAt = new Int32Array(events)
  const chatBefore = new Uint32Array(events + 1)
  // Written under temporary names of this process and renamed, so an interrupted run leaves no
  // half block and two benches generating the same block at once do not rename each other's files.
  const tmp = `.${process.pid}.tmp`
  const file = openSync(`${base}.sse${tmp}`, 'w')
  try {
    let pending: Buffer[] = []
    let offset = 0
    let chat = 0
    for (let i = 0; i < events; i++) {
      const { text, intent } = generateEventWithIntent(seed, i + 1, shape)
      const bytes = Buffer.from(text)
      pending.push(bytes)
      tsAt[i] = timestampAt(bytes)
      offset += bytes.length
      ends[i] = offset
      chatBefore[i] = chat
      if (intent.kind === 'chat') chat++
      if (pending.length === 10_000) {
        writeSync(file, Buffer.concat(pending))
        pending = []
      }
    }
    chatBefore[events] = chat
    writeSync(file, Buffer.concat(pending))
  } finally {
    closeSync(file)
  }
  writeFileSync(`${base}.idx${tmp}`, Buffer.concat([new Uint8Array(ends.buffer), new Uint8Array(tsAt.buffer), new Uint8Array(chatBefore.buffer)]))
  renameSync(`${base}.sse${tmp}`, `${base}.sse`)
  renameSync(`${base}.idx${tmp}`, `${base}.idx`)
}

/** Chat messages among the first `events` events of the stream that loops over `block`. */
export function chatMessagesIn (block: StreamBlock, events: number): number {
  const loops = Math.floor(events / block.events)
  return loops * block.chatBefore[block.events]! + block.chatBefore[events % block.events]!
}

/** Mean bytes per event. */
export function bytesPerEvent (block: StreamBlock): number {
  return block.ends[block.events - 1]! / block.events
}

/**
 * Rewrites the event times of events `first`..`last - 1` of `block`, whose
 * bytes from the block's offset `base` on are in `bytes`: each 13-digit
 * tmi-sent-ts becomes `stamp(old)`. No re-parse: the index says where the
 * digits are.
 */
export function restampEvents (bytes: Buffer, block: StreamBlock, first: number, last: number, base: number, stamp: (ms: number) => number): void {
  for (let i = first; i < last; i++) {
    const at = block.tsAt[i]!
    if (at < 0) continue
    const digits = eventStart(block, i) - base + at
    let old = 0
    for (let d = 0; d < TS_DIGITS; d++) old = old * 10 + bytes[digits + d]! - 0x30
    let value = stamp(old)
    for (let d = TS_DIGITS - 1; d >= 0; d--) {
      bytes[digits + d] = 0x30 + (value % 10)
      value = Math.floor(value / 10)
    }
  }
}
