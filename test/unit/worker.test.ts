import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it, type TestContext } from 'node:test'
import { pino } from 'pino'
import type { ChunkSource, StreamConnection } from '../../src/ingest/sources.js'
import { type Batch, LeaseLostError, type Position, type StatsStore, StoreBehindError, type Totals } from '../../src/store/types.js'
import { Worker, type WorkerOptions } from '../../src/worker/worker.js'
import { waitUntil } from '../helpers/processes.js'

/**
 * The Worker against a fake store and a fake clock: the store records every
 * batch and can fail, lose a commit's answer or refuse the lease on demand;
 * the source hands out chunks only when the worker asks for them, so the
 * tests can tell how far it read.
 */

class FakeStore implements StatsStore {
  committed: Position = { sequence: 0, lastEventId: null }
  /** Every applyBatch call, in order, with its outcome. */
  readonly calls: Array<{ batch: Batch, outcome: 'applied' | 'duplicate' | 'failed' | 'lease-lost' | 'behind' }> = []
  /** Messages counted by committed batches. */
  messages = 0
  /** While true, applyBatch throws without writing. */
  down = false
  /** The next applyBatch commits, then throws as a timeout would: the worker cannot know it committed. */
  loseNextAnswer = false
  leaseHolder: string | null = null
  released = 0
  /** While true, applyBatch refuses every batch as behind, whatever its position says. */
  refuseAsBehind = false

  async open (): Promise<void> {}
  async close (): Promise<void> {}
  async ping (): Promise<void> {}

  async applyBatch (batch: Batch, leaseToken?: string): Promise<'applied' | 'duplicate'> {
    await sleep(1)
    if (leaseToken !== this.leaseHolder) {
      this.calls.push({ batch, outcome: 'lease-lost' })
      throw new LeaseLostError()
    }
    if (this.down) {
      this.calls.push({ batch, outcome: 'failed' })
      throw new Error('store down')
    }
    if (this.refuseAsBehind || (batch.previousSequence !== undefined && this.committed.sequence < batch.previousSequence)) {
      this.calls.push({ batch, outcome: 'behind' })
      throw new StoreBehindError()
    }
    if (batch.sequence <= this.committed.sequence) {
      this.calls.push({ batch, outcome: 'duplicate' })
      return 'duplicate'
    }
    this.committed = { sequence: batch.sequence, lastEventId: batch.lastEventId ?? this.committed.lastEventId }
    for (const slice of batch.slices) this.messages += slice.messages
    this.rollbacks += batch.storeRollbacks ?? 0
    this.messagesLost += batch.messagesLost ?? 0
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false
      this.calls.push({ batch, outcome: 'failed' })
      throw new Error('command timed out')
    }
    this.calls.push({ batch, outcome: 'applied' })
    return 'applied'
  }

  async position (): Promise<Position> { return this.committed }

  /** Loses writes, as Redis restarted from an older snapshot: back to `position` holding `messages`. */
  rollBack (position: Position, messages: number): void {
    this.committed = position
    this.messages = messages
  }
  async acquireLease (token: string): Promise<boolean> {
    this.leaseHolder ??= token
    return this.leaseHolder === token
  }

  async renewLease (token: string): Promise<boolean> { return this.leaseHolder === token }
  async releaseLease (token: string): Promise<void> {
    if (this.leaseHolder === token) this.leaseHolder = null
    this.released++
  }

  /** Rollbacks and lost messages the batches recorded. */
  rollbacks = 0
  messagesLost = 0

  // The worker reads the message total only (to measure what a rollback lost), never other statistics.
  async totals (): Promise<Totals> {
    return { totalMessages: this.messages, failedMessages: 0, events: {}, startedAt: null, lastMessageAt: null, storeRollbacks: this.rollbacks, messagesLost: this.messagesLost }
  }

  async series (): Promise<never> { throw new Error('not used') }
  async top (): Promise<never> { throw new Error('not used') }
  async roomTotals (): Promise<never> { throw new Error('not used') }
  async roomTop (): Promise<never> { throw new Error('not used') }
  async failedMessages (): Promise<never> { throw new Error('not used') }

  get applied (): Batch[] {
    return this.calls.filter((c) => c.outcome === 'applied').map((c) => c.batch)
  }
}

