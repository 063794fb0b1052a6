import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it, type TestContext } from 'node:test'
import { Cluster } from 'ioredis'
import { type ExpectedCounts, expectedCounts, type SimulatorHandle, startSimulator } from '../../src/simulator/index.js'
import { Random } from '../../src/simulator/prng.js'
import { shardNamespace } from '../../src/store/redis/keys.js'
import { differences, dumpShardedCounts } from '../helpers/dump.js'
import { type ChatStatsProcess, cleanupProcesses, killAll, startChatStats, waitUntil } from '../helpers/processes.js'
import { randomPrefix } from '../helpers/redis.js'
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js'

/**
 * Sharding on a Redis Cluster (docs/STORAGE.md#sharding-on-a-redis-cluster) end to end: the real `chat-stats worker` process on a
 * three-master Redis Cluster with the default 16 shards counts a seeded
 * simulator run exactly, through kill -9 mid-run (docs/RELIABILITY.md#exactly-once-kill--9-at-any-moment) and
 * through a slot moving to another master mid-run (ASK, then MOVED).
 */
const SHARDS = 16
const KILL_SEED = Number(process.env.RELIABILITY_KILL_SEED ?? randomInt(2 ** 31))

let cluster: TestRedisCluster
let reader: Cluster
before(async () => {
  cluster = await startRedisCluster()
  reader = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 3 } })
})
after(async () => {
  await cleanupProcesses()
  reader?.disconnect()
  await cluster?.close()
})

function spawnWorker (namespace: string, simulator: SimulatorHandle): ChatStatsProcess {
  return startChatStats(['worker'], {
    env: {
      REDIS_CLUSTER_NODES: cluster.nodes.join(','),
      REDIS_NAMESPACE: namespace,
      CHAT_INTERFACE_URL: simulator.url,
      LOG_LEVEL: 'info',
      // A short lease: a restarted worker waits for the killed one's lease to lapse.
      LEASE_TTL_MS: '1500',
      FLUSH_INTERVAL_MS: '100',
      MAX_TRACKED_WORDS: '10000000',
      MAX_TRACKED_PER_ROOM: '10000000',
      MAX_TRACKED_ROOMS: '100000'
    }
  })
}

/** Every shard's committed event id. */
async function shardPositions (namespace: string): Promise<string[]> {
  return await Promise.all(Array.from({ length: SHARDS }, async (_, i) => (await reader.get(`${shardNamespace(namespace, i)}position`)) ?? ''))
}

async function untilAllCommitted (namespace: string, count: number, worker: ChatStatsProcess): Promise<void> {
  await waitUntil(async () => (await shardPositions(namespace)).every((p) => p.endsWith(`:${count}`)), () => `every shard at ${count}\n${worker.tail(30)}`, 120_000, 100)
}

async function exact (t: TestContext, namespace: string, expected: ExpectedCounts): Promise<void> {
  const dump = await dumpShardedCounts(reader, namespace, SHARDS, expected.roomDetail.keys())
  assert.deepEqual(differences(dump, expected), [])
  t.diagnostic(`${expected.messages} messages, ${expected.words.size} words, ${expected.roomDetail.size} rooms: exact`)
}

/** A namespace and a seeded simulator for one test, and the workers it starts; all removed after it. */
async function startRun (t: TestContext, prefix: string, seed: number, count: number, rate = 0): Promise<{ namespace: string, simulator: SimulatorHandle, workers: ChatStatsProcess[] }> {
  const namespace = randomPrefix(prefix)
  const simulator = await startSimulator({ seed, rate, count, port: 0, host: '127.0.0.1' })
  const workers: ChatStatsProcess[] = []
  t.after(async () => {
    await killAll(workers)
    await simulator.close()
    await cluster.deleteKeysWithPrefix(namespace)
  })
  return { namespace, simulator, workers }
}

