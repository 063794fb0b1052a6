import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { cleanupProcesses, lostAndDoubled, redisWorkerEnv, startChatStats, waitUntil } from '../helpers/processes.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { startStreamWithoutIds } from '../helpers/streams.js'

/**
 * Redis loses writes: it is SIGKILLed and restarted from a snapshot older
 * than what the worker committed. With event ids the worker notices (the
 * flush checks the store is where it left it), drops what it holds and
 * replays from the store's position: counts end exact. Without ids the loss
 * is measured and reported, with the right number.
 */

const SEED = 4242
const EVENTS = 12_000
/** Events a second: the run lasts a few seconds, long enough for two crashes. */
const RATE = 2500

function admin (port: number): Redis {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, enableOfflineQueue: false })
  client.on('error', () => {})
  return client
}

describe('Redis restarted from an older snapshot (RDB, then AOF): the worker replays, counts exact', () => {
  after(cleanupProcesses)

  it('SIGKILL twice in one run, once restarted from RDB, once from AOF (appendfsync everysec)', { timeout: 120_000 }, async (t) => {
    const redis = await startRedisServer()
    const client = admin(redis.port)
    const simulator = await startSimulator({ seed: SEED, rate: RATE, count: EVENTS, port: 0, host: '127.0.0.1' })
    t.after(async () => {
      await cleanupProcesses()
      await simulator.close()
      client.disconnect()
      await redis.close()
    })
    const namespace = 'reliability-rollback:'
    const positionKey = new RedisKeys(namespace).position
    const committed = async (): Promise<number> => Number((await client.get(positionKey).catch(() => null))?.split(':')[1] ?? 0)
    /** The committed event once the server answers again (right after a restart the client is still reconnecting). */
    const committedAfterRestart = async (): Promise<number> => {
      for (;;) {
        try {
          return Number((await client.get(positionKey))?.split(':')[1] ?? 0)
        } catch {
          await sleep(50)
        }
      }
    }
    const worker = startChatStats(['worker'], { env: redisWorkerEnv(redis.url, namespace, simulator.url, { FLUSH_INTERVAL_MS: '100' }) })

    // Crash 1: a snapshot (RDB), more commits after it, then SIGKILL and a restart that loads it.
    await waitUntil(async () => await committed() >= 2000, 'a first part committed', 60_000)
    await client.save()
    const saved1 = await committed()
    await waitUntil(async () => await committed() >= saved1 + 1500, 'commits after the snapshot', 60_000)
    const before1 = await committed()
    await redis.kill()
    await redis.start()
    const restartedAt = Date.now()
    const restored1 = await committedAfterRestart()
    assert.ok(restored1 < before1, `the store went back (${before1} -> ${restored1})`)
    const noticed = await worker.waitForLog((line) => /the store is behind what this worker committed/.test(line.msg), 'the worker noticed the first rollback', 30_000)
    // Recovered: the store holds again what it held before the crash.
    await waitUntil(async () => await committed() >= before1, 'the lost part replayed', 60_000, 50)
    const recoveredMs = Date.now() - restartedAt

    // Crash 2: the same server switched to AOF (everysec); its file is rewritten from the data, then the
    // server is killed and started with appendonly yes, loading the AOF.
    await client.config('SET', 'appendonly', 'yes')
    await client.config('SET', 'appendfsync', 'everysec')
    await waitUntil(async () => /aof_rewrite_in_progress:0/.test(await client.info('persistence')) && /aof_enabled:1/.test(await client.info('persistence')), 'the AOF written', 30_000)
    await waitUntil(async () => await committed() >= before1 + 1500, 'commits on AOF', 60_000)
    const before2 = await committed()
    await redis.kill()
    await redis.start(['--appendonly', 'yes', '--appendfsync', 'everysec'])
    const restored2 = await committedAfterRestart()
    assert.match(await client.info('persistence'), /aof_enabled:1/)

    await waitUntil(async () => await committed() === EVENTS, `event ${EVENTS} committed`, 90_000, 100)
    worker.signal('SIGTERM')
    assert.equal((await worker.exited).code, 0, worker.tail())

    const expected = expectedCounts(SEED, EVENTS)
    const dump = await dumpRedisCounts(client, namespace, expected.roomDetail.keys())
    const { lost, doubled } = lostAndDoubled(dump, expected)
    const rollbacks = Number(await client.hget(new RedisKeys(namespace).totals, 'storeRollbacks'))
    t.diagnostic(`| Redis SIGKILLed, restarted from RDB: ${before1 - restored1} events behind, noticed ${noticed.time - restartedAt} ms after the restart, recovered in ${recoveredMs} ms; from AOF everysec: ${before2 - restored2} events behind | ${lost} lost | ${doubled} doubled | rollbacks recorded ${rollbacks} |`)
    assert.deepEqual(differences(dump, expected), [])
    assert.ok(rollbacks >= 1, `the store records the rollback (${rollbacks})`)
    assert.equal(Number(await client.hget(new RedisKeys(namespace).totals, 'messagesLost') ?? 0), 0, 'nothing lost for good: the stream was replayed')
  })
})

