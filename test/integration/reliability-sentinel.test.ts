import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { cleanupProcesses, lostAndDoubled, redisWorkerEnv, startChatStats, waitUntil } from '../helpers/processes.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { startSentinel } from '../helpers/redis-sentinel.js'

/**
 * A Sentinel-managed primary: a primary, one replica, three sentinels, all
 * real redis-server processes on loopback. The primary is SIGKILLed mid-run;
 * the sentinels promote the replica; the worker (REDIS_SENTINELS) follows
 * the failover, and replays what the replica had not received: counts exact.
 */

const SEED = 31337
const EVENTS = 10_000
const RATE = 2500
const NAME = 'chatstats'

describe('Redis Sentinel failover: the worker follows the promoted replica, counts exact', () => {
  after(cleanupProcesses)

  it('primary SIGKILLed mid-run, replica promoted by three sentinels', { timeout: 120_000 }, async (t) => {
    const primary = await startRedisServer()
    const replica = await startRedisServer(['--replicaof', '127.0.0.1', String(primary.port)])
    const sentinels = await Promise.all([0, 1, 2].map(async () => await startSentinel({ name: NAME, primaryPort: primary.port, quorum: 2 })))
    const simulator = await startSimulator({ seed: SEED, rate: RATE, count: EVENTS, port: 0, host: '127.0.0.1' })
    const replicaClient = new Redis({ port: replica.port, host: '127.0.0.1', maxRetriesPerRequest: 1 })
    replicaClient.on('error', () => {})
    t.after(async () => {
      await cleanupProcesses()
      await simulator.close()
      replicaClient.disconnect()
      for (const sentinel of sentinels) await sentinel.close()
      await primary.close()
      await replica.close()
    })
    await waitUntil(async () => /master_link_status:up/.test(await replicaClient.info('replication')), 'the replica in sync', 30_000)
    // The sentinels know each other and the replica before the primary fails.
    await sleep(2000)

    const namespace = 'reliability-sentinel:'
    const positionKey = new RedisKeys(namespace).position
    const committed = async (): Promise<number> => Number((await replicaClient.get(positionKey).catch(() => null))?.split(':')[1] ?? 0)
    const env = redisWorkerEnv('redis://127.0.0.1:1', namespace, simulator.url, {
      FLUSH_INTERVAL_MS: '100',
      REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: NAME
    })
    // No REDIS_URL: the sentinels alone say where the primary is.
    delete (env as Partial<Record<string, string>>).REDIS_URL
    const worker = startChatStats(['worker'], { env })

    await waitUntil(async () => await committed() >= EVENTS / 3, 'a third committed (seen on the replica)', 60_000)
    const killedAt = Date.now()
    const beforeKill = await committed()
    await primary.kill()
    await waitUntil(async () => /role:master/.test(await replicaClient.info('replication')), 'the replica promoted', 60_000, 100)
    const promotedAt = Date.now()
    await waitUntil(async () => await committed() > beforeKill, 'writes on the new primary past the pre-crash position', 60_000, 50)
    const recoveredAt = Date.now()
    await waitUntil(async () => await committed() === EVENTS, `event ${EVENTS} committed on the new primary`, 90_000, 100)
    worker.signal('SIGTERM')
    assert.equal((await worker.exited).code, 0, worker.tail())

    const expected = expectedCounts(SEED, EVENTS)
    const dump = await dumpRedisCounts(replicaClient, namespace, expected.roomDetail.keys())
    const { lost, doubled } = lostAndDoubled(dump, expected)
    t.diagnostic(`| Sentinel failover: primary SIGKILLed, replica promoted after ${((promotedAt - killedAt) / 1000).toFixed(1)} s, writes past the pre-crash position after ${((recoveredAt - killedAt) / 1000).toFixed(1)} s | ${lost} lost | ${doubled} doubled |`)
    assert.deepEqual(differences(dump, expected), [])
  })
})
