import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { shardOf, splitBatch } from '../../src/store/shards.js'
import type { Counts } from '../../src/store/types.js'
import { batch, chatSlice, slice } from '../helpers/batches.js'

function sum (maps: Counts[]): Counts {
  const out: Counts = new Map()
  for (const map of maps) for (const [k, n] of map) out.set(k, (out.get(k) ?? 0) + n)
  return out
}

describe('shards: splitting a batch over STORE_SHARDS', () => {
  it('hashes a member to a stable shard (stored data depends on it)', () => {
    // Pinned (FNV-1a computed independently in Python): changing the hash would strand every member already stored.
    assert.deepEqual(['kappa', 'forsen', '#forsen', 'ㅋㅋㅋ', '😂', ''].map((v) => shardOf(v, 16)), [8, 14, 5, 8, 14, 5])
    assert.equal(shardOf('anything', 1), 0)
    const spread = new Array<number>(8).fill(0)
    for (let i = 0; i < 8000; i++) spread[shardOf(`w${i}`, 8)]!++
    assert.ok(spread.every((n) => n > 800 && n < 1200), `spread ${spread.join(',')}`)
  })

  it('puts each member in exactly one shard, a room with its detail, stream-wide counters in shard 0, the position everywhere', () => {
    const lines = Array.from({ length: 200 }, (_, i) => ({ nick: `n${i % 31}`, room: i % 5 === 0 ? '' : `#r${i % 23}`, words: [`w${i % 41}`, 'x'], emotes: i % 4 === 0 ? ['Kappa', `E${i % 9}`] : [] }))
    const slices = [chatSlice(100, lines, [{ command: 'CLEARCHAT', room: '#r1' }, { command: 'NOTICE' }]), chatSlice(101, lines.slice(0, 50))]
    const whole = batch(7, slices, { failedCount: 2, failedLog: [{ raw: 'r', reason: 'bad', at: 1 }], lastEventId: 'e9', lastMessageAt: 101_000 })
    const parts = splitBatch(whole, 4)
    assert.equal(parts.length, 4)
    parts.forEach((part, i) => {
      assert.equal(part.sequence, 7)
      assert.equal(part.lastEventId, 'e9')
      assert.equal(part.failedCount, i === 0 ? 2 : 0)
      assert.equal(part.failedLog.length, i === 0 ? 1 : 0)
      assert.equal(part.lastMessageAt, i === 0 ? 101_000 : undefined)
      for (const s of part.slices) {
        for (const label of ['words', 'nicks', 'rooms', 'emotes'] as const) for (const member of s[label].keys()) assert.equal(shardOf(member, 4), i, `${label} ${member}`)
        for (const room of s.roomDetail.keys()) assert.equal(shardOf(room, 4), i, room)
        if (i !== 0) assert.equal(s.messages, 0)
        if (i !== 0) assert.equal(s.events.size, 0)
      }
    })
    for (const original of slices) {
      const pieces = parts.flatMap((p) => p.slices.filter((s) => s.second === original.second))
      for (const label of ['words', 'nicks', 'rooms', 'emotes', 'events'] as const) assert.deepEqual(sum(pieces.map((s) => s[label])), original[label], label)
      assert.equal(pieces.reduce((n, s) => n + s.messages, 0), original.messages)
      assert.deepEqual(new Map(pieces.flatMap((s) => [...s.roomDetail])), original.roomDetail)
    }
  })

  it('rejects a malformed batch before anything is written', () => {
    assert.throws(() => splitBatch(batch(0, []), 4), RangeError)
    assert.throws(() => splitBatch(batch(1, [slice(5, { words: { ok: 1, bad: -1 } })]), 4), RangeError)
    assert.throws(() => splitBatch(batch(1, [slice(5, { roomDetail: { '#r': { nicks: { n: 0.5 } } } })]), 4), RangeError)
    assert.throws(() => splitBatch(batch(1, [slice(5, { messages: -1 })]), 4), RangeError)
  })
})