/** A stream the test writes to; the worker pulls one queued chunk at a time. */
class ScriptedSource implements ChunkSource {
  readonly label = 'scripted'
  /** The Last-Event-ID of each connection. */
  readonly opens: Array<string | null> = []
  /** Chunks handed to the worker so far. */
  pulled = 0
  private readonly queue: Buffer[] = []
  private wake: (() => void) | null = null
  private ended = false

  constructor (readonly kind: 'http' | 'file' = 'http', readonly startsOver = false) {}

  write (text: string): void {
    this.queue.push(Buffer.from(text))
    this.wake?.()
  }

  end (): void {
    this.ended = true
    this.wake?.()
  }

  async open (lastEventId: string | null): Promise<StreamConnection> {
    this.opens.push(lastEventId)
    const connection = { closed: false }
    return { chunks: this.chunks(connection), totalBytes: null, close: () => { connection.closed = true; this.wake?.() } }
  }

  private async * chunks (connection: { closed: boolean }): AsyncGenerator<Buffer> {
    for (;;) {
      while (this.queue.length === 0 && !this.ended && !connection.closed) await new Promise<void>((resolve) => { this.wake = resolve })
      if (connection.closed || this.queue.length === 0) return
      this.pulled++
      yield this.queue.shift()!
    }
  }
}

const chatEvent = (id: number, body = `hello ${id}`): string =>
  `id: ${id}\ndata: ${JSON.stringify({ command: '', room: '#r', nick: `n${id % 7}`, target: '', body, tags: '' })}\n\n`

const events = (from: number, to: number): string => {
  let text = ''
  for (let id = from; id <= to; id++) text += chatEvent(id)
  return text
}

interface Setup {
  store: FakeStore
  source: ScriptedSource
  worker: Worker
  running: Promise<void>
  clock: { offset: number, readonly now: number }
}

function startWorker (t: TestContext, options: Partial<WorkerOptions> & { source?: ScriptedSource, store?: FakeStore } = {}): Setup {
  const store = options.store ?? new FakeStore()
  const source = options.source ?? new ScriptedSource()
  // The fake clock: starts at a fixed instant and runs with real time (so the final flush's deadline comes),
  // plus whatever a test adds to `offset`. Event and failure times come from it, not from the machine.
  const realStart = Date.now()
  const clock = { offset: 0, get now (): number { return 1_700_000_000_000 + (Date.now() - realStart) + this.offset } }
  const worker = new Worker({
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    flushIntervalMs: 30,
    leaseTtlMs: 300,
    clock: () => clock.now,
    ...options,
    store,
    source
  })
  const running = worker.run()
  t.after(async () => { await worker.stop(); await running })
  return { store, source, worker, running, clock }
}

const totalMessages = (batches: Batch[]): number => batches.reduce((n, b) => n + b.slices.reduce((m, s) => m + s.messages, 0), 0)

