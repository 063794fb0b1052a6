import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Cluster } from 'ioredis'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { shardNamespace } from '../../src/store/redis/keys.js'
import { differences, dumpShardedCounts } from '../helpers/dump.js'
import { cleanupProcesses, lostAndDoubled, startChatStats, waitUntil } from '../helpers/processes.js'
import { startRedisCluster } from '../helpers/redis-cluster.js'

/**
 * A 3-master Redis Cluster with one replica per master. A master is
 * SIGKILLed mid-run; the cluster promotes its replica, which may lack the
 * last writes (replication is asynchronous): the worker sees that shard
 * behind, replays from the store's lowest position shard by shard, and the
 * counts end exact with STORE_SHARDS sharding.
 */

const SEED = 2718
const EVENTS = 8000
const RATE = 2000
const SHARDS = 6

describe('Redis Cluster failover: a master SIGKILLed, its replica promoted, counts exact', () => {
  after(cleanupProcesses)

  it(`3 masters + 3 replicas, STORE_SHARDS=${SHARDS}`, { timeout: 150_000 }, async (t) => {
    const cluster = await startRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1000 })
    const reader = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 3 }, clusterRetryStrategy: () => 100 })
    reader.on('error', () => {})
    const simulator = await startSimulator({ seed: SEED, rate: RATE, count: EVENTS, port: 0, host: '127.0.0.1' })
    t.after(async () => {
      await cleanupProcesses()
      await simulator.close()
      reader.disconnect()
      await cluster.close()
    })
    const namespace = 'reliability-cluster-failover:'
    const lowest = async (): Promise<number> => {
      try {
        const positions = await Promise.all(Array.from({ length: SHARDS }, async (_, i) => await reader.get(`${shardNamespace(namespace, i)}position`)))
        return Math.min(...positions.map((p) => Number(p?.split(':')[1] ?? 0)))
      } catch {
        return -1
      }
    }
    const worker = startChatStats(['worker'], {
      env: {
        REDIS_CLUSTER_NODES: [...cluster.nodes, ...cluster.replicaPorts.map((port) => `127.0.0.1:${port}`)].join(','),
        REDIS_NAMESPACE: namespace,
        STORE_SHARDS: String(SHARDS),
        CHAT_INTERFACE_URL: simulator.url,
        LOG_LEVEL: 'info',
        FLUSH_INTERVAL_MS: '100',
        MAX_TRACKED_WORDS: '10000000',
        MAX_TRACKED_PER_ROOM: '10000000',
        MAX_TRACKED_ROOMS: '100000'
      }
    })

    await waitUntil(async () => await lowest() >= EVENTS / 3, 'a third committed on every shard', 90_000, 100)
    const killedAt = Date.now()
    await cluster.killMaster(0)
    await waitUntil(async () => await lowest() === EVENTS, () => `event ${EVENTS} committed on every shard\n${worker.tail(20)}`, 120_000, 200)
    const doneAt = Date.now()
    worker.signal('SIGTERM')
    assert.equal((await worker.exited).code, 0, worker.tail())

    const expected = expectedCounts(SEED, EVENTS)
    const dump = await dumpShardedCounts(reader, namespace, SHARDS, expected.roomDetail.keys())
    const { lost, doubled } = lostAndDoubled(dump, expected)
    const rollbacks = worker.logs.filter((line) => /the store is behind what this worker committed/.test(line.msg)).length
    t.diagnostic(`| Cluster failover: master SIGKILLed, replica promoted (node timeout 1 s) | ${lost} lost | ${doubled} doubled | rollbacks seen ${rollbacks}; run ended ${((doneAt - killedAt) / 1000).toFixed(1)} s after the kill |`)
    assert.deepEqual(differences(dump, expected), [])
  })
})
