import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { perMasterBound } from '../../bench/day.js'
import { memoryBound, type MemoryBoundSettings, WORST_CASE_MEMBERS } from '../../src/store/memory-bound.js'

const DEFAULTS: MemoryBoundSettings = {
  maxTrackedWords: 200_000,
  maxTrackedPerRoom: 200,
  maxTrackedRooms: 300,
  windowTop: 500,
  roomWindowTop: 10,
  failedLogSize: 1000,
  shards: 16
}

describe('the day bench: the memory formula per cluster master', () => {
  const bound = memoryBound(DEFAULTS, WORST_CASE_MEMBERS, 'redis')
  const byName = (prefix: string): number => {
    const part = bound.parts.find((p) => p.name.startsWith(prefix))
    assert.ok(part !== undefined, `the formula has a part named ${prefix}...`)
    return part.bytes
  }
  const shardZeroOnly = byName('per-second series') + byName('per-minute series') + byName('failed-message log')

  it('shares the formula out over the masters without losing or adding anything', () => {
    const masters = perMasterBound(bound, [[0, 3, 5, 8, 11, 14], [1, 4, 7, 10], [2, 6, 9, 12, 13, 15]])
    assert.equal(masters.length, 3)
    assert.ok(Math.abs(masters.reduce((sum, m) => sum + m, 0) - bound.total) < 1e-6)
    assert.deepEqual(perMasterBound(bound, [Array.from({ length: 16 }, (_, i) => i)]), [bound.total])
  })

  it('puts the series and the failed log on the master holding shard 0, the rest by shard count', () => {
    const [withZero, four, six] = perMasterBound(bound, [[0, 3, 5, 8, 11, 14], [1, 4, 7, 10], [2, 6, 9, 12, 13, 15]])
    const perShard = (bound.total - shardZeroOnly) / 16
    assert.ok(Math.abs(four! - 4 * perShard) < 1e-6)
    assert.ok(Math.abs(six! - 6 * perShard) < 1e-6)
    assert.ok(Math.abs(withZero! - 6 * perShard - shardZeroOnly) < 1e-6)
  })
})
