import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it, type TestContext } from 'node:test'
import { pino } from 'pino'
import { httpSource } from '../../src/ingest/sources.js'
import { StreamParser } from '../../src/ingest/stream-parser.js'
import { expectedCounts, generateRange, startSimulator } from '../../src/simulator/index.js'
import { createRedisClient } from '../../src/store/redis/redis-store.js'
import { ShardedRedisStore } from '../../src/store/redis/sharded-store.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'
import { Worker } from '../../src/worker/worker.js'
import { differences, dumpShardedCounts } from '../helpers/dump.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'
import { commitOnShards } from '../helpers/shards.js'
import { MESSAGE_WITHOUT_ID, startStreamWithoutIds } from '../helpers/streams.js'

const SEED = 77
const COUNT = 6000

/** The batch of events first..last of the simulator's stream, built as the worker builds it (its sequence: the ordinal of its last event). */
function batchOf (first: number, last: number): ReturnType<BatchBuilder['take']> {
  const builder = new BatchBuilder()
  const parser = new StreamParser({
    onEvent: (data, id) => builder.addEvent(data, id),
    onFailure: (raw, reason, id) => builder.addFailure(raw, reason, id),
    onSkipped: (_type, id) => builder.addSkipped(id)
  })
  parser.push(Buffer.from(generateRange(SEED, first, last)))
  parser.end(true)
  return builder.take(last)
}

/** Partial flushes a crashed worker may leave: [first event, last event, shards that committed it]. */
type History = Array<[number, number, number[]]>

const HISTORIES: Array<[string, History, string[]]> = [
  ['one crash mid-flush at each of three flushes', [[1, 1000, [0, 1, 2, 3]], [1001, 2500, [0, 2]], [2501, 4000, [2]]], ['2500:2500', '1000:1000', '4000:4000', '1000:1000']],
  // A second crash during a catch-up: shard 0 took the next batch, shard 1 did not, shard 3 had been ahead all along.
  ['a second crash while catching up', [[1, 1000, [0, 1, 2, 3]], [1001, 2500, [2, 3]], [2501, 4000, [3]], [1001, 2500, [0, 1]], [2501, 4000, [0]]], ['4000:4000', '2500:2500', '2500:2500', '4000:4000']],
  // The crash in the first flush: shards 1 and 3 never committed anything (no position, no event id) while 0 and 2 did.
  // The worker once resumed above every shard, as for a stream without ids: its batches were refused by the shards
  // behind, which the store did not count as having gone back, and the worker retried forever without a word.
  ['a crash in the very first flush, some shards never committed', [[1, 1000, [0, 2]]], ['1000:1000', '0:', '1000:1000', '0:']]
]

describe('sharded store: a worker resumes after a crash mid-flush (docs/STORAGE.md#sharding-on-a-redis-cluster)', () => {
  const admin = createTestRedis()
  after(() => admin.disconnect())

  /** A 4-shard store in a namespace of its own, closed and deleted after the test. */
  async function openStore (t: TestContext, prefix: string): Promise<{ namespace: string, store: ShardedRedisStore }> {
    const namespace = randomPrefix(prefix)
    const store = new ShardedRedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 60_000 }), namespace, shards: 4, maxTrackedWords: 1_000_000, maxTrackedPerRoom: 100_000, maxTrackedRooms: 100_000 })
    t.after(async () => {
      await store.close()
      await deleteKeysWithPrefix(admin, namespace)
    })
    await store.open()
    return { namespace, store }
  }

  for (const [label, history, positions] of HISTORIES) {
    it(`${label}: replays from the lowest shard position, each event only to the shards that had not committed it: exact counts`, async (t) => {
      const { namespace, store } = await openStore(t, 'catchup')
      for (const [first, last, shards] of history) await commitOnShards(store, batchOf(first, last), shards)
      assert.deepEqual((await store.shardPositions()).map((p) => `${p.sequence}:${p.lastEventId ?? ''}`), positions)
      const lowest = Math.min(...positions.map((p) => Number(p.split(':')[0])))

      const simulator = await startSimulator({ seed: SEED, rate: 0, count: COUNT, port: 0, host: '127.0.0.1' })
      const worker = new Worker({ store, source: httpSource(simulator.url, 'simulator'), logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), flushIntervalMs: 50 })
      const running = worker.run()
      try {
        const deadline = Date.now() + 60_000
        while ((await store.shardPositions()).some((p) => p.lastEventId !== String(COUNT))) {
          if (Date.now() > deadline) throw new Error('the shards did not all reach the end')
          await sleep(50)
        }
      } finally {
        await worker.stop()
        await running
        await simulator.close()
      }
      const expected = expectedCounts(SEED, COUNT)
      // The worker read from the lowest committed position on.
      assert.equal(worker.tally.messages, expected.messages - expectedCounts(SEED, lowest).messages)
      const dump = await dumpShardedCounts(admin, namespace, 4, expected.roomDetail.keys())
      assert.deepEqual(differences(dump, expected), [])
      assert.equal((await store.totals()).totalMessages, expected.messages)
      assert.deepEqual((await store.shardPositions()).map((p) => p.sequence), [COUNT, COUNT, COUNT, COUNT], 'sequences follow the stream')
    })
  }

  it('a stream without ids after a crash mid-flush: the worker resumes above every shard, and the shards behind take what comes next', async (t) => {
    const { store } = await openStore(t, 'catchup-noid')
    // Batches without an event id, as a worker on such a stream flushes them: the second reached shards 0 and 2 only.
    const batchWithoutIds = (messages: number, sequence: number): ReturnType<BatchBuilder['take']> => {
      const builder = new BatchBuilder()
      for (let i = 0; i < messages; i++) builder.addEvent(MESSAGE_WITHOUT_ID, '')
      return builder.take(sequence)
    }
    await commitOnShards(store, batchWithoutIds(100, 1), [0, 1, 2, 3])
    await commitOnShards(store, batchWithoutIds(50, 2), [0, 2])
    assert.deepEqual((await store.shardPositions()).map((p) => `${p.sequence}:${p.lastEventId ?? ''}`), ['2:', '1:', '2:', '1:'])

    const stream = await startStreamWithoutIds(1000, 50)
    const worker = new Worker({ store, source: httpSource(stream.url, 'stream without ids'), logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), flushIntervalMs: 50 })
    const running = worker.run()
    try {
      // Shard 0 holds the totals. The shards behind once refused every batch (the worker had committed 2, they held 1) and the worker retried forever.
      const deadline = Date.now() + 30_000
      while ((await store.totals()).totalMessages < 150 + 1000) {
        if (Date.now() > deadline) throw new Error(`the worker's messages did not all reach the store: ${(await store.totals()).totalMessages} of ${150 + 1000}`)
        await sleep(50)
      }
    } finally {
      await worker.stop()
      await running
      await stream.close()
    }
    assert.equal((await store.totals()).totalMessages, 1150)
    const positions = await store.shardPositions()
    assert.ok(positions.every((p) => p.sequence > 2 && p.sequence === positions[0]!.sequence), `every shard took the new batches: ${JSON.stringify(positions)}`)
  })
})
