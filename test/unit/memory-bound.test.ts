import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  memoryBound, type MemoryBoundSettings, REDIS_ZSET_ENTRY_BYTES, TYPICAL_MEMBERS, WORST_CASE_MEMBERS
} from '../../src/store/memory-bound.js'

const SETTINGS: MemoryBoundSettings = {
  maxTrackedWords: 100_000,
  maxTrackedPerRoom: 1000,
  maxTrackedRooms: 1000,
  windowTop: 1000,
  roomWindowTop: 50,
  failedLogSize: 1000
}

describe('memory bound formula', () => {
  it('is the sum of its parts, each entries x bytes per entry', () => {
    for (const store of ['redis', 'embedded'] as const) {
      const bound = memoryBound(SETTINGS, TYPICAL_MEMBERS, store)
      assert.equal(bound.total, bound.parts.reduce((sum, p) => sum + p.bytes, 0))
      for (const part of bound.parts) assert.equal(part.bytes, part.entries * part.bytesPerEntry, part.name)
    }
    const lists = memoryBound(SETTINGS, TYPICAL_MEMBERS).parts[0]!
    assert.equal(lists.entries, 3 * SETTINGS.maxTrackedWords)
    assert.equal(lists.bytesPerEntry, REDIS_ZSET_ENTRY_BYTES + TYPICAL_MEMBERS.memberBytes)
  })

  it('grows with every setting and with the members\' size', () => {
    const base = memoryBound(SETTINGS, TYPICAL_MEMBERS).total
    for (const name of ['maxTrackedWords', 'maxTrackedPerRoom', 'maxTrackedRooms', 'windowTop', 'roomWindowTop', 'failedLogSize'] as const) {
      const doubled = memoryBound({ ...SETTINGS, [name]: 2 * SETTINGS[name] }, TYPICAL_MEMBERS).total
      assert.ok(doubled > base, `${name} doubled: ${doubled} > ${base}`)
    }
    assert.ok(memoryBound(SETTINGS, WORST_CASE_MEMBERS).total > base)
    assert.ok(memoryBound(SETTINGS, WORST_CASE_MEMBERS, 'embedded').total > memoryBound(SETTINGS, TYPICAL_MEMBERS, 'embedded').total)
  })

  it('counts fewer room buckets when the room windows are coarser', () => {
    const same = memoryBound(SETTINGS, TYPICAL_MEMBERS)
    const coarser = memoryBound({ ...SETTINGS, roomBucketSeconds: [5, 15, 60, 300, 3600] }, TYPICAL_MEMBERS)
    const rooms = (bound: typeof same): number => bound.parts.find((p) => p.name.startsWith('per-room window buckets'))!.entries
    // Five levels of 63 live buckets each: a bucket lives its window plus two bucket lengths after it starts.
    assert.equal(rooms(same), 5 * 63 * SETTINGS.maxTrackedRooms)
    assert.ok(rooms(coarser) < rooms(same))
    assert.ok(coarser.total < same.total)
  })
})
