import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort } from './redis-server.js'
import { escapeGlob } from './redis.js'

const run = promisify(execFile)

/**
 * A real Redis Cluster owned by one test file: three masters (no replicas)
 * on free loopback ports, joined with `redis-cli --cluster create`, without
 * persistence. close() kills every server and removes the directory; the
 * servers are also killed if the test process exits without it.
 */
export interface TestRedisCluster {
  /** `127.0.0.1:<port>` of each master: what REDIS_CLUSTER_NODES takes. */
  readonly nodes: string[]
  readonly ports: number[]
  /** A plain connection to each master (they answer for the slots they own). */
  readonly admins: Redis[]
  /** Deletes every key under `prefix` on every master (SCAN + UNLINK one key at a time: keys of many slots). */
  deleteKeysWithPrefix: (prefix: string) => Promise<number>
  /** Index of the master that owns `slot` now. */
  ownerOf: (slot: number) => Promise<number>
  /**
   * Moves one slot to another master the way resharding does: IMPORTING /
   * MIGRATING, MIGRATE of its keys in groups (clients get ASK meanwhile),
   * then SETSLOT NODE everywhere (clients with the old map get MOVED).
   * `between` runs after each group of keys has moved; `beforeHandOver`
   * once all have, while both masters still serve the slot (by ASK).
   */
  migrateSlot: (slot: number, to: number, hooks?: { between?: () => Promise<void>, beforeHandOver?: () => Promise<void> }) => Promise<void>
  /** Ports of the replicas (with `replicas: 1`), in no particular order. */
  readonly replicaPorts: number[]
  /** SIGKILL of master `index` (a crash: its replica, if any, is promoted after the node timeout). */
  killMaster: (index: number) => Promise<void>
  close: () => Promise<void>
}

/** A free port whose cluster bus port (+10000) is free too. */
async function freeClusterPort (): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port >= 55_535) continue
    const busFree = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port + 10_000, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (busFree) return port
  }
}

async function clusterState (admin: Redis): Promise<string> {
  const info = await admin.cluster('INFO') as string
  return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown'
}

/**
 * `replicas: 1` adds one replica per master (a failover can promote it);
 * `nodeTimeoutMs` (default 5000) is how long a master may not answer before
 * the cluster fails it over.
 */
export async function startRedisCluster (masters = 3, options: { replicas?: 0 | 1, nodeTimeoutMs?: number } = {}): Promise<TestRedisCluster> {
  const replicas = options.replicas ?? 0
  const dir = mkdtempSync(join(tmpdir(), 'chat-stats-cluster-'))
  const children: ChildProcess[] = []
  const killAll = (): void => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') }
  process.once('exit', killAll)
  const ports: number[] = []
  const admins: Redis[] = []
  let replicaAdmins: Redis[] = []
  const close = async (): Promise<void> => {
    process.removeListener('exit', killAll)
    for (const admin of [...admins, ...replicaAdmins]) admin.disconnect()
    // A server killed earlier (killMaster) has exited already: its 'exit' event will not come again.
    const exits = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((resolve) => c.once('exit', resolve)))
    killAll()
    await Promise.all(exits)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const replicaPorts: number[] = []
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freeClusterPort()
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000),
        '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning',
        // A replica takes over however long ago it last heard its master: on a loaded test
        // machine the default (10 × node timeout) can leave a killed master's slots down.
        '--cluster-replica-validity-factor', '0'
      ], { stdio: 'ignore' })
      children.push(child)
      ports.push(port)
      const admin = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: (n) => n > 100 ? null : 50 })
      admin.on('error', () => {}) // refused until the server listens; commands report real failures
      admins.push(admin)
      // The server may not listen yet: a command fails until it does.
      for (let attempt = 0; ; attempt++) {
        try {
          await admin.ping()
          break
        } catch (err) {
          if (attempt > 100 || child.exitCode !== null) throw new Error(`redis-server on port ${port} did not start`, { cause: err })
          await sleep(50)
        }
      }
    }
    const all = ports.map((port) => `127.0.0.1:${port}`)
    // redis-cli makes the first `masters` nodes listed the masters.
    await run('redis-cli', ['--cluster', 'create', ...all, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 })
    replicaPorts.push(...ports.splice(masters))
    replicaAdmins = admins.splice(masters)
    const nodes = all.slice(0, masters)
    const deadline = Date.now() + 30_000
    while ((await Promise.all([...admins, ...replicaAdmins].map(clusterState))).some((state) => state !== 'ok')) {
      if (Date.now() > deadline) throw new Error('the test cluster did not reach cluster_state:ok')
      await sleep(100)
    }
    // A replica that has not finished its first sync cannot be promoted: wait for every link.
    while ((await Promise.all(replicaAdmins.map(async (admin) => await admin.info('replication')))).some((info) => !info.includes('master_link_status:up'))) {
      if (Date.now() > deadline) throw new Error('the test cluster\'s replicas did not finish their first sync')
      await sleep(100)
    }
    const ids = await Promise.all(admins.map(async (admin) => await admin.cluster('MYID') as string))

    const ownerOf = async (slot: number): Promise<number> => {
      const slots = await admins[0]!.cluster('SLOTS')
      const range = slots.find(([first, last]) => slot >= first && slot <= last)
      const master = range?.[2]
      if (master === undefined) throw new Error(`slot ${slot} has no owner`)
      return ports.indexOf(Number(master[1]))
    }

    return {
      nodes,
      ports,
      admins,
      ownerOf,
      deleteKeysWithPrefix: async (prefix) => {
        if (prefix === '') throw new Error('refusing to delete keys with an empty prefix')
        let deleted = 0
        for (const admin of admins) {
          let cursor = '0'
          do {
            const [next, keys] = await admin.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000)
            if (keys.length > 0) {
              const pipeline = admin.pipeline()
              for (const key of keys) pipeline.unlink(key)
              await pipeline.exec()
              deleted += keys.length
            }
            cursor = next
          } while (cursor !== '0')
        }
        return deleted
      },
      replicaPorts,
      killMaster: async (index) => {
        const child = children[index]!
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        await exited
      },
      migrateSlot: async (slot, to, hooks = {}) => {
        const from = await ownerOf(slot)
        if (from === to) throw new Error(`slot ${slot} is already on master ${to}`)
        const source = admins[from]!
        const target = admins[to]!
        await target.cluster('SETSLOT', slot, 'IMPORTING', ids[from]!)
        await source.cluster('SETSLOT', slot, 'MIGRATING', ids[to]!)
        for (;;) {
          const keys = await source.cluster('GETKEYSINSLOT', slot, 50) as string[]
          if (keys.length === 0) break
          await source.call('MIGRATE', '127.0.0.1', ports[to]!, '', 0, 10_000, 'KEYS', ...keys)
          await hooks.between?.()
        }
        await hooks.beforeHandOver?.()
        // Target first, then source (as redis-cli does), so no master ever disowns the slot.
        for (const admin of [target, source, ...admins.filter((a) => a !== target && a !== source)]) await admin.cluster('SETSLOT', slot, 'NODE', ids[to]!)
      },
      close
    }
  } catch (err) {
    await close()
    throw err
  }
}
