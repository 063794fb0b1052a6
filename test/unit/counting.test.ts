import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { StreamParser } from '../../src/ingest/stream-parser.js'
import { generateRange } from '../../src/simulator/generator.js'
import type { Batch } from '../../src/store/types.js'
import { BackPressure } from '../../src/worker/back-pressure.js'
import { maxUpdatesOf } from '../../src/worker/batch-builder.js'
import { COUNTING_BACKLOG_CHARS, type Counting, LocalCounting, ThreadCounting, useCountingThread } from '../../src/worker/counting.js'
import { CELL } from '../../src/worker/counting-protocol.js'

const silent = pino({ level: 'silent' })

/** Feeds SSE text to a counting as the worker does: through the stream parser. */
function feed (counting: Counting, text: string): void {
  const parser = new StreamParser({
    onEvent: (data, id) => { counting.addEvent(data, id) },
    onFailure: (raw, reason, id) => { counting.addFailure(raw, reason, id) },
    onSkipped: (_type, id) => { counting.addSkipped(id) }
  })
  const bytes = Buffer.from(text)
  // Chunks of odd sizes, as a socket delivers them.
  for (let i = 0; i < bytes.length; i += 7001) parser.push(bytes.subarray(i, i + 7001))
  parser.end(true)
}

/** A batch without the arrival times of its failed messages (the only thing not fixed by the shared clock below). */
function comparable (batch: Batch): unknown {
  return { ...batch, failedLog: batch.failedLog.map(({ raw, reason }) => ({ raw, reason })) }
}

/** One fixed instant for both countings: events without tmi-sent-ts (the simulator's NOTICEs) land in the same second. */
const NOW = Date.now()
const clock = (): number => NOW

async function withThread (t: { after: (fn: () => Promise<void>) => void }, maxEventCommands = 12): Promise<ThreadCounting> {
  const counting = new ThreadCounting({ clock, maxEventCommands }, silent)
  t.after(async () => { await counting.close() })
  return counting
}

