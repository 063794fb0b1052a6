import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { encodeMsgpack, type Packable } from '../../src/store/redis/msgpack.js'
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

  it('refuses what it cannot encode exactly', () => {
    assert.throws(() => encodeMsgpack(1.5), RangeError)
    assert.throws(() => encodeMsgpack(2 ** 60), RangeError)
  })
})
