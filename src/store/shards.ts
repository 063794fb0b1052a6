import { validateBatch } from './batch-validation.js'
import type { Batch, CountSlice, Counts, Position, ResumePlan } from './types.js'

/**
 * How a sharded store spreads a statistic over STORE_SHARDS shards
 * (docs/STORAGE.md#sharding-on-a-redis-cluster): each member by a hash of itself, so it lives in exactly one
 * shard and a top list is the exact merge of the shards' top lists. A room
 * keeps all its detail (its totals and its own top lists) in the shard of
 * the room, so a room is read from one shard and trimmed exactly as on a
 * single Redis. Stream-wide counters (messages, events, the per-second
 * series, failed messages) live in shard 0. Pure: no I/O.
 */

/** The shard of a member: 32-bit FNV-1a over its UTF-16 code units, modulo `shards`. Stable across versions: stored data depends on it. */
export function shardOf (value: string, shards: number): number {
  if (shards === 1) return 0
  let hash = 0x811c9dc5
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % shards
}

function emptySlice (second: number): CountSlice {
  return { second, messages: 0, words: new Map(), nicks: new Map(), rooms: new Map(), emotes: new Map(), events: new Map(), roomDetail: new Map() }
}

/**
 * Splits a batch into one batch per shard, each with the same sequence and
 * last event id (every shard records the position, even with no counts).
 * Throws InvalidBatchError (validateBatch) on a malformed batch, before any shard is written.
 */
export function splitBatch (batch: Batch, shards: number): Batch[] {
  validateBatch(batch)
  const parts: Batch[] = Array.from({ length: shards }, (_, i) => ({
    sequence: batch.sequence,
    slices: [],
    failedCount: i === 0 ? batch.failedCount : 0,
    failedLog: i === 0 ? batch.failedLog : [],
    lastEventId: batch.lastEventId,
    lastMessageAt: i === 0 ? batch.lastMessageAt : undefined,
    previousSequence: batch.previousSequence,
    storeRollbacks: i === 0 ? batch.storeRollbacks : undefined,
    messagesLost: i === 0 ? batch.messagesLost : undefined
  }))
  for (const slice of batch.slices) {
    const pieces: Array<CountSlice | undefined> = new Array(shards)
    const piece = (shard: number): CountSlice => (pieces[shard] ??= emptySlice(slice.second))
    const stream = piece(0)
    stream.messages = slice.messages
    stream.events = slice.events
    for (const label of ['words', 'nicks', 'rooms', 'emotes'] as const) {
      const counts: Counts = slice[label]
      // forEach, not for-of: no [member, n] array per member (model/counts.ts).
      counts.forEach((n, member) => { piece(shardOf(member, shards))[label].set(member, n) })
    }
    for (const [room, detail] of slice.roomDetail) {
      piece(shardOf(room, shards)).roomDetail.set(room, detail)
    }
    pieces.forEach((p, shard) => { if (p !== undefined) parts[shard]!.slices.push(p) })
  }
  return parts
}

/**
 * Where a worker resumes after a crash between the shards' commits (see
 * ShardedRedisStore.applyBatch): from the lowest shard position, with a
 * commit point at each higher position a shard holds. Sequences follow the
 * stream (a batch's sequence is the ordinal of its last event), so the shard
 * at sequence n takes the replayed batches after the one that ends at n.
 * A shard that never committed (a crash in the very first flush) is the
 * lowest, at the start of the stream: the replay starts over, and the shards
 * that did commit are commit points like any other. A stream without ids
 * (no shard holds one) cannot be replayed: then the plan resumes above every
 * shard, and all of them take what comes next.
 */
export function resumePlanOf (positions: readonly Position[]): ResumePlan {
  if (positions.length === 0) throw new RangeError('no shard positions')
  const lowest = positions.reduce((a, b) => b.sequence < a.sequence ? b : a)
  if (positions.every((p) => p.lastEventId === null)) {
    const highest = positions.reduce((a, b) => b.sequence > a.sequence ? b : a)
    return { from: { lastEventId: null, sequence: highest.sequence }, commitPoints: [] }
  }
  const bySequence = new Map<number, Position>()
  for (const p of positions) if (p.sequence > lowest.sequence && !bySequence.has(p.sequence)) bySequence.set(p.sequence, p)
  return { from: lowest, commitPoints: [...bySequence.values()].sort((a, b) => a.sequence - b.sequence) }
}
