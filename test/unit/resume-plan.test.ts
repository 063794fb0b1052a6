import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { resumePlanOf } from '../../src/store/shards.js'
import type { Position } from '../../src/store/types.js'
import { StreamPosition } from '../../src/worker/stream-position.js'

const at = (sequence: number, lastEventId: string | null = String(sequence)): Position => ({ sequence, lastEventId })
const silent = pino({ level: 'silent' })

describe('resumePlanOf (a sharded store after a crash mid-flush)', () => {
  const cases: Array<[string, Position[], ReturnType<typeof resumePlanOf>]> = [
    ['all shards level: no commit points', [at(7), at(7), at(7)], { from: at(7), commitPoints: [] }],
    ['resume from the lowest; each higher position once, ascending', [at(2500), at(1000), at(4000), at(1000), at(2500)], { from: at(1000), commitPoints: [at(2500), at(4000)] }],
    // It once resumed above every shard (at(3, null)), as for a stream without ids: the shards behind refused every batch.
    ['a shard that never committed (a crash in the first flush): the replay starts over, each shard ahead a commit point', [at(0, null), at(0, null), at(3), at(5)], { from: at(0, null), commitPoints: [at(3), at(5)] }],
    ['a stream without ids cannot be replayed: above every shard', [at(4, null), at(9, null)], { from: at(9, null), commitPoints: [] }]
  ]
  for (const [name, positions, expected] of cases) it(name, () => assert.deepEqual(resumePlanOf(positions), expected))
})

describe('StreamPosition', () => {
  it('counts a new ordinal per new event id and says where a batch must end', () => {
    const position = new StreamPosition({ from: at(10), commitPoints: [at(12), at(14)] }, silent)
    const cuts: number[] = []
    for (const id of ['11', '11', '12', '12', '13', '14', '15']) if (position.advance(id)) cuts.push(position.ordinal)
    assert.deepEqual(cuts, [12, 14])
    assert.equal(position.ordinal, 15)
    assert.equal(position.lastEventId, '15')
    assert.equal(position.catchingUp, false)
  })

  it('holds back a batch whose sequence would claim a commit point the stream has not reached', () => {
    const position = new StreamPosition({ from: at(10), commitPoints: [at(11)] }, silent)
    assert.equal(position.maySendAs(11), false)
    assert.equal(position.maySendAs(10), true)
    assert.equal(position.advance('11'), true)
    assert.equal(position.maySendAs(11), true)
    assert.equal(position.maySendAs(50), true)
  })
})
