import { type ChildProcess, spawn } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { makeTempDir, waitUntil } from './processes.js'
import { freePort } from './redis-server.js'

/**
 * A redis-server in Sentinel mode owned by one test, on a free loopback
 * port, monitoring one primary. It may protect itself with `requirepass`
 * and ACL users, and log in to a primary that has a password (`auth-pass`).
 */
export interface TestSentinel {
  readonly port: number
  readonly process: ChildProcess
  /** SIGKILL, and the config directory removed. */
  close: () => Promise<void>
}

export interface SentinelOptions {
  /** The name the primary is monitored under (`sentinel monitor NAME`). */
  name: string
  primaryPort: number
  /** Sentinels that must agree the primary is down. Default 1. */
  quorum?: number
  /** `sentinel down-after-milliseconds`; default 1000. */
  downAfterMs?: number
  /** The sentinel's own password (`requirepass`): clients must AUTH. */
  requirepass?: string
  /** ACL users of the sentinel itself, name to password, with every right. */
  users?: Record<string, string>
  /** The primary's password, for the sentinel to log in (`sentinel auth-pass`). */
  primaryPassword?: string
}

export async function startSentinel (options: SentinelOptions): Promise<TestSentinel> {
  const port = await freePort()
  const dir = makeTempDir('sentinel')
  const config = join(dir, 'sentinel.conf')
  const { name } = options
  writeFileSync(config, [
    `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${options.primaryPort} ${options.quorum ?? 1}`,
    `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
    `sentinel failover-timeout ${name} 5000`,
    `sentinel parallel-syncs ${name} 1`,
    ...(options.primaryPassword === undefined ? [] : [`sentinel auth-pass ${name} ${options.primaryPassword}`]),
    ...(options.requirepass === undefined ? [] : [`requirepass ${options.requirepass}`]),
    ...Object.entries(options.users ?? {}).map(([user, password]) => `user ${user} on >${password} ~* &* +@all`),
    ''
  ].join('\n'))
  const child = spawn('redis-server', [config, '--sentinel', '--loglevel', 'warning'], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // Up once it answers this, and knows the primary's address.
  const client = new Redis({ port, host: '127.0.0.1', password: options.requirepass, maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => 50 })
  client.on('error', () => {})
  try {
    await waitUntil(async () => await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).then((reply) => Array.isArray(reply), () => false), `sentinel on ${port}`, 15_000, 50)
  } finally {
    client.disconnect()
  }
  return {
    port,
    process: child,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
