import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { httpSource } from '../../src/ingest/sources.js'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { createRedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import { Worker } from '../../src/worker/worker.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

const SEED = 11
const COUNT = Number(process.env.E2E_COUNT ?? 60_000)

/** Polls until the store's committed position reaches `lastEventId`. */
async function untilCommitted (store: RedisStore, lastEventId: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await store.position()).lastEventId !== lastEventId) {
    if (Date.now() > deadline) throw new Error(`position did not reach ${lastEventId} in ${timeoutMs} ms`)
    await sleep(50)
  }
}

describe('end to end: simulator over HTTP -> worker -> Redis', () => {
  const namespace = randomPrefix('e2e')
  const admin = createTestRedis()
  after(async () => {
    await deleteKeysWithPrefix(admin, namespace)
    admin.disconnect()
  })

  let expected: ReturnType<typeof expectedCounts>
  before(() => { expected = expectedCounts(SEED, COUNT) })

  it(`counts ${COUNT} events exactly: every word, nick, room, emote, room detail, message, failure`, async () => {
    const simulator = await startSimulator({ seed: SEED, rate: 0, count: COUNT, port: 0, host: '127.0.0.1' })
    const store = new RedisStore({
      redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 60_000 }),
      namespace,
      maxTrackedWords: 1_000_000,
      maxTrackedPerRoom: 100_000,
      maxTrackedRooms: 100_000
    })
    await store.open()
    const worker = new Worker({ store, source: httpSource(simulator.url, 'simulator'), logger: pino({ level: 'silent' }), flushIntervalMs: 100 })
    const running = worker.run()
    try {
      await untilCommitted(store, String(COUNT))
    } finally {
      await worker.stop()
      await running
      await simulator.close()
    }
    assert.equal(worker.tally.messages, expected.messages)
    assert.equal(worker.tally.failed, expected.failed)
    assert.ok(expected.failed > 0 && expected.events.size > 0 && expected.emotes.size > 0, 'the simulator mixes in failures, system events and emotes')

    const dump = await dumpRedisCounts(admin, namespace, expected.roomDetail.keys())
    assert.deepEqual(differences(dump, expected), [])
    const totals = await store.totals()
    assert.equal(totals.totalMessages, expected.messages)
    assert.equal(totals.failedMessages, expected.failed)
    await store.close()
  })
})
