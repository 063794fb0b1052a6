import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { SharedReads } from '../../src/api/services/shared-reads.js'

/**
 * API_STALE_MS (stale while revalidating): past its ttl a result still answers
 * identical requests while the new read is in flight, for at most staleMs;
 * the request that starts the new read waits for it, and a failed read
 * leaves no stale answer behind.
 */

/** A read that resolves with `answer` when `release()` is called (a store busy with a flush script). */
function gatedRead<T> (answer: T): { work: () => Promise<T>, release: () => void, started: () => number } {
  let started = 0
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  return { work: async () => { started++; await gate; return answer }, release: () => open(), started: () => started }
}

describe('SharedReads: stale while revalidating (API_STALE_MS)', () => {
  it('while a new read is in flight, identical requests get the previous answer at once; the request that reads waits for the new one', async () => {
    const reads = new SharedReads(20, 1000)
    assert.equal(await reads.run('k', async () => 'v1'), 'v1')
    await sleep(30)
    const slow = gatedRead('v2')
    const reader = reads.run('k', slow.work)
    // Others meanwhile: the previous answer, without a read of their own.
    const others = await Promise.all(Array.from({ length: 5 }, async () => await reads.run('k', async () => 'never')))
    assert.deepEqual(others, ['v1', 'v1', 'v1', 'v1', 'v1'])
    assert.equal(slow.started(), 1)
    slow.release()
    assert.equal(await reader, 'v2')
    assert.equal(await reads.run('k', async () => 'never'), 'v2')
  })

  it('staleMs 0: requests behind an in-flight read wait for it (no stale answer)', async () => {
    const reads = new SharedReads(20, 0)
    await reads.run('k', async () => 'v1')
    await sleep(30)
    const slow = gatedRead('v2')
    const reader = reads.run('k', slow.work)
    let settled: string | undefined
    const other = reads.run('k', async () => 'never').then((v) => { settled = v; return v })
    await sleep(10)
    assert.equal(settled, undefined, 'a request must wait for the in-flight read')
    slow.release()
    assert.deepEqual(await Promise.all([reader, other]), ['v2', 'v2'])
  })

  it('no answer is served more than ttl + staleMs after its read started', async () => {
    const reads = new SharedReads(20, 40)
    await reads.run('k', async () => 'v1')
    await sleep(30)
    const slow = gatedRead('v2')
    const reader = reads.run('k', slow.work)
    assert.equal(await reads.run('k', async () => 'never'), 'v1')
    // Past ttl + staleMs of v1's read: the in-flight read, not v1.
    await sleep(50)
    let settled: string | undefined
    const late = reads.run('k', async () => 'never').then((v) => { settled = v; return v })
    await sleep(5)
    assert.equal(settled, undefined, 'past the stale bound a request waits for the new read')
    slow.release()
    assert.deepEqual(await Promise.all([reader, late]), ['v2', 'v2'])
  })

  it('an in-flight read is shared past its ttl: a slow store gets one read at a time per key', async () => {
    const reads = new SharedReads(10, 0)
    const slow = gatedRead('v1')
    const first = reads.run('k', slow.work)
    await sleep(30)
    const second = reads.run('k', async () => 'another read')
    slow.release()
    assert.deepEqual(await Promise.all([first, second]), ['v1', 'v1'])
    assert.equal(slow.started(), 1)
  })

  it('a failed read answers its own request with the error, leaves no stale answer, and the next request reads again', async () => {
    const reads = new SharedReads(20, 1000)
    await reads.run('k', async () => 'v1')
    await sleep(30)
    let fail: (error: Error) => void = () => {}
    const failing = reads.run('k', async () => await new Promise<string>((_resolve, reject) => { fail = reject }))
    assert.equal(await reads.run('k', async () => 'never'), 'v1')
    fail(new Error('store down'))
    await assert.rejects(failing, /store down/)
    assert.equal(await reads.run('k', async () => 'v3'), 'v3')
  })

  it('admit runs only for the request that starts a read, never for one answered stale', async () => {
    const reads = new SharedReads(20, 1000)
    let admitted = 0
    const admit = async (): Promise<void> => { admitted++ }
    await reads.run('k', async () => 'v1', undefined, admit)
    await sleep(30)
    const slow = gatedRead('v2')
    const reader = reads.run('k', slow.work, undefined, admit)
    // Once that read has started (its admit has run), a request answered stale is not admitted.
    await sleep(1)
    assert.equal(await reads.run('k', async () => 'never', undefined, admit), 'v1')
    slow.release()
    await reader
    assert.equal(admitted, 2)
  })

  it('isShared: true exactly while `run` would give that answer without a read (current and younger than ttl, or the previous one while a newer read is in flight, within staleMs)', async () => {
    const reads = new SharedReads(20, 200)
    const v1 = { v: 1 }
    const v2 = { v: 2 }
    assert.equal(await reads.run('k', async () => v1), v1)
    assert.equal(reads.isShared(v1), true)
    assert.equal(reads.isShared({ v: 1 }), false, 'an equal object is not the shared answer')
    await sleep(30)
    // Past the ttl with no read in flight: the next request reads.
    assert.equal(reads.isShared(v1), false)
    const slow = gatedRead(v2)
    const reader = reads.run('k', slow.work)
    assert.equal(reads.isShared(v1), true, 'the previous answer while the new read is in flight')
    assert.equal(await reads.run('k', async () => ({ v: 0 })), v1)
    slow.release()
    assert.equal(await reader, v2)
    assert.equal(reads.isShared(v1), false, 'not once the new answer is in')
    assert.equal(reads.isShared(v2), true)

    // Past ttl + staleMs of its read, the previous answer is no longer given, nor replayed.
    await sleep(30)
    const slower = gatedRead({ v: 3 })
    const third = reads.run('k', slower.work)
    assert.equal(reads.isShared(v2), true)
    await sleep(250)
    assert.equal(reads.isShared(v2), false)
    slower.release()
    await third

    // ttl 0: nothing is shared.
    const unshared = new SharedReads(0, 1000)
    const v = { v: 4 }
    await unshared.run('k', async () => v)
    assert.equal(unshared.isShared(v), false)
  })
})
