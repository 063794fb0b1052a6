import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { expectedCounts, startSimulator } from '../../src/simulator/index.js'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { differences, dumpRedisCounts } from '../helpers/dump.js'
import { cleanupProcesses, makeTempDir, redisWorkerEnv, startChatStats } from '../helpers/processes.js'
import { deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

const TEST_REDIS_URL = `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`

/**
 * `worker --file` counts each event once: a capture replayed into a store
 * that already committed it (or part of it) skips what is committed; a
 * capture without ids into a store that holds counts is refused with one
 * line (exit 2), unless --append asks for it (the unit tests cover --append).
 */

const SEED = 99
const EVENTS = 2000

describe('worker --file replayed twice counts once', () => {
  after(cleanupProcesses)

  it('a capture with ids: the second run skips what the first committed; one without ids is refused (--append: test/unit/worker.test.ts)', { timeout: 90_000 }, async (t) => {
    const namespace = randomPrefix('file-replay')
    const redis = new Redis(TEST_REDIS)
    const dir = makeTempDir('capture')
    const simulator = await startSimulator({ seed: SEED, rate: 0, count: EVENTS, port: 0, host: '127.0.0.1' })
    t.after(async () => {
      await cleanupProcesses()
      await simulator.close()
      await deleteKeysWithPrefix(redis, namespace)
      redis.disconnect()
    })
    const capture = join(dir, 'capture.sse')
    writeFileSync(capture, await (await fetch(simulator.url)).text())
    const env = redisWorkerEnv(TEST_REDIS_URL, namespace, 'http://unused.invalid/', { FLUSH_INTERVAL_MS: '50' })
    const run = async (args: string[]): Promise<{ code: number | null, stderr: string, alreadyCommitted: unknown, counted: unknown }> => {
      const worker = startChatStats(['worker', ...args], { env })
      const { code } = await worker.exited
      const skipped = worker.logs.find((line) => typeof line.alreadyCommitted === 'number')
      const end = worker.logs.find((line) => line.msg === 'end of input: counts committed')
      return { code, stderr: worker.tail(10), alreadyCommitted: skipped?.alreadyCommitted, counted: end?.messages }
    }

    const expected = expectedCounts(SEED, EVENTS)
    assert.equal((await run(['--file', capture])).code, 0)
    const second = await run(['--file', capture])
    assert.equal(second.code, 0, second.stderr)
    assert.equal(second.counted, 0, 'the second run counted nothing')
    assert.ok(typeof second.alreadyCommitted === 'number' && second.alreadyCommitted >= EVENTS, `it skipped the whole capture as committed (${String(second.alreadyCommitted)})`)
    assert.deepEqual(differences(await dumpRedisCounts(redis, namespace, expected.roomDetail.keys()), expected), [])

    // The same capture without its ids: the store cannot tell what of it it holds.
    const withoutIds = join(dir, 'no-ids.sse')
    writeFileSync(withoutIds, (await (await fetch(simulator.url)).text()).replace(/^id: .*\n/gm, ''))
    const refused = await run(['--file', withoutIds])
    assert.equal(refused.code, 2, refused.stderr)
    assert.match(refused.stderr, /chat-stats worker: \S*no-ids\.sse has no event ids.*--append/)
    assert.equal(Number(await redis.hget(new RedisKeys(namespace).totals, 'messages')), expected.messages, 'nothing counted')
  })
})
