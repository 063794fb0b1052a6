import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

/**
 * The Redis every test talks to (a real server, never a mock): REDIS_TEST_URL
 * when set (.ci/run starts one when the machine has none), else 127.0.0.1:6379.
 */
export const TEST_REDIS = testRedisAddress(process.env.REDIS_TEST_URL)

function testRedisAddress (url: string | undefined): { host: string, port: number } {
  if (url === undefined || url === '') return { host: '127.0.0.1', port: 6379 }
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port || 6379) }
}

/** A fresh key prefix, so a test sees and deletes only its own keys. */
export function randomPrefix (label = 'test'): string {
  return `${label}:${randomBytes(6).toString('hex')}:`
}

/** A plain client for tests (connects at once, queues while connecting). */
export function createTestRedis (): Redis {
  return new Redis({ ...TEST_REDIS, maxRetriesPerRequest: 1 })
}

/** `text` as a SCAN MATCH pattern that matches it literally. */
export function escapeGlob (text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}

/** Every key under `prefix` (SCAN, never KEYS). */
export async function keysWithPrefix (redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000)
    found.push(...keys)
    cursor = next
  } while (cursor !== '0')
  return found
}

/** Deletes every key under `prefix` (SCAN MATCH + UNLINK; never FLUSHDB). Returns how many. */
export async function deleteKeysWithPrefix (redis: Redis, prefix: string): Promise<number> {
  if (prefix === '') throw new Error('refusing to delete keys with an empty prefix')
  const keys = await keysWithPrefix(redis, prefix)
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500))
  return keys.length
}
