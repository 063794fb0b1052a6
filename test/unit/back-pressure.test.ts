import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { BackPressure, MIN_READ_AHEAD_UPDATES } from '../../src/worker/back-pressure.js'
import { COUNTING_BACKLOG_CHARS } from '../../src/worker/counting.js'

const silent = pino({ level: 'silent' })

/**
 * A BackPressure over plain numbers the test moves, recording each flushNow(): `backlog` is the
 * most the events on their way to the counting thread can add, `backlogChars` their characters
 * (default: as many), `now` the clock in ms.
 */
function fixture (state: { pending: number, counting: number, backlog: number, backlogChars?: number, now?: number }, max = 1000) {
  const flushes: Array<{ pending: number, backlog: number }> = []
  const backPressure = new BackPressure({
    maxPendingUpdates: max,
    logger: silent,
    pendingUpdates: () => state.pending,
    countingUpdates: () => state.counting,
    countingBacklogUpdates: () => state.backlog,
    countingBacklogChars: () => state.backlogChars ?? state.backlog,
    flushNow: () => { flushes.push({ pending: state.pending, backlog: state.backlog }) },
    now: () => state.now ?? 0
  })
  return { backPressure, flushes }
}

/** Lets a woken waitForDrain run its next check. */
async function turn (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
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

  it('adds the time the reader waits to what it waited for: the store, or the counting thread; a pause that changes cause is split', async () => {
    // Over the bound for the backlog alone: the counting thread.
    const state: { pending: number, counting: number, backlog: number, backlogChars?: number, now: number } = { pending: 300, counting: 300, backlog: 900, now: 1000 }
    const { backPressure } = fixture(state)
    let waiting = backPressure.waitForDrain(() => true)
    state.now += 25
    // The thread counted part of it, and the counted updates reach half the bound: now a flush ends the pause.
    state.backlog = 600
    state.pending = 500
    backPressure.wakeReaders()
    await turn()
    assert.deepEqual(backPressure.pausedMs, { store: 0, counting: 25 })
    state.now += 40
    state.pending = 0
    state.backlog = 0
    backPressure.storeCommitted(1000, 100)
    await waiting
    assert.deepEqual(backPressure.pausedMs, { store: 40, counting: 25 })

    // Over COUNTING_BACKLOG_CHARS with few updates: the thread again.
    state.backlogChars = COUNTING_BACKLOG_CHARS + 1
    state.backlog = 10
    assert.equal(backPressure.overBound, false)
    waiting = backPressure.waitForDrain(() => true)
    state.now += 7
    state.backlogChars = 0
    state.backlog = 0
    backPressure.wakeReaders()
    await waiting
    assert.deepEqual(backPressure.pausedMs, { store: 40, counting: 32 })

    // A store that does not answer, over the bound: the store, and no flush is asked for.
    backPressure.storeFailed()
    state.pending = 1200
    waiting = backPressure.waitForDrain(() => true)
    state.now += 300
    state.pending = 0
    backPressure.storeCommitted(1200, 10)
    await waiting
    assert.deepEqual(backPressure.pausedMs, { store: 340, counting: 32 })
  })
})
