import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { CountsArray, encodeMsgpack, type Packable } from '../../src/store/redis/msgpack.js'
import { createTestRedis } from '../helpers/redis.js'

const redis = createTestRedis()
after(() => redis.quit())

describe('the flush\'s MessagePack, as Redis\'s Lua reads it', () => {
  it('round-trips strings of every header size, integers of every width and nested arrays', async () => {
    const value: Packable = [
      '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(100), '😂'.repeat(20), 'y'.repeat(70_000),
      0, 127, 128, 65_535, 70_000, 2 ** 32, 2 ** 40, -1, -5000,
      ['n', ['e']], Array.from({ length: 20 }, (_, i) => i), Array.from({ length: 70_000 }, () => 1)
    ]
    const back = await redis.eval('return cjson.encode(cmsgpack.unpack(ARGV[1]))', 0, encodeMsgpack(value)) as string
    assert.deepEqual(JSON.parse(back), value)
  })

  const roundTrip = async (value: Packable): Promise<unknown> => JSON.parse(await redis.eval('return cjson.encode(cmsgpack.unpack(ARGV[1]))', 0, encodeMsgpack(value)) as string)

  it('keeps strings at the edges of the short-ASCII path byte for byte', async () => {
    const strings = ['kappa', 'x'.repeat(30), 'z'.repeat(255), 'w'.repeat(256), 'café', 'ñ'.repeat(15), 'ñ'.repeat(16), '日本語', 'a😀'.repeat(20), 'ascii then é', 'é then ascii']
    assert.deepEqual(await roundTrip(strings), strings)
  })

  it('writes a CountsArray as its head then the pairs of positive counts, the length patched in', async () => {
    const counts = new Map([['a', 3], ['zero', 0], ['b', 1], ['neg', -2], ...Array.from({ length: 40 }, (_, i) => [`w${i}`, i + 1] as [string, number])])
    const expected: unknown[] = ['key', 1000, 0, 'a', 3, 'b', 1, ...Array.from({ length: 40 }, (_, i) => [`w${i}`, i + 1]).flat()]
    assert.deepEqual(await roundTrip([new CountsArray(['key', 1000, 0], counts), 'after']), [expected, 'after'])
    assert.deepEqual(await roundTrip([new CountsArray(['k'], new Map([['only', 0]]))]), [['k']])
  })

  it('refuses what it cannot encode exactly', () => {
    assert.throws(() => encodeMsgpack(1.5), RangeError)
    assert.throws(() => encodeMsgpack(2 ** 60), RangeError)
  })
})
