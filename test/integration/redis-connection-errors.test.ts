import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { createRedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import { freePort, startRedisServer, type TestRedisServer } from '../helpers/redis-server.js'

/**
 * A Redis store that cannot be opened says why, in words an operator can act
 * on (refused, host not found, authentication failed, timed out), and where,
 * never with the password.
 */

async function openError (url: string, commandTimeoutMs = 3000): Promise<string> {
  const store = new RedisStore({ redis: createRedisClient({ url, commandTimeoutMs }), namespace: 'connection-errors:', maxTrackedWords: 1000, maxTrackedPerRoom: 1000 })
  try {
    await store.open()
    return 'opened'
  } catch (err) {
    return (err as Error).message
  } finally {
    await store.close()
  }
}

describe('Redis connection errors name the failure and the address', () => {
  let server: TestRedisServer | null = null
  after(async () => { await server?.close() })

  it('connection refused', async () => {
    const port = await freePort()
    assert.equal(await openError(`redis://:s3cret@127.0.0.1:${port}`), `cannot open the Redis store at 127.0.0.1:${port}: connection refused (is Redis running and listening there?)`)
  })

  it('host not found', async () => {
    const message = await openError('redis://:s3cret@no-such-host.invalid:6379')
    assert.equal(message, 'cannot open the Redis store at no-such-host.invalid:6379: host not found (check the host name)')
  })

  it('authentication failed, without the password in the message', async () => {
    server = await startRedisServer(['--requirepass', 'right-password'])
    const message = await openError(`redis://:wrong-password@127.0.0.1:${server.port}`)
    assert.equal(message, `cannot open the Redis store at 127.0.0.1:${server.port}: authentication failed (check the user and password in REDIS_URL)`)
    assert.doesNotMatch(message, /wrong-password|right-password/)
    assert.equal(await openError(`redis://:right-password@127.0.0.1:${server.port}`), 'opened')
  })

  it('timed out', async () => {
    server ??= await startRedisServer()
    server.pause()
    try {
      const message = await openError(`redis://127.0.0.1:${server.port}`, 500)
      assert.equal(message, `cannot open the Redis store at 127.0.0.1:${server.port}: timed out (no answer: a firewall, or the wrong address?)`)
    } finally {
      server.resume()
    }
  })
})
