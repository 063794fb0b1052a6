import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { ConfigError, loadConfig } from '../../src/config.js'
import { createLogger } from '../../src/logger.js'
import { createStore } from '../../src/runtime.js'
import { createRedisClient, type RedisClientOptions, RedisStore } from '../../src/store/redis/redis-store.js'
import { batch, chatSlice } from '../helpers/batches.js'
import { cleanupProcesses, startChatStats, waitUntil } from '../helpers/processes.js'
import { randomPrefix } from '../helpers/redis.js'
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js'
import { startSentinel, type TestSentinel } from '../helpers/redis-sentinel.js'

/**
 * Sentinels that protect themselves (`requirepass`, an ACL user in
 * sentinel.conf): REDIS_SENTINEL_PASSWORD (and REDIS_SENTINEL_USERNAME) log
 * in to them, apart from the primary's own password in REDIS_URL. A refusal
 * names the sentinel and the settings to check, never the password. One
 * primary and one sentinel, real redis-server processes; no failover.
 */

const NAME = 'authed'
const PRIMARY_PASSWORD = 'primary-pw-1234'
const SENTINEL_PASSWORD = 'sentinel-pw-5678'
const USER = 'watcher'
const USER_PASSWORD = 'watcher-pw-9012'
const WRONG = 'wrong-pw-3456'
const SECRETS = [PRIMARY_PASSWORD, SENTINEL_PASSWORD, USER_PASSWORD, WRONG]

