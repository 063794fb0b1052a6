import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateEventWithIntent } from '../src/simulator/index.js'

/**
 * The pre-generated stream the bench serves: `events` consecutive events of
 * the simulator (reference format, about 410 bytes each with tags), built
 * once and cached on disk, so the load generator only copies bytes and the
 * simulator is never what is measured. Longer runs loop over the block.
 */
export interface StreamBlock {
  /** The SSE text of every event, concatenated. */
  bytes: Buffer
  /** ends[i] = byte offset just after event i (0-based). */
  ends: Uint32Array
  /** chatBefore[i] = chat messages among events 0..i-1; chatBefore[events] = all of them. */
  chatBefore: Uint32Array
  events: number
}

/** Cache files live here: never in the repository. */
export const CACHE_DIR = join(tmpdir(), 'chat-stats-bench')

function simulatorFingerprint (): string {
  // A changed generator must not be measured with a stale block.
  const dir = new URL('../src/simulator/', import.meta.url)
  const hash = createHash('sha1')
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts')).sort()) hash.update(readFileSync(new URL(file, dir)))
  return hash.digest('hex').slice(0, 12)
}

/** Loads the block of `events` events of `seed`, generating and caching it first if needed. */
export function loadStreamBlock (seed: number, events: number, onGenerate?: (path: string) => void): StreamBlock {
  if (!Number.isSafeInteger(events) || events < 1 || events > 5_000_000) throw new RangeError(`block size must be 1..5,000,000 events, got ${events}`)
  mkdirSync(CACHE_DIR, { recursive: true })
  const base = join(CACHE_DIR, `block-${seed}-${events}-${simulatorFingerprint()}`)
  if (!existsSync(`${base}.sse`) || !existsSync(`${base}.idx`)) {
    onGenerate?.(`${base}.sse`)
    generate(seed, events, base)
  }
  const bytes = readFileSync(`${base}.sse`)
  const index = readFileSync(`${base}.idx`)
  const words = new Uint32Array(index.buffer, index.byteOffset, index.byteLength / 4)
  const ends = words.slice(0, events)
  const chatBefore = words.slice(events, 2 * events + 1)
  if (ends[events - 1] !== bytes.length) throw new Error(`cached block ${base} is inconsistent: delete it and run again`)
  return { bytes, ends, chatBefore, events }
}

function generate (seed: number, events: number, base: string): void {
  const ends = new Uint32Array(events)
  const chatBefore = new Uint32Array(events + 1)
  const parts: Buffer[] = []
  let pending: string[] = []
  let offset = 0
  let chat = 0
  for (let i = 0; i < events; i++) {
    const { text, intent } = generateEventWithIntent(seed, i + 1)
    pending.push(text)
    offset += Buffer.byteLength(text)
    if (offset > 0xffffffff) throw new RangeError('block larger than 4 GiB: use fewer events')
    ends[i] = offset
    chatBefore[i] = chat
    if (intent.kind === 'chat') chat++
    if (pending.length === 10_000) {
      parts.push(Buffer.from(pending.join('')))
      pending = []
    }
  }
  chatBefore[events] = chat
  parts.push(Buffer.from(pending.join('')))
  // Written under temporary names and renamed, so an interrupted run leaves no half block.
  writeFileSync(`${base}.sse.tmp`, Buffer.concat(parts))
  const index = new Uint32Array(2 * events + 1)
  index.set(ends, 0)
  index.set(chatBefore, events)
  writeFileSync(`${base}.idx.tmp`, new Uint8Array(index.buffer))
  renameSync(`${base}.sse.tmp`, `${base}.sse`)
  renameSync(`${base}.idx.tmp`, `${base}.idx`)
}

/** Chat messages among the first `events` events of the stream that loops over `block`. */
export function chatMessagesIn (block: StreamBlock, events: number): number {
  const loops = Math.floor(events / block.events)
  return loops * block.chatBefore[block.events]! + block.chatBefore[events % block.events]!
}
