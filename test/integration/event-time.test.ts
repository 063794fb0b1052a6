import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createRedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
const TSX = import.meta.resolve('tsx')

/** A capture of `count` chat messages sent `stepMs` apart from `firstMs` on (the event shape of docs/COUNTING.md#the-input-stream). */
function capture (firstMs: number, count: number, stepMs: number): { text: string, perSecond: Map<number, number> } {
  let text = ''
  const perSecond = new Map<number, number>()
  for (let i = 0; i < count; i++) {
    const sent = firstMs + i * stepMs
    const tags = `badge-info=;badges=;color=;display-name=n${i % 13};emotes=;id=${i};mod=0;room-id=1;subscriber=0;tmi-sent-ts=${sent};turbo=0;user-id=${i};user-type=`
    text += `event: privmsg\nid: ${i + 1}\nse-data: ${JSON.stringify({ command: '', room: `#room${i % 5}`, nick: `n${i % 13}`, target: '', body: `message ${i}`, tags })}\n\n`
    const second = Math.floor(sent / 1000) * 1000
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1)
  }
  return { text, perSecond }
}

describe('event time: `worker --file` of a capture (docs/COUNTING.md#event-time)', () => {
  const admin = createTestRedis()
  const namespace = randomPrefix('eventtime')
  const dir = mkdtempSync(join(tmpdir(), 'chat-stats-eventtime-'))
  after(async () => {
    await deleteKeysWithPrefix(admin, namespace)
    admin.disconnect()
    rmSync(dir, { recursive: true, force: true })
  })

  it('puts each message in the per-second series at the second it was sent, not at the second it was read', async () => {
    // 700 messages over about 7 minutes (one every 0.6 s), the last one 10 minutes before now.
    const count = 700
    const stepMs = 600
    const firstMs = Math.floor((Date.now() - 10 * 60_000 - count * stepMs) / 1000) * 1000
    const { text, perSecond } = capture(firstMs, count, stepMs)
    const file = join(dir, 'capture.sse')
    writeFileSync(file, text)
    const readAt = Date.now()
    const result = spawnSync(process.execPath, ['--import', TSX, CLI, 'worker', '--file', file], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', REDIS_URL: `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`, REDIS_NAMESPACE: namespace, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 120_000
    })
    assert.equal(result.status, 0, result.stderr)

    const store = new RedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 30_000 }), namespace, maxTrackedWords: 100_000, maxTrackedPerRoom: 100_000 })
    await store.open()
    try {
      assert.equal((await store.totals()).totalMessages, count)
      const lastSecond = firstMs + (count - 1) * stepMs
      const series = await store.series('1s', firstMs - 60_000, Date.now())
      const seen = new Map(series.filter((p) => p.messages > 0).map((p) => [p.t, p.messages]))
      // The capture's shape: about 7 minutes of 1-2 messages a second, nothing at the moment it was read.
      assert.deepEqual(seen, perSecond)
      assert.ok(seen.size > 400, `${seen.size} seconds`)
      assert.equal(series.filter((p) => p.t >= readAt - 1000).reduce((n, p) => n + p.messages, 0), 0)
      // lastMessageAt is the event time of the last message.
      assert.equal((await store.totals()).lastMessageAt, lastSecond)
    } finally {
      await store.close()
    }
  })
})