describe('Redis Sentinel with a password of its own', () => {
  let primary: TestRedisServer
  let sentinel: TestSentinel
  let sentinels: string
  /** The test's own connection to the sentinel, to count the others. */
  let admin: Redis

  before(async () => {
    primary = await startRedisServer(['--requirepass', PRIMARY_PASSWORD])
    sentinel = await startSentinel({ name: NAME, primaryPort: primary.port, primaryPassword: PRIMARY_PASSWORD, requirepass: SENTINEL_PASSWORD, users: { [USER]: USER_PASSWORD } })
    sentinels = `127.0.0.1:${sentinel.port}`
    admin = new Redis({ port: sentinel.port, host: '127.0.0.1', password: SENTINEL_PASSWORD, maxRetriesPerRequest: 1 })
  })
  after(async () => {
    admin?.disconnect()
    await sentinel?.close()
    await primary?.close()
    await cleanupProcesses()
  })

  /** The environment of a process on the primary behind the sentinel; `extra` adds the sentinel's login. */
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    REDIS_SENTINELS: sentinels,
    REDIS_SENTINEL_NAME: NAME,
    REDIS_URL: `redis://:${PRIMARY_PASSWORD}@unused/0`,
    REDIS_NAMESPACE: randomPrefix('sentinel-auth'),
    ...extra
  })

  /** Connections to the sentinel other than the test's own. */
  const otherClients = async (): Promise<number> => String(await admin.call('CLIENT', 'LIST')).trim().split('\n').length - 1

  /**
   * Opens the store configured by `extra` (through loadConfig and createStore,
   * as the commands do), writes one batch and reads it back; once closed, it
   * holds no connection to the sentinel (the failover detector's included).
   */
  async function openWriteRead (extra: Record<string, string>): Promise<void> {
    const { store } = createStore(loadConfig(env(extra), null), pino({ level: 'silent' }))
    try {
      await store.open()
      const second = Math.floor(Date.now() / 1000)
      const lines = Array.from({ length: 12 }, (_, i) => ({ nick: `n${i % 4}`, room: '#r', words: ['hello'] }))
      assert.equal(await store.applyBatch(batch(1, [chatSlice(second, lines)], { lastEventId: 'e1' })), 'applied')
      assert.deepEqual(await store.position(), { sequence: 1, lastEventId: 'e1' })
      const nicks = await store.top('nicks', { window: 'all', limit: 10 })
      assert.deepEqual(nicks.entries.map((e) => e.count), [3, 3, 3, 3])
    } finally {
      await store.close()
    }
    let left = -1
    await waitUntil(async () => (left = await otherClients()) === 0, () => `the closed store's connections to the sentinel gone (${left} left)`, 10_000)
  }

  /** Why a store behind the sentinel cannot be opened, with these client options. */
  async function openError (options: Partial<RedisClientOptions>): Promise<string> {
    const redis = createRedisClient({ sentinels: [sentinels], sentinelName: NAME, url: `redis://:${PRIMARY_PASSWORD}@unused/0`, commandTimeoutMs: 3000, ...options })
    const store = new RedisStore({ redis, namespace: randomPrefix('sentinel-auth'), maxTrackedWords: 1000, maxTrackedPerRoom: 1000, commandTimeoutMs: 3000 })
    try {
      await store.open()
      return 'opened'
    } catch (err) {
      return (err as Error).message
    } finally {
      await store.close()
    }
  }

  const at = (): string => `cannot open the Redis store at primary ${NAME} via sentinels ${sentinels}: `

  it('with REDIS_SENTINEL_PASSWORD the store opens, writes and reads', async () => {
    await openWriteRead({ REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD })
  })

  it('with an ACL user of the sentinel (REDIS_SENTINEL_USERNAME) the store opens, writes and reads', async () => {
    await openWriteRead({ REDIS_SENTINEL_USERNAME: USER, REDIS_SENTINEL_PASSWORD: USER_PASSWORD })
  })

  it('no sentinel password: the sentinel is named as refusing, with the setting to set', async () => {
    assert.equal(await openError({}), `${at()}sentinel ${sentinels} refused authentication: no password given (set REDIS_SENTINEL_PASSWORD, and REDIS_SENTINEL_USERNAME for an ACL user)`)
  })

  it('a wrong sentinel password, or a wrong password for the ACL user: named, without any password in the message', async () => {
    for (const options of [{ sentinelPassword: WRONG }, { sentinelUsername: USER, sentinelPassword: WRONG }, { sentinelUsername: USER, sentinelPassword: SENTINEL_PASSWORD }]) {
      const message = await openError(options)
      assert.equal(message, `${at()}sentinel ${sentinels} refused authentication: wrong user or password (check REDIS_SENTINEL_USERNAME and REDIS_SENTINEL_PASSWORD)`, JSON.stringify(options))
      for (const secret of SECRETS) assert.ok(!message.includes(secret), message)
    }
  })

  it('the sentinel accepts, the primary refuses REDIS_URL\'s password: that is what the message says', async () => {
    const message = await openError({ sentinelPassword: SENTINEL_PASSWORD, url: `redis://:${WRONG}@unused/0` })
    assert.equal(message, `${at()}authentication failed (check the user and password in REDIS_URL)`)
    // The sentinel's password alone is not the primary's: the two are kept apart.
    assert.equal(await openError({ url: `redis://:${SENTINEL_PASSWORD}@unused/0` }), `${at()}sentinel ${sentinels} refused authentication: no password given (set REDIS_SENTINEL_PASSWORD, and REDIS_SENTINEL_USERNAME for an ACL user)`)
  })

  it('a command given a wrong sentinel password exits 1 naming the sentinel, and no password is printed or logged', async () => {
    const cli = startChatStats(['verify', '--seed', '1', '--count', '10'], { env: { ...env({ REDIS_SENTINEL_PASSWORD: WRONG }), LOG_LEVEL: 'info' } })
    const exit = await cli.exited
    const output = cli.tail(100)
    assert.equal(exit.code, 1, output)
    assert.ok(output.includes(`chat-stats: ${at()}sentinel ${sentinels} refused authentication: wrong user or password`), output)
    for (const secret of SECRETS) assert.ok(!output.includes(secret), `${secret} printed: ${output}`)
  })

  it('REDIS_SENTINEL_PASSWORD is a secret: kept out of configuration errors and log lines', () => {
    const lines: string[] = []
    const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString('utf8')); done() } })
    const config = loadConfig(env({ LOG_LEVEL: 'info', REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD }), null)
    const log = createLogger(config, stream)
    log.info({ config }, 'configuration')
    log.info({ REDIS_SENTINEL_PASSWORD: config.REDIS_SENTINEL_PASSWORD }, 'flat')
    log.error({ err: new Error(`sentinel refused ${SENTINEL_PASSWORD}`) }, `login with ${SENTINEL_PASSWORD}`)
    const text = lines.join('')
    assert.equal(lines.length, 3)
    assert.ok(!text.includes(SENTINEL_PASSWORD), text)
    assert.ok(text.includes('[redacted]'), text)
  })

  it('the sentinel login is refused without REDIS_SENTINELS, and a user without its password', () => {
    const refused = (vars: Record<string, string>): ConfigError => {
      try {
        loadConfig(vars, null)
      } catch (err) {
        if (err instanceof ConfigError) return err
        throw err
      }
      throw new assert.AssertionError({ message: `accepted ${JSON.stringify(Object.keys(vars))}` })
    }
    const alone = refused({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD })
    assert.equal(alone.variable, 'REDIS_SENTINEL_PASSWORD')
    assert.match(alone.message, /REDIS_SENTINEL_PASSWORD is only used with REDIS_SENTINELS/)
    assert.ok(!alone.message.includes(SENTINEL_PASSWORD))
    assert.equal(refused({ ...env(), REDIS_SENTINEL_USERNAME: USER }).variable, 'REDIS_SENTINEL_USERNAME')
    // An empty value is unset (as every variable): not a schema error that would print it.
    assert.equal(loadConfig({ ...env(), REDIS_SENTINEL_PASSWORD: '' }, null).REDIS_SENTINEL_PASSWORD, undefined)
  })
})