describe(`chat-stats worker on a 3-master Redis Cluster, ${SHARDS} shards`, () => {
  it('counts a 30,000-event run exactly', async (t) => {
    const count = 30_000
    const { namespace, simulator, workers } = await startRun(t, 'cluster-e2e', 21, count)
    const worker = spawnWorker(namespace, simulator)
    workers.push(worker)
    await untilAllCommitted(namespace, count, worker)
    await exact(t, namespace, expectedCounts(21, count))
  })

  it('kill -9 three times during a 100,000-event run: counts exact', async (t) => {
    const count = 100_000
    const { namespace, simulator, workers } = await startRun(t, 'cluster-kill', 5150, count)
    const random = new Random(KILL_SEED)
    const next = (): number => random.float()
    const kills: string[] = []
    for (let k = 0; k < 3; k++) {
      const servedAtStart = simulator.stats().eventsWritten
      // Further into the stream (the highest event served) than any worker before, not a number of
      // events served: a restarted worker first replays what was not committed, which could
      // otherwise ask for more than is left of the stream.
      const target = Math.min(simulator.stats().highestEventWritten + Math.floor(count * 0.25 * (0.4 + next())), Math.floor(count * 0.95))
      const worker = spawnWorker(namespace, simulator)
      workers.push(worker)
      await waitUntil(() => simulator.stats().highestEventWritten >= target || worker.exitStatus !== null, () => `event ${target} served (${simulator.stats().highestEventWritten} so far)\n${worker.tail(30)}`, 120_000, 20)
      assert.equal(worker.exitStatus, null, `the worker died on its own\n${worker.tail()}`)
      const delayMs = Math.floor(next() * 400)
      await sleep(delayMs)
      assert.equal((await worker.kill()).signal, 'SIGKILL')
      kills.push(`${simulator.stats().eventsWritten - servedAtStart} events served +${delayMs} ms (shards at ${[...new Set((await shardPositions(namespace)).map((p) => p.split(':')[1]))].join('/')})`)
    }
    const last = spawnWorker(namespace, simulator)
    workers.push(last)
    await untilAllCommitted(namespace, count, last)
    t.diagnostic(`kill seed ${KILL_SEED}: ${kills.join(', ')}`)
    await exact(t, namespace, expectedCounts(5150, count))
  })

  it('survives a shard\'s slot moving to another master mid-run (ASK while its keys move, MOVED after): counts exact', async (t) => {
    const count = 60_000
    // Paced, so the worker is writing throughout the migration.
    const { namespace, simulator, workers } = await startRun(t, 'cluster-move', 33, count, 8000)
    const worker = spawnWorker(namespace, simulator)
    workers.push(worker)
    await waitUntil(() => simulator.stats().eventsWritten >= 8000, '8000 events served', 60_000, 20)
    // Shard 0 holds the stream-wide counters: the busiest shard. Its hash tag is {s0}.
    const slot = Number(await cluster.admins[0]!.cluster('KEYSLOT', `${shardNamespace(namespace, 0)}totals`))
    const from = await cluster.ownerOf(slot)
    const to = (from + 1) % 3
    // A client follows ASK with ASKING to the new master.
    const askings = async (): Promise<number> => Number(/cmdstat_asking:calls=(\d+)/.exec(await cluster.admins[to]!.info('commandstats'))?.[1] ?? 0)
    const askingsBefore = await askings()
    let groups = 0
    let asked = 0
    await cluster.migrateSlot(slot, to, {
      between: async () => { groups++; await sleep(20) },
      // Every key has moved: the old master answers ASK for the slot until the hand-over. A
      // script meeting a half-moved slot gets TRYAGAIN instead, so wait for a flush to see ASK.
      beforeHandOver: async () => {
        await waitUntil(async () => (asked = await askings() - askingsBefore) > 0, 'the worker redirected by ASK', 10_000, 20)
      }
    })
    assert.equal(await cluster.ownerOf(slot), to)
    const servedAtMove = simulator.stats().eventsWritten
    assert.ok(servedAtMove < count, `the migration ended before the run (${servedAtMove} of ${count} served)`)
    await untilAllCommitted(namespace, count, worker)
    assert.equal(worker.exitStatus, null, 'the worker rode it out')
    t.diagnostic(`slot ${slot} moved from master ${from} to ${to} in ${groups} groups of keys (${asked} ASKING sent to the new master), ${servedAtMove} of ${count} events served by then; flush errors logged: ${worker.logs.filter((l) => l.msg.startsWith('flush failed')).length}`)
    await exact(t, namespace, expectedCounts(33, count))
  })
})
