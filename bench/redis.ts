import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

/**
 * The bench's Redis: by default its own redis-server on a free loopback
 * port (no other client's traffic in its figures, and INFO commandstats
 * and used_memory describe the bench alone), else a given URL. Either way
 * the bench writes under its own namespace and deletes only those keys.
 */
export interface BenchRedis {
  url: string
  /** A client for INFO and cleanup. */
  admin: Redis
  /** 'own redis-server 7.0.15 on port N (no persistence)' or the URL. */
  description: string
  close: () => Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Starts redis-server (persistence off unless `save` is given, e.g. '60 1' as in docker-compose.yml). */
export async function startOwnRedis (save: string): Promise<BenchRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'chat-stats-bench-redis-'))
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', save, '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.once('error', () => {})
  const url = `redis://127.0.0.1:${port}`
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  admin.on('error', () => {})
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.connect()
      await admin.ping()
      break
    } catch (err) {
      if (attempt > 50 || child.exitCode !== null) throw new Error(`cannot start redis-server on port ${port}`, { cause: err })
      admin.disconnect()
      await sleep(100)
    }
  }
  const version = parseInfo(await admin.info('server')).get('redis_version') ?? '?'
  return {
    url,
    admin,
    description: `own redis-server ${version} on 127.0.0.1:${port}, ${save === '' ? 'persistence off' : `save ${save}`}`,
    close: async () => {
      await admin.shutdown('NOSAVE').catch(() => {})
      admin.disconnect()
      await Promise.race([exited, sleep(5000)])
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Uses the Redis at `url` (only the bench's namespace is written and deleted). */
export async function useRedis (url: string): Promise<BenchRedis> {
  const admin = new Redis(url, { maxRetriesPerRequest: 1 })
  await admin.ping()
  const version = parseInfo(await admin.info('server')).get('redis_version') ?? '?'
  return { url, admin, description: `redis ${version} at ${url.replace(/\/\/[^@]*@/, '//***@')}`, close: async () => { await admin.quit() } }
}

/** `field:value` lines of INFO. */
export function parseInfo (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) out.set(line.slice(0, colon), line.slice(colon + 1))
  }
  return out
}

export interface RedisCounters {
  /** Seconds of CPU the server used (user + system, main thread and children). */
  cpuSeconds: number
  usedMemory: number
  /** Calls and microseconds per command, scripts' inner calls included. */
  commands: Map<string, { calls: number, usec: number }>
}

export async function redisCounters (admin: Redis): Promise<RedisCounters> {
  const cpu = parseInfo(await admin.info('cpu'))
  const memory = parseInfo(await admin.info('memory'))
  const commands = new Map<string, { calls: number, usec: number }>()
  for (const [field, value] of parseInfo(await admin.info('commandstats'))) {
    const calls = /calls=(\d+)/.exec(value)
    const usec = /usec=(\d+)/.exec(value)
    if (calls !== null && usec !== null) commands.set(field.replace(/^cmdstat_/, ''), { calls: Number(calls[1]), usec: Number(usec[1]) })
  }
  return {
    cpuSeconds: Number(cpu.get('used_cpu_user') ?? 0) + Number(cpu.get('used_cpu_sys') ?? 0),
    usedMemory: Number(memory.get('used_memory') ?? 0),
    commands
  }
}

/** What happened in Redis between two readings. */
export function counterDelta (before: RedisCounters, after: RedisCounters): { cpuSeconds: number, commands: Map<string, { calls: number, usec: number }> } {
  const commands = new Map<string, { calls: number, usec: number }>()
  for (const [name, now] of after.commands) {
    const then = before.commands.get(name) ?? { calls: 0, usec: 0 }
    if (now.calls > then.calls) commands.set(name, { calls: now.calls - then.calls, usec: now.usec - then.usec })
  }
  return { cpuSeconds: after.cpuSeconds - before.cpuSeconds, commands }
}

/** Deletes every key under `prefix` (SCAN MATCH + UNLINK; never FLUSHDB). */
export async function deleteNamespace (admin: Redis, prefix: string): Promise<number> {
  if (!/^bench:[0-9a-f]+:$/.test(prefix)) throw new Error(`refusing to delete keys outside a bench namespace: ${prefix}`)
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000)
    if (keys.length > 0) deleted += await admin.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
  return deleted
}