describe('counting in a thread of its own (ThreadCounting)', () => {
  it('makes the same batches as counting in the worker\'s thread, take after take, with failures, skipped events and system events', async (t) => {
    const thread = await withThread(t)
    const local = new LocalCounting({ clock, maxEventCommands: 12 })
    const parts = [generateRange(7, 1, 3000), 'se-data: {not json\n\n: comment\nbogus line\n\n', generateRange(7, 3001, 4000), generateRange(7, 4001, 9000)]
    for (const [i, part] of parts.entries()) {
      feed(local, part)
      feed(thread, part)
      assert.equal(thread.isEmpty, false)
      const [mine, theirs] = [await local.take(i + 1), await thread.take(i + 1)]
      assert.ok(mine.batch.slices.length > 0 || mine.batch.failedCount > 0)
      assert.deepEqual(comparable(theirs.batch), comparable(mine.batch))
      assert.equal(theirs.updates, mine.updates)
      assert.equal(thread.isEmpty, true)
    }
    assert.deepEqual(thread.tally, local.tally)
    assert.ok(local.tally.messages > 8000 && local.tally.failed > 0 && local.tally.skipped > 0 && local.tally.system > 0, JSON.stringify(local.tally))
  })

  it('drop() forgets what is being counted, the tally goes on, and the next batch holds only what came after', async (t) => {
    const thread = await withThread(t)
    const local = new LocalCounting({ clock, maxEventCommands: 12 })
    feed(thread, generateRange(3, 1, 500))
    thread.drop()
    assert.equal(thread.isEmpty, true)
    feed(thread, generateRange(3, 501, 700))
    feed(local, generateRange(3, 501, 700))
    const [mine, theirs] = [await local.take(1), await thread.take(1)]
    assert.deepEqual(comparable(theirs.batch), comparable(mine.batch))
    const dropped = new LocalCounting({ clock, maxEventCommands: 12 })
    feed(dropped, generateRange(3, 1, 500))
    assert.equal(thread.tally.messages, dropped.tally.messages + local.tally.messages)
  })

  it('is empty as the builder is: a skipped event without an id (a keep-alive) makes no batch, one with an id does', async (t) => {
    const thread = await withThread(t)
    const local = new LocalCounting({ clock, maxEventCommands: 12 })
    for (const counting of [thread, local]) counting.addSkipped('')
    assert.equal(thread.isEmpty, true)
    assert.equal(local.isEmpty, true)
    for (const counting of [thread, local]) counting.addSkipped('7')
    assert.equal(thread.isEmpty, false)
    assert.equal(local.isEmpty, false)
    const [mine, theirs] = [await local.take(1), await thread.take(1)]
    assert.deepEqual(theirs.batch, mine.batch)
    assert.equal(thread.tally.skipped, 2)
  })

  it('a batch the thread has taken counts as held until it is handed back: the updates never vanish on the way', async (t) => {
    const thread = await withThread(t)
    feed(thread, generateRange(17, 1, 2000))
    const local = new LocalCounting({ clock, maxEventCommands: 12 })
    feed(local, generateRange(17, 1, 2000))
    await new Promise<void>((resolve) => { thread.onCounted = () => { if (thread.backlogChars === 0) resolve() } })
    const held = thread.pendingUpdates
    assert.equal(held, local.pendingUpdates)
    const taken = thread.take(1)
    // White-box: block this thread's event loop until the counting thread has taken the batch
    // (its cell drops to 0), so the batch cannot have been received yet.
    const cells = (thread as unknown as { cells: Float64Array }).cells
    const until = Date.now() + 5000
    while (cells[CELL.pendingUpdates] !== 0 && Date.now() < until) { /* wait for the thread */ }
    assert.equal(cells[CELL.pendingUpdates], 0, 'the thread took the batch')
    assert.equal(thread.pendingUpdates, 0, 'nothing is being counted')
    assert.equal(thread.handingOverUpdates, held, 'the batch on its way is still held')
    assert.equal((await taken).updates, held)
    assert.equal(thread.pendingUpdates + thread.handingOverUpdates, 0)
  })

  it('a cut taken before later events holds exactly the events added before it', async (t) => {
    const thread = await withThread(t)
    feed(thread, generateRange(5, 1, 100))
    const first = thread.take(1)
    feed(thread, generateRange(5, 101, 300))
    const second = thread.take(2)
    const [a, b] = [await first, await second]
    assert.equal(a.batch.lastEventId, '100')
    assert.equal(b.batch.lastEventId, '300')
    const messages = (batch: Batch): number => batch.slices.reduce((n, s) => n + s.messages, 0)
    const local = new LocalCounting({ clock, maxEventCommands: 12 })
    feed(local, generateRange(5, 1, 100))
    assert.equal(messages(a.batch), messages((await local.take(1)).batch))
  })

  it('holds the reader while COUNTING_BACKLOG_CHARS of events wait for the thread, and lets it go when the thread has counted them', async (t) => {
    const thread = await withThread(t)
    let counted = 0
    const backPressure = new BackPressure({ maxPendingUpdates: 1e9, logger: silent, pendingUpdates: () => 0, countingUpdates: () => 0, flushNow: () => { throw new Error('a counting backlog asks for no flush') }, countingBacklogChars: () => thread.backlogChars, countingBacklogUpdates: () => thread.backlogUpdates })
    thread.onCounted = () => { counted++; backPressure.wakeReaders() }
    const big = 'x'.repeat(64 * 1024)
    for (let i = 0; i * big.length <= COUNTING_BACKLOG_CHARS; i++) thread.addEvent(big, String(i + 1))
    assert.ok(thread.backlogChars > COUNTING_BACKLOG_CHARS)
    assert.equal(backPressure.mustPauseReading(), true)
    await backPressure.waitForDrain(() => true)
    assert.ok(thread.backlogChars <= COUNTING_BACKLOG_CHARS)
    assert.ok(counted >= 1)
    // Each 64 KiB line is one failed message (not JSON).
    const { batch } = await thread.take(1)
    assert.equal(batch.failedCount, Math.floor(COUNTING_BACKLOG_CHARS / big.length) + 1)
    assert.equal(thread.backlogChars, 0)
  })

  it('MAX_PENDING_UPDATES holds with the thread: events not yet counted count as the most they can add (maxUpdatesOf) until they are', async (t) => {
    const thread = await withThread(t)
    const backPressure = new BackPressure({ maxPendingUpdates: 5000, logger: silent, pendingUpdates: () => thread.pendingUpdates, countingUpdates: () => 0, flushNow: () => {}, countingBacklogChars: () => thread.backlogChars, countingBacklogUpdates: () => thread.backlogUpdates })
    thread.onCounted = () => { backPressure.wakeReaders() }
    // What a reader does: one event, then a look at back-pressure, until it must wait.
    const events = generateRange(11, 1, 4000).split('\n\n').filter((e) => e.includes('data: ')).map((e) => e.slice(e.indexOf('data: ') + 6))
    let added = 0
    while (!backPressure.overBound) thread.addEvent(events[added] as string, String(++added))
    await backPressure.waitForDrain(() => backPressure.overBound)
    // The reader stopped before the bound could be crossed, and nothing it added is on its way any more.
    assert.equal(thread.backlogChars, 0)
    assert.equal(thread.backlogUpdates, 0)
    // At most the last event's charge over: the reader looks before each event, and that one may cross.
    assert.ok(thread.pendingUpdates <= 5000 + maxUpdatesOf(events[added - 1] as string), `pending ${thread.pendingUpdates}`)
    const local = new LocalCounting({ clock, maxEventCommands: 12 })
    for (let i = 0; i < added; i++) local.addEvent(events[i] as string, String(i + 1))
    assert.equal(thread.pendingUpdates, local.pendingUpdates)
  })

  it('a thread that fails (here an item it cannot read, sent past the public calls) rejects the take waiting for it and refuses further events with its error', async (t) => {
    const thread = await withThread(t)
    feed(thread, generateRange(13, 1, 10))
    const taken = thread.take(1)
    // White-box fault injection: the only way to make the thread itself throw.
    ;(thread as unknown as { post: (message: unknown) => void }).post({ type: 'events', items: ['?'], chars: 1, now: NOW })
    const second = thread.take(2)
    assert.equal((await taken).batch.lastEventId, '10')
    await assert.rejects(second, /unknown item kind/)
    assert.throws(() => { thread.addEvent('{}', '11') }, /unknown item kind/)
    assert.equal(thread.backlogChars, 0, 'a failed thread holds no reader back: the error reaches it with its next event')
    assert.equal(thread.backlogUpdates, 0)
  })

  it('reports how long the thread has been busy: it grows with the events counted and keeps its value once the thread is closed', async (t) => {
    const thread = await withThread(t)
    assert.equal(new LocalCounting({ clock, maxEventCommands: 12 }).busyMs, null)
    const idle = thread.busyMs
    feed(thread, generateRange(15, 1, 20_000))
    await thread.take(1)
    const busy = thread.busyMs
    // 20,000 events take the thread tens of ms at least; an idle thread's event loop stays under a few.
    assert.ok(busy > idle + 10, `busy ${busy} ms, before ${idle} ms`)
    await thread.close()
    // A thread that has exited reports no time: what it did stays.
    const closed = thread.busyMs
    assert.ok(closed >= busy, `${closed} ms once closed, ${busy} ms before`)
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(thread.busyMs, closed)
  })

  it('once closed, refuses events and takes with an error instead of losing them', async (t) => {
    const thread = await withThread(t)
    feed(thread, generateRange(9, 1, 10))
    await thread.close()
    assert.throws(() => { thread.addEvent('{}', '11') }, /closed/)
    await assert.rejects(thread.take(1), /closed/)
  })
})

describe('COUNTING_THREAD', () => {
  it('on and off are what they say; auto follows the machine\'s cores', () => {
    assert.equal(useCountingThread('on'), true)
    assert.equal(useCountingThread('off'), false)
    assert.equal(typeof useCountingThread('auto'), 'boolean')
  })
})