describe('Redis rollback under a stream without ids: the loss is measured and reported', () => {
  after(cleanupProcesses)

  it('reports the messages the store lost (log, metric, /stats) with the right number', { timeout: 90_000 }, async (t) => {
    const TOTAL = 5000
    const redis = await startRedisServer()
    const client = admin(redis.port)
    const stream = await startStreamWithoutIds(TOTAL, 40)
    t.after(async () => {
      await cleanupProcesses()
      await stream.close()
      client.disconnect()
      await redis.close()
    })
    const namespace = 'reliability-rollback-noids:'
    const keys = new RedisKeys(namespace)
    const messages = async (): Promise<number> => Number(await client.hget(keys.totals, 'messages').catch(() => null) ?? 0)
    const worker = startChatStats(['worker'], { env: redisWorkerEnv(redis.url, namespace, stream.url, { FLUSH_INTERVAL_MS: '100', WORKER_PORT: '0', NODE_HOST: '127.0.0.1' }) })
    const operations = await worker.waitForLog((line) => typeof line.address === 'string', 'worker metrics listening')

    await waitUntil(async () => await messages() >= 1500, 'a first part committed', 60_000)
    await client.save()
    const saved = await messages()
    await waitUntil(async () => await messages() >= saved + 1000, 'commits after the snapshot', 60_000)
    await redis.kill()
    await redis.start()
    const warned = await worker.waitForLog((line) => /cannot be replayed/.test(line.msg), 'the loss reported in the log', 30_000)

    // Everything read and committed: the worker's own counters say so.
    let metrics = ''
    await waitUntil(async () => {
      metrics = await (await fetch(`${operations.address as string}/metrics`)).text()
      return new RegExp(`^chat_stats_ingest_events_total\\{outcome="message"\\} ${TOTAL}$`, 'm').test(metrics) && /^chat_stats_pending_updates 0$/m.test(metrics)
    }, () => `the whole stream read and flushed\n${metrics.split('\n').filter((l) => l.startsWith('chat_stats_ingest') || l.startsWith('chat_stats_pending')).join('\n')}`, 60_000, 200)
    worker.signal('SIGTERM')
    assert.equal((await worker.exited).code, 0, worker.tail())

    const counted = await messages()
    const lostInStore = Number(await client.hget(keys.totals, 'messagesLost'))
    const truthLost = TOTAL - counted
    t.diagnostic(`| Redis rollback, stream without ids | ${truthLost} lost (reported ${lostInStore}, log ${String(warned.messagesLost)}) | 0 doubled |`)
    assert.ok(truthLost > 0, 'the rollback did lose messages')
    assert.equal(warned.messagesLost, truthLost)
    assert.equal(lostInStore, truthLost)
    assert.match(metrics, new RegExp(`^chat_stats_store_messages_lost_total ${truthLost}$`, 'm'))
    assert.match(metrics, /^chat_stats_store_rollbacks_total 1$/m)

    // GET /stats shows it too.
    const api = startChatStats(['api'], { env: { REDIS_URL: redis.url, REDIS_NAMESPACE: namespace, NODE_HOST: '127.0.0.1', NODE_PORT: '0', LOG_LEVEL: 'info' } })
    const listening = await api.waitForLog((line) => typeof line.address === 'string' && /^API on/.test(line.msg), 'API listening')
    const stats = await (await fetch(`${listening.address as string}/stats`)).json() as { totalMessages: number, messagesLost: number, storeRollbacks: number }
    assert.deepEqual([stats.totalMessages, stats.messagesLost, stats.storeRollbacks], [counted, truthLost, 1])
  })
})
