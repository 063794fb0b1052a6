import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { BackPressure, MIN_READ_AHEAD_UPDATES } from '../../src/worker/back-pressure.js'

const silent = pino({ level: 'silent' })

/** A BackPressure over plain numbers the test moves, recording each flushNow(). */
function fixture (state: { pending: number, counting: number, backlog: number }, max = 1000) {
  const flushes: Array<{ pending: number, backlog: number }> = []
  const backPressure = new BackPressure({
    maxPendingUpdates: max,
    logger: silent,
    pendingUpdates: () => state.pending,
    countingUpdates: () => state.counting,
    countingBacklog: () => state.backlog,
    flushNow: () => { flushes.push({ pending: state.pending, backlog: state.backlog }) }
  })
  return { backPressure, flushes }
}

describe('BackPressure', () => {
  it('over MAX_PENDING_UPDATES for the counting backlog alone, waits for the thread and asks for no flush', async () => {
    const state = { pending: 300, counting: 300, backlog: 900 }
    const { backPressure, flushes } = fixture(state)
    assert.equal(backPressure.overBound, true)
    assert.equal(backPressure.mustPauseReading(), true)
    const waiting = backPressure.waitForDrain(() => true)
    // The thread counts part of its backlog: still over, still no flush.
    state.backlog = 800
    state.pending = 320
    backPressure.wakeReaders()
    await new Promise((resolve) => setImmediate(resolve))
    // It counts the rest: 900 characters made 40 updates.
    state.backlog = 0
    state.pending = 340
    backPressure.wakeReaders()
    await waiting
    assert.deepEqual(flushes, [])
  })

  it('asks for a flush when the counted updates are half of MAX_PENDING_UPDATES, with or without a backlog', async () => {
    for (const backlog of [0, 600]) {
      const state = { pending: backlog === 0 ? 1001 : 500, counting: 0, backlog }
      const { backPressure, flushes } = fixture(state)
      const waiting = backPressure.waitForDrain(() => true)
      assert.deepEqual(flushes, [{ pending: state.pending, backlog }])
      // The flush committed: what it held is no longer pending.
      state.pending = 0
      state.backlog = 0
      backPressure.storeCommitted(1000, 100)
      await waiting
    }
  })

  it('asks for a flush when the batch being counted uses the read-ahead, backlog or not', async () => {
    const state = { pending: 0, counting: MIN_READ_AHEAD_UPDATES + 1, backlog: 10 }
    const { backPressure, flushes } = fixture(state, 10_000_000)
    assert.equal(backPressure.overBound, false)
    const waiting = backPressure.waitForDrain(() => true)
    assert.equal(flushes.length, 1)
    state.counting = 0
    backPressure.storeCommitted(MIN_READ_AHEAD_UPDATES, 1000)
    await waiting
  })

  it('asks for no flush while the store does not answer: only MAX_PENDING_UPDATES holds the reader then', async () => {
    const state = { pending: 2000, counting: 2000, backlog: 0 }
    const { backPressure, flushes } = fixture(state)
    backPressure.storeFailed()
    const waiting = backPressure.waitForDrain(() => true)
    assert.deepEqual(flushes, [])
    state.pending = 0
    backPressure.storeCommitted(2000, 10)
    await waiting
  })
})
