import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig, storeShards } from '../../src/config.js'

/** Loads `env` alone (no .env file). */
const load = (env: Record<string, string>, uses?: { store?: boolean }): ReturnType<typeof loadConfig> => loadConfig(env, null, uses)

function assertRefused (env: Record<string, string>, variable: string, names: RegExp): void {
  assert.throws(() => load(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err))
    assert.equal(err.variable, variable)
    assert.match(err.message, names)
    return true
  }, JSON.stringify(env))
}

describe('loadConfig: the rules that span variables (checked at start)', () => {
  it('refuses shards without Redis, a cluster with a single Redis, and braces in a sharded namespace, naming the variables', () => {
    assertRefused({ STORE_SHARDS: '4' }, 'STORE_SHARDS', /STORE_SHARDS needs Redis \(REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES\)/)
    assertRefused({ REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_HOST: 'redis' }, 'REDIS_CLUSTER_NODES', /REDIS_CLUSTER_NODES cannot be combined with REDIS_URL or REDIS_HOST/)
    assertRefused({ REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_NAMESPACE: 'a}b:' }, 'REDIS_NAMESPACE', /REDIS_NAMESPACE must not contain \{ or \} with a cluster or STORE_SHARDS > 1/)
    assertRefused({ REDIS_HOST: 'redis', STORE_SHARDS: '2', REDIS_NAMESPACE: '{x}:' }, 'REDIS_NAMESPACE', /REDIS_NAMESPACE/)
  })

  it('Sentinel: needs the primary\'s name, and is neither a cluster nor a single host; host:port entries only', () => {
    assertRefused({ REDIS_SENTINELS: '127.0.0.1:26379' }, 'REDIS_SENTINEL_NAME', /REDIS_SENTINEL_NAME is required with REDIS_SENTINELS/)
    assertRefused({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: '127.0.0.1:1' }, 'REDIS_SENTINELS', /cannot be combined/)
    assertRefused({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm', REDIS_HOST: 'redis' }, 'REDIS_SENTINELS', /cannot be combined/)
    assertRefused({ REDIS_SENTINELS: 'redis://127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /REDIS_SENTINELS/)
    const config = load({ REDIS_SENTINELS: 'a:26379,b:26380', REDIS_SENTINEL_NAME: 'mymaster', REDIS_URL: 'redis://:pw@unused/0' })
    assert.equal(config.REDIS_SENTINELS, 'a:26379,b:26380')
  })

  it('accepts what each rule allows', () => {
    assert.equal(load({ STORE_SHARDS: '1' }).STORE_SHARDS, 1)
    // Braces are fine where no shard hash tag follows the namespace.
    assert.equal(load({ REDIS_HOST: 'redis', REDIS_NAMESPACE: '{x}:' }).REDIS_NAMESPACE, '{x}:')
    assert.equal(load({ REDIS_URL: 'redis://127.0.0.1:1', STORE_SHARDS: '8' }).STORE_SHARDS, 8)
  })

  it('leaves the store rules out for a command that opens no store, but never the schema', () => {
    assert.equal(load({ STORE_SHARDS: '4' }, { store: false }).STORE_SHARDS, 4)
    assert.throws(() => load({ NODE_PORT: 'abc' }, { store: false }), (err: unknown) => err instanceof ConfigError && err.variable === 'NODE_PORT')
  })

  it('defaults STORE_SHARDS to 16 on a cluster and 1 elsewhere', () => {
    assert.equal(storeShards(load({ REDIS_CLUSTER_NODES: '127.0.0.1:1' })), 16)
    assert.equal(storeShards(load({ REDIS_URL: 'redis://127.0.0.1:1' })), 1)
    assert.equal(storeShards(load({})), 1)
    assert.equal(storeShards(load({ REDIS_CLUSTER_NODES: '127.0.0.1:1', STORE_SHARDS: '3' })), 3)
  })
})

describe('loadConfig: COUNTING_THREAD', () => {
  it('takes auto (the default), on and off, and refuses anything else naming the variable', () => {
    assert.equal(load({}).COUNTING_THREAD, 'auto')
    assert.equal(load({ COUNTING_THREAD: 'on' }).COUNTING_THREAD, 'on')
    assert.equal(load({ COUNTING_THREAD: 'off' }).COUNTING_THREAD, 'off')
    for (const value of ['yes', 'true', '1', 'ON', 'x'.repeat(10_000)]) assertRefused({ COUNTING_THREAD: value }, 'COUNTING_THREAD', /COUNTING_THREAD/)
  })
})
