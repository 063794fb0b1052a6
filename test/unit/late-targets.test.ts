import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { applyWindowPlan, type Levels } from '../../src/store/memory/window-values.js'
import { BucketLife } from '../../src/store/windows/bucket-life.js'
import { lateByTarget } from '../../src/store/windows/late-targets.js'
import { LEVELS } from '../../src/store/windows/levels.js'
import { decodeRoomValue } from '../../src/store/windows/serialise.js'
import { chatSlice } from '../helpers/batches.js'

const START = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000 // every bucket size divides it

/** A plan of two late seconds of the same 5 s bucket (both still in the 1 min window): a 2 and b 1, then b 2 (b 3 in all). */
function twoLateSeconds (windowTop: number): ReturnType<BucketLife['plan']> {
  const life = new BucketLife({ windowTop, roomWindowTop: 5 })
  life.restore({ floor: START + 100, newestWritten: START + 100 })
  return life.plan([
    chatSlice(START + 95, [{ nick: 'ann', room: '#a', words: ['a', 'a', 'b'] }]),
    chatSlice(START + 96, [{ nick: 'bob', room: '#a', words: ['b', 'b'] }])
  ], (START + 100) * 1000)
}

describe('late deltas summed per target bucket', () => {
  it('sums the seconds that reach a bucket, and keeps a bucket only one second reaches as that second', () => {
    const plan = twoLateSeconds(1)
    const targets = lateByTarget(plan.late)
    const key = (t: { level: number, bucket: number }): string => `${t.level}:${t.bucket}`
    // Every target of every delta, once.
    assert.deepEqual(new Set(targets.map(key)), new Set(plan.late.flatMap((d) => d.targets.map(key))))
    assert.equal(targets.length, new Set(targets.map(key)).size)
    const fiveSeconds = targets.find((t) => t.level === 1 && t.bucket === (START + 95) / 5)!
    assert.deepEqual([...fiveSeconds.lists.words], [['a', 2], ['b', 3]])
    assert.equal(fiveSeconds.rooms.get('#a')!.messages, 2)
    assert.deepEqual([...fiveSeconds.rooms.get('#a')!.nicks], [['ann', 1], ['bob', 1]])
    const second = targets.find((t) => t.level === 0 && t.bucket === START + 96)!
    assert.equal(second.lists, plan.late.find((d) => d.second === START + 96)!.lists)
  })

  it('the embedded store trims a shared bucket once per flush: b (3) stays, where a trim per second kept a (2)', () => {
    const levels: Levels = LEVELS.map(() => new Map())
    applyWindowPlan(levels, twoLateSeconds(1), 1, 5)
    const values = levels[1]!.get((START + 95) / 5)!
    assert.deepEqual(values.lists.words, { entries: [{ value: 'b', count: 3 }], err: 2 })
    assert.equal(decodeRoomValue(values.rooms.get('#a')!).messages, 2)
  })
})
