import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { startSimulator } from '../../src/simulator/index.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

// `chat-stats verify` (issue 14, item 1): a finite simulator run, counted by
// `worker --exit-at-end`, then checked by one command, on Redis and on the embedded store.

const CLI = join(import.meta.dirname, '../../src/cli.ts')
const TSX = import.meta.resolve('tsx')
const SEED = 5
const COUNT = 1500

/** Runs the CLI to its end without blocking this process's event loop (the simulator is served from here). */
async function runCli (args: string[], env: Record<string, string>): Promise<{ status: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  clearTimeout(timer)
  return { status, stdout, stderr }
}

/** Counts a whole simulator run of COUNT events into the store `env` describes; the worker must exit 0 by itself. */
async function countWholeRun (env: Record<string, string>): Promise<void> {
  const simulator = await startSimulator({ seed: SEED, rate: 0, count: COUNT, port: 0 })
  try {
    const worker = await runCli(['worker', '--exit-at-end'], { ...env, CHAT_INTERFACE_URL: simulator.url })
    assert.equal(worker.status, 0, worker.stderr)
  } finally {
    await simulator.close()
  }
}

async function checkVerify (env: Record<string, string>, storeLine: RegExp): Promise<void> {
  const exact = await runCli(['verify', '--seed', String(SEED), '--count', String(COUNT)], env)
  assert.equal(exact.status, 0, exact.stdout + exact.stderr)
  assert.match(exact.stdout, storeLine)
  assert.match(exact.stdout, new RegExp(`^exact: the store holds the simulator's counts for seed ${SEED}, events 1\\.\\.${COUNT} \\(`, 'm'))
  // One event short of what the store holds: every difference shows, and the exit code is 1.
  const short = await runCli(['verify', '--seed', String(SEED), '--count', String(COUNT - 1)], env)
  assert.equal(short.status, 1, short.stdout + short.stderr)
  assert.match(short.stdout, /^DIFFERENT: \d+ difference\(s\)/m)
  assert.match(short.stdout, new RegExp(`stream position: store is at event "${COUNT}", expected "${COUNT - 1}"`))
}

// Bounds above the stream's breadth: verify compares exact detail, which a room re-admitted to the tracked set no longer has.
const BOUNDS = { MAX_TRACKED_WORDS: '10000000', MAX_TRACKED_PER_ROOM: '10000000', MAX_TRACKED_ROOMS: '100000' }

describe('chat-stats verify', () => {
  it('the embedded store: worker --exit-at-end ends with the stream, verify exits 0 on the exact counts and 1 otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-verify-'))
    try {
      const env = { ...BOUNDS, SNAPSHOT_PATH: join(dir, 'snapshot.json') }
      await countWholeRun(env)
      await checkVerify(env, /^store: embedded store, snapshot /m)
      // Run again on the complete store: it resumes at the end, reads nothing new, and exits 0 with the counts unchanged.
      await countWholeRun(env)
      await checkVerify(env, /^store: embedded store/m)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a stream broader than the bounds: the kept part is checked as a lower bound, exit 0; counts above the stream are caught', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-verify-bounded-'))
    try {
      // The smallest bounds the settings take: the stream has more words, nicks and rooms than they keep.
      const env = { MAX_TRACKED_WORDS: '100', MAX_TRACKED_PER_ROOM: '100', MAX_TRACKED_ROOMS: '3', SNAPSHOT_PATH: join(dir, 'snapshot.json') }
      await countWholeRun(env)
      const kept = await runCli(['verify', '--seed', String(SEED), '--count', String(COUNT)], env)
      assert.equal(kept.status, 0, kept.stdout + kept.stderr)
      assert.match(kept.stdout, new RegExp(`^consistent: the store holds the simulator's counts for seed ${SEED}, events 1\\.\\.${COUNT} \\(.*; \\d+ list\\(s\\) broader than MAX_TRACKED_WORDS`, 'm'))
      // Checked against the first half of the stream, the store holds more than it: over-counting shows even in the trimmed lists.
      const half = await runCli(['verify', '--seed', String(SEED), '--count', String(COUNT / 2)], env)
      assert.equal(half.status, 1, half.stdout + half.stderr)
      assert.match(half.stdout, /^ {2}words #\d+: store has .*, above the stream's \d+$/m)
      assert.match(half.stdout, /^ {2}room #\S+ words #\d+: store has .*, above the stream's \d+$/m)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('more rooms than MAX_TRACKED_ROOMS: an untracked room the stream named only in system events is not missing; a room with messages still must be there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-verify-rooms-'))
    try {
      // The rooms list keeps every room (MAX_TRACKED_WORDS above the stream's breadth); only 3 rooms keep detail.
      // Seed 5's first 1,500 events name 7 rooms in system events only, which no all-time count lists.
      const env = { MAX_TRACKED_WORDS: '10000000', MAX_TRACKED_PER_ROOM: '100', MAX_TRACKED_ROOMS: '3', SNAPSHOT_PATH: join(dir, 'snapshot.json') }
      await countWholeRun(env)
      const kept = await runCli(['verify', '--seed', String(SEED), '--count', String(COUNT)], env)
      assert.equal(kept.status, 0, kept.stdout + kept.stderr)
      assert.match(kept.stdout, /^consistent: /m)
      assert.doesNotMatch(kept.stdout, /missing from the store/)
      // Checked against a longer stream, the rooms its later events bring (with messages) are missing.
      const longer = await runCli(['verify', '--seed', String(SEED), '--count', String(2 * COUNT)], env)
      assert.equal(longer.status, 1, longer.stdout + longer.stderr)
      assert.match(longer.stdout, /^ {2}room #\S+: missing from the store$/m)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  describe('on Redis', () => {
    const redis = createTestRedis()
    const namespaces: string[] = []
    after(async () => {
      for (const namespace of namespaces) await deleteKeysWithPrefix(redis, namespace)
      redis.disconnect()
    })

    for (const shards of [1, 4]) {
      it(`Redis, ${shards} shard(s): verify exits 0 after a complete run and 1 against another count`, async () => {
        const namespace = randomPrefix('verify')
        namespaces.push(namespace)
        const env = { ...BOUNDS, REDIS_URL: `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`, REDIS_NAMESPACE: namespace, STORE_SHARDS: String(shards) }
        await countWholeRun(env)
        await checkVerify(env, new RegExp(`^store: redis redis://${TEST_REDIS.host}:${TEST_REDIS.port} namespace ${namespace}`, 'm'))
      })
    }
  })

  it('missing --seed or --count is a usage error (exit 2, one line)', async () => {
    const { status, stderr } = await runCli(['verify', '--seed', '1'], {})
    assert.equal(status, 2)
    assert.equal(stderr.trim().split('\n').length, 1, stderr)
    assert.match(stderr, /^chat-stats verify: required option '--count <n>' not specified/)
  })
})
