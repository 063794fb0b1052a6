import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { CountsArray, encodeMsgpack, type Packable } from '../../src/store/redis/msgpack.js'

/**
 * The flush's MessagePack, read back by the reader it is written for: Redis's
 * Lua cmsgpack.unpack, re-encoded as JSON by cjson (a real Redis, no keys).
 */
const url = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379'
const UNPACK = 'return cjson.encode(cmsgpack.unpack(ARGV[1]))'

describe('encodeMsgpack as Redis unpacks it', () => {
  let redis: Redis
  before(async () => { redis = new Redis(url, { lazyConnect: true }); await redis.connect() })
  after(async () => { await redis.quit() })

  const roundTrip = async (value: Packable): Promise<unknown> => JSON.parse(await redis.eval(UNPACK, 0, encodeMsgpack(value)) as string)

  it('keeps strings of every length class, ASCII and not, byte for byte', async () => {
    const strings = ['', 'a', 'kappa', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(255), 'w'.repeat(256), 'v'.repeat(70_000),
      'café', 'ñ'.repeat(15), 'ñ'.repeat(16), '日本語', '😀 emoji', 'a😀'.repeat(20), 'mixed ascii then é', 'é then ascii']
    assert.deepEqual(await roundTrip(strings), strings)
  })

  it('keeps integers of every width and nested arrays', async () => {
    const value: Packable = [0, 1, 127, 128, 255, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 1_700_000_000_000, -1, -129, ['k', [1, ['x']]], Array.from({ length: 20 }, (_, i) => i)]
    assert.deepEqual(await roundTrip(value), value)
  })

  it('writes a CountsArray as its head then the pairs of positive counts, the length patched in', async () => {
    const counts = new Map([['a', 3], ['zero', 0], ['b', 1], ['neg', -2], ...Array.from({ length: 40 }, (_, i) => [`w${i}`, i + 1] as [string, number])])
    const expected: unknown[] = ['key', 1000, 0, 'a', 3, 'b', 1, ...Array.from({ length: 40 }, (_, i) => [`w${i}`, i + 1]).flat()]
    assert.deepEqual(await roundTrip([new CountsArray(['key', 1000, 0], counts), 'after']), [expected, 'after'])
    assert.deepEqual(await roundTrip([new CountsArray(['k'], new Map([['only', 0]]))]), [['k']])
  })

  it('refuses what the flush never sends', () => {
    assert.throws(() => encodeMsgpack(1.5), /not a safe integer/)
    assert.throws(() => encodeMsgpack(2 ** 60), /not a safe integer/)
  })
})