for (const countingThread of [false, true]) describe(`Worker (fake store, fake clock), counting ${countingThread ? 'in a thread of its own' : 'in the worker\'s thread'}`, () => {
  it('flushes what was counted every FLUSH_INTERVAL_MS, with the ordinal of its last event as sequence, and nothing while idle', async (t) => {
    const { store, source, worker } = startWorker(t, { countingThread, flushIntervalMs: 400 })
    await waitUntil(() => worker.role === 'active' && source.opens.length === 1, 'active')
    source.write(events(1, 5))
    await waitUntil(() => worker.tally.messages === 5, 'five counted')
    // Counted, but the tick has not come yet.
    assert.equal(store.calls.length, 0)
    await waitUntil(() => store.applied.length === 1, 'the first flush', 5000, 5)
    assert.deepEqual(store.applied.map((b) => [b.sequence, b.lastEventId, totalMessages([b])]), [[5, '5', 5]])
    source.write(events(6, 8))
    await waitUntil(() => store.applied.length === 2, 'the second flush', 5000, 5)
    assert.deepEqual(store.applied.map((b) => [b.sequence, b.lastEventId, totalMessages([b])]), [[5, '5', 5], [8, '8', 3]])
    // An idle stream sends nothing: an empty builder is not a batch.
    await sleep(1000)
    assert.equal(store.calls.length, 2)
    assert.equal(worker.pendingUpdates, 0)
  })

  it('files each message in the slice of its second on the worker clock', async (t) => {
    const { store, source, worker, clock } = startWorker(t, { countingThread })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(chatEvent(1))
    await waitUntil(() => worker.tally.messages === 1, 'one counted')
    clock.offset += 2000
    source.write(chatEvent(2))
    await waitUntil(() => store.committed.sequence === 2, 'both committed')
    const seconds = store.applied.flatMap((b) => b.slices.map((s) => s.second))
    assert.equal(seconds.length, 2)
    // Two seconds of the fake clock apart, however long the test took in real time.
    assert.ok(seconds[1]! - seconds[0]! >= 2 && seconds[1]! - seconds[0]! <= 3, `seconds ${seconds.join(', ')}`)
  })

  it('resends a batch whose answer was lost, unchanged, and the store counts it once', async (t) => {
    const store = new FakeStore()
    store.loseNextAnswer = true
    const { source, worker } = startWorker(t, { countingThread, store })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(events(1, 10))
    await waitUntil(() => store.calls.some((c) => c.outcome === 'duplicate'), 'the resend answered duplicate')
    const [first, resent] = store.calls
    assert.equal(first!.outcome, 'failed')
    assert.equal(resent!.batch, first!.batch, 'the same batch object is resent')
    assert.equal(store.messages, 10)
    source.write(events(11, 12))
    await waitUntil(() => store.committed.sequence === 12, 'the next batch')
    assert.equal(store.messages, 12)
    assert.deepEqual(store.calls.map((c) => [c.batch.sequence, c.outcome]), [[10, 'failed'], [10, 'duplicate'], [12, 'applied']])
  })

  it('on a lost lease drops what it had not committed, stands by, and resumes from the committed position when the lease is free again', async (t) => {
    const { store, source, worker } = startWorker(t, { countingThread, flushIntervalMs: 30 })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(events(1, 4))
    await waitUntil(() => store.committed.sequence === 4, 'first commit')
    store.down = true
    source.write(events(5, 9))
    await waitUntil(() => worker.tally.messages === 9 && store.calls.some((c) => c.outcome === 'failed'), 'counted while the store is down')
    // Another worker takes the lease and commits: this one's counts of 5..9 are not its to write any more.
    store.leaseHolder = 'another worker'
    store.committed = { sequence: 6, lastEventId: '6' }
    await waitUntil(() => worker.role === 'standby', 'standby')
    assert.equal(worker.pendingUpdates, 0)
    assert.equal(worker.connected, false)
    // The other worker stops; this one takes over from where that one committed.
    store.down = false
    store.leaseHolder = null
    await waitUntil(() => worker.role === 'active' && source.opens.length === 2, 'active again')
    assert.deepEqual(source.opens, [null, '6'])
    source.write(events(7, 9))
    await waitUntil(() => store.committed.sequence === 9, 'resumed')
    assert.deepEqual(store.applied.map((b) => b.sequence), [4, 9])
    assert.equal(totalMessages(store.applied), 4 + 3)
    assert.equal(worker.tally.messages, 12, 'the tally counts what was read, dropped or not')
  })

  it('takes back a lease that lapsed with nobody else committing, and keeps its counts', async (t) => {
    const { store, source, worker } = startWorker(t, { countingThread })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(events(1, 3))
    await waitUntil(() => store.committed.sequence === 3, 'first commit')
    store.down = true
    source.write(events(4, 6))
    await waitUntil(() => worker.tally.messages === 6, 'counted')
    store.leaseHolder = null // lapsed: free for whoever asks first
    store.down = false
    await waitUntil(() => store.committed.sequence === 6, 'committed after taking the lease back')
    assert.equal(worker.role, 'active')
    assert.equal(store.messages, 6)
  })

  it('stops reading at MAX_PENDING_UPDATES while the store is down, and reads on once it answers', async (t) => {
    const store = new FakeStore()
    store.down = true
    const { source, worker } = startWorker(t, { countingThread, store, maxPendingUpdates: 200 })
    await waitUntil(() => worker.role === 'active', 'active')
    // One event per chunk, each with a new word: a few counter updates each.
    for (let id = 1; id <= 400; id++) source.write(chatEvent(id, `word${id}`))
    await waitUntil(() => worker.pendingUpdates > 200, 'the bound reached')
    await sleep(300)
    const pulled = source.pulled
    const pending = worker.pendingUpdates
    await sleep(300)
    assert.equal(source.pulled, pulled, 'no chunk is read while above the bound')
    assert.ok(pulled < 400, `read ${pulled} of 400 chunks`)
    // One chunk past the bound at most: an event adds a handful of updates.
    assert.ok(pending > 200 && pending <= 210, `pending ${pending}`)
    store.down = false
    await waitUntil(() => store.committed.sequence === 400, 'everything committed once the store answers')
    assert.equal(store.messages, 400)
  })

  it('bounds a replay spread over a day by its slices too: reading stops at MAX_PENDING_UPDATES while the store is down', async (t) => {
    const store = new FakeStore()
    store.down = true
    const { source, worker } = startWorker(t, { countingThread, store, maxPendingUpdates: 1000 })
    await waitUntil(() => worker.role === 'active', 'active')
    // Every message in a second of its own, 43 s apart: a day of event time, the same nick, room and word.
    const dayAgo = 1_700_000_000_000 - 86_400_000
    const sentAt = (id: number): string => `id: ${id}\ndata: ${JSON.stringify({ command: '', room: '#r', nick: 'n', target: '', body: 'same', tags: `tmi-sent-ts=${dayAgo + id * 43_000}` })}\n\n`
    for (let id = 1; id <= 2000; id++) source.write(sentAt(id))
    await waitUntil(() => worker.pendingUpdates > 1000, 'the bound reached')
    await sleep(300)
    const pulled = source.pulled
    await sleep(300)
    assert.equal(source.pulled, pulled, 'no chunk is read while above the bound')
    // A new second weighs SLICE_UPDATES plus its room, nick and word: far fewer than 2000 seconds are held.
    assert.ok(pulled < 100, `read ${pulled} of 2000 events`)
    assert.ok(worker.pendingUpdates <= 1000 + 20, `pending ${worker.pendingUpdates}`)
    store.down = false
    await waitUntil(() => store.committed.sequence === 2000, 'everything committed once the store answers')
    assert.equal(store.messages, 2000)
    const seconds = store.applied.flatMap((b) => b.slices.map((s) => s.second))
    assert.equal(new Set(seconds).size, 2000)
    for (const batch of store.applied) assert.deepEqual(batch.slices.map((s) => s.second), batch.slices.map((s) => s.second).sort((a, b) => a - b))
    assert.equal(Math.min(...seconds), (dayAgo + 43_000) / 1000)
  })

  it('on stop flushes everything counted before the next tick, then releases the lease', async (t) => {
    const { store, source, worker, running } = startWorker(t, { countingThread, flushIntervalMs: 60_000 })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(events(1, 50))
    await waitUntil(() => worker.tally.messages === 50, 'counted')
    assert.equal(store.calls.length, 0)
    await worker.stop()
    await running
    assert.equal(worker.role, 'stopped')
    assert.deepEqual(store.committed, { sequence: 50, lastEventId: '50' })
    assert.equal(store.messages, 50)
    assert.equal(store.released, 1)
    assert.equal(store.leaseHolder, null)
  })

  it('reads a file to its end, flushes, and returns', async (t) => {
    const source = new ScriptedSource('file')
    source.write(events(1, 20))
    source.end()
    const { store, running } = startWorker(t, { countingThread, source, flushIntervalMs: 60_000 })
    await running
    assert.equal(store.messages, 20)
    assert.equal(store.committed.lastEventId, '20')
  })

  it('when the store goes back (lost writes), drops what it holds and replays from the store\'s position: counts end exact, the rollback is recorded', async (t) => {
    const { store, source, worker } = startWorker(t, { countingThread })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(events(1, 4))
    await waitUntil(() => store.committed.sequence === 4, 'first commit')
    source.write(events(5, 8))
    await waitUntil(() => store.committed.sequence === 8, 'second commit')
    // Redis restarted from a snapshot taken after event 4: events 5..8 are gone from the store.
    store.rollBack({ sequence: 4, lastEventId: '4' }, 4)
    source.write(events(9, 10))
    await waitUntil(() => source.opens.length === 2, 'reconnected')
    assert.deepEqual(source.opens, [null, '4'])
    assert.ok(store.calls.some((c) => c.outcome === 'behind'), 'the store refused the batch on top of older counts')
    // The interface replays after event 4.
    source.write(events(5, 10))
    await waitUntil(() => store.committed.sequence === 10, 'replayed')
    assert.equal(store.messages, 10)
    assert.equal(store.rollbacks, 1)
    assert.equal(store.messagesLost, 0)
  })

  it('when the store goes back and the stream has no ids, measures the messages lost and records them with the next batch', async (t) => {
    const { store, source, worker } = startWorker(t, { countingThread })
    await waitUntil(() => worker.role === 'active', 'active')
    const noIds = (n: number): string => events(1, n).replace(/^id: .*\n/gm, '')
    source.write(noIds(3))
    await waitUntil(() => store.messages === 3, 'first commit')
    const kept = { ...store.committed }
    source.write(noIds(5))
    await waitUntil(() => store.messages === 8, 'second commit')
    // The store lost the second commit (5 messages); the lease lapsed with it.
    store.rollBack(kept, 3)
    store.leaseHolder = null
    source.write(noIds(2))
    await waitUntil(() => store.messagesLost > 0, 'the loss recorded')
    assert.equal(store.messagesLost, 5)
    assert.equal(store.rollbacks, 1)
    await waitUntil(() => store.messages === 5, 'the messages read since are counted')
    assert.deepEqual(source.opens, [null], 'nothing to replay from: no reconnection')
    assert.equal(worker.role, 'active')
  })

  it('logs a store that refuses every flush as behind while its position is not, once a minute, and keeps retrying', async (t) => {
    const warnings: Array<{ msg: string, refusals: number, committed: Position, store: Position }> = []
    const logger = pino({ level: 'warn' }, { write: (line: string) => { warnings.push(JSON.parse(line)) } })
    const { store, source, worker } = startWorker(t, { countingThread, logger })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(events(1, 4))
    await waitUntil(() => store.committed.sequence === 4, 'first commit')
    store.refuseAsBehind = true
    source.write(events(5, 8))
    await waitUntil(() => store.calls.filter((c) => c.outcome === 'behind').length >= 6, 'refused again and again')
    const disagreeing = warnings.filter((w) => w.msg.startsWith('the store refuses every flush as behind'))
    // Refused 6 times or more within the minute: logged once, from the second refusal, with both positions.
    assert.equal(disagreeing.length, 1)
    assert.equal(disagreeing[0]!.refusals, 2)
    assert.deepEqual(disagreeing[0]!.committed, { sequence: 4, lastEventId: '4' })
    assert.deepEqual(disagreeing[0]!.store, { sequence: 4, lastEventId: '4' })
    assert.equal(worker.role, 'active')
    assert.deepEqual(source.opens, [null], 'nothing replayed: the store did not go back')
    store.refuseAsBehind = false
    await waitUntil(() => store.committed.sequence === 8, 'committed once the store accepts')
    assert.equal(store.messages, 8)
    assert.equal(store.rollbacks, 0)
  })

  it('replays a capture into a store that committed part of it: skips what is committed, counts the rest once', async (t) => {
    const store = new FakeStore()
    store.committed = { sequence: 6, lastEventId: '6' }
    store.messages = 6
    const source = new ScriptedSource('file', true)
    const { worker, running } = startWorker(t, { countingThread, store, source })
    await waitUntil(() => worker.role === 'active', 'active')
    source.write(events(1, 10))
    source.end()
    await running
    assert.equal(store.messages, 10)
    assert.deepEqual(store.applied.map((b) => [b.sequence, totalMessages([b])]), [[10, 4]])
  })

  it('refuses a capture without ids into a store that holds a position, and one whose position it does not contain; --append counts it', async (t) => {
    const noIds = events(1, 3).replace(/^id: .*\n/gm, '')
    const refused = async (text: string, committed: Position): Promise<string> => {
      const store = new FakeStore()
      store.committed = committed
      const source = new ScriptedSource('file', true)
      const worker = new Worker({ logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), flushIntervalMs: 30, leaseTtlMs: 300, store, source, countingThread })
      source.write(text)
      source.end()
      const err = await worker.run().then(() => null, (e: unknown) => e as Error)
      assert.equal(store.applied.length, 0, 'nothing counted')
      return err?.message ?? 'not refused'
    }
    assert.match(await refused(noIds, { sequence: 5, lastEventId: null }), /has no event ids.*--append/)
    assert.match(await refused(noIds, { sequence: 5, lastEventId: 'x' }), /has no event ids/)
    assert.match(await refused(events(1, 3), { sequence: 5, lastEventId: 'elsewhere' }), /"elsewhere" is not in scripted.*nothing was counted/)
    const store = new FakeStore()
    store.committed = { sequence: 5, lastEventId: null }
    store.messages = 5
    const source = new ScriptedSource('file', true)
    const { running } = startWorker(t, { countingThread, store, source, append: true })
    source.write(noIds)
    source.end()
    await running
    assert.equal(store.messages, 8)
  })
})
