import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { CountsArray, encodeMsgpack, MsgpackBuffer, type Packable } from '../../src/store/redis/msgpack.js'
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

  it('writes a CountsArray of several maps as their sum, each member once, in the order first seen', async () => {
    const parts = [new Map([['a', 1], ['b', 0], ['c', 2]]), new Map([['a', 2], ['d', 3], ['b', 0], ['c', 0]]), new Map([['d', 1], ['e', 4], ['a', 1]])]
    assert.deepEqual(await roundTrip([new CountsArray(['key'], parts)]), [['key', 'a', 4, 'c', 2, 'd', 4, 'e', 4]])
    assert.deepEqual(await roundTrip([new CountsArray(['key'], [new Map([['z', 0]]), new Map([['z', 0]])])]), [['key']])
    // A replay's many seconds: summed into one map first, the same pairs in the same order.
    const many = [...parts, ...parts, new Map([['f', 1]])]
    assert.equal(new CountsArray(['key'], many).counts.size, 6)
    assert.deepEqual(await roundTrip([new CountsArray(['key'], many)]), [['key', 'a', 8, 'c', 4, 'd', 8, 'e', 8, 'f', 1]])
  })

  it('packs into a caller\'s buffer the same bytes, as a view of it that grows as needed', () => {
    const into = new MsgpackBuffer()
    const big: Packable = ['x'.repeat(100_000), new CountsArray(['k'], new Map(Array.from({ length: 5000 }, (_, i) => [`w${i}`, i + 1])))]
    const view = encodeMsgpack(big, into)
    assert.deepEqual(view, encodeMsgpack(big))
    assert.equal(view.buffer, into.buffer.buffer, 'a view of the caller\'s buffer, not a copy')
    assert.deepEqual(encodeMsgpack(['small'], into), encodeMsgpack(['small']))
  })

  it('refuses what it cannot encode exactly', () => {
    assert.throws(() => encodeMsgpack(1.5), RangeError)
    assert.throws(() => encodeMsgpack(2 ** 60), RangeError)
  })
})
