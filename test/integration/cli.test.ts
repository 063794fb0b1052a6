import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { expectedCounts, writeCapture } from '../../src/simulator/index.js'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
// Resolved here so the CLI can run from any working directory.
const TSX = import.meta.resolve('tsx')

/** Runs the CLI in a clean environment, in an empty directory holding only `files` (so no .env unless given). */
function run (args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): { status: number | null, stdout: string, stderr: string } {
  const cwd = mkdtempSync(join(tmpdir(), 'chat-stats-cli-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, name), text)
  const result = spawnSync(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 30_000
  })
  rmSync(cwd, { recursive: true, force: true })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('chat-stats CLI', () => {
  it('--help lists every command', () => {
    const { status, stdout } = run(['--help'])
    assert.equal(status, 0)
    for (const command of ['start', 'api', 'worker', 'simulate', 'verify']) assert.match(stdout, new RegExp(`^\\s+${command}\\b`, 'm'))
  })

  for (const command of ['start', 'api', 'worker', 'simulate', 'verify']) {
    it(`${command} --help describes its options`, () => {
      const { status, stdout } = run([command, '--help'])
      assert.equal(status, 0)
      assert.match(stdout, new RegExp(`Usage: chat-stats ${command}`))
    })
  }

  it('a wrong flag is a one-line error with exit code 2', () => {
    for (const args of [['--bogus'], ['worker', '--bogus'], ['simulate', '--rate', 'fast'], ['simulate', '--port', '70000'], ['nope']]) {
      const { status, stderr } = run(args)
      assert.equal(status, 2, `${args.join(' ')}: ${stderr}`)
      assert.equal(stderr.trim().split('\n').length, 1, stderr)
      assert.match(stderr, /^chat-stats/)
    }
  })

  it('a bad configuration value stops the process, naming the variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ NODE_PORT: '99999' }, /NODE_PORT/],
      [{ NODE_PORT: 'abc' }, /NODE_PORT/],
      [{ FLUSH_INTERVAL_MS: '-5' }, /FLUSH_INTERVAL_MS/],
      [{ REDIS_URL: 'http://nope' }, /REDIS_URL/],
      [{ NODE_ENV: 'staging' }, /NODE_ENV must be one of development, production, test/],
      [{ CHAT_INTERFACE_URL: 'ftp://x' }, /CHAT_INTERFACE_URL/]
    ]
    for (const [env, pattern] of cases) {
      const { status, stderr } = run(['api'], env)
      assert.equal(status, 1, stderr)
      assert.match(stderr, pattern)
    }
  })

  it('never prints a secret back in a configuration error', () => {
    const { status, stderr } = run(['api'], { REDIS_URL: 'redis-ish://:hunter2secret@host' })
    assert.equal(status, 1)
    assert.doesNotMatch(stderr, /hunter2secret/)
  })

  it('reads .env, with the environment winning', () => {
    const { status, stderr } = run(['api'], {}, { '.env': 'NODE_PORT=notaport\n' })
    assert.equal(status, 1)
    assert.match(stderr, /NODE_PORT/)
  })

  it('a bad combination of variables stops a process that opens the store, naming the variables; simulate opens none', () => {
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['start', { STORE_SHARDS: '4' }, /^chat-stats: invalid configuration: STORE_SHARDS needs Redis \(REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES\)/],
      ['api', { REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1' }, /^chat-stats: invalid configuration: REDIS_CLUSTER_NODES cannot be combined with REDIS_URL or REDIS_HOST/],
      ['worker', { REDIS_URL: 'redis://127.0.0.1:1', STORE_SHARDS: '2', REDIS_NAMESPACE: 'a{b}:', CHAT_INTERFACE_URL: 'http://127.0.0.1:1/' }, /^chat-stats: invalid configuration: REDIS_NAMESPACE must not contain \{ or \} with a cluster or STORE_SHARDS > 1/]
    ]
    for (const [command, env, pattern] of cases) {
      const { status, stdout, stderr } = run([command], env)
      assert.equal(status, 1, `${command}: ${stderr}`)
      assert.match(stderr, pattern)
      // Stopped at start: no log line, nothing opened.
      assert.equal(stdout, '', `${command}: ${stdout}`)
    }
    const simulate = run(['simulate', '--expect', '--count', '10'], { STORE_SHARDS: '4', LOG_LEVEL: 'silent' })
    assert.equal(simulate.status, 0, simulate.stderr)
    assert.ok(JSON.parse(simulate.stdout) !== null)
  })

  it('worker --file replays a capture, logs its counts and exits 0 once the file ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-file-'))
    try {
      const capture = join(dir, 'capture.sse')
      await writeCapture(capture, 11, 2000)
      const { status, stdout, stderr } = run(['worker', '--file', capture], { SNAPSHOT_PATH: join(dir, 'snapshot.json') })
      assert.equal(status, 0, stderr)
      const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
      const ends = lines.filter((line) => line.msg === 'end of input: counts committed')
      assert.equal(ends.length, 1, stdout)
      // The end of the file is no shutdown: nothing runs after the final flush.
      assert.ok(!lines.some((line) => line.msg === 'shutting down: stop reading, final flush' || line.level === 50), stdout)
      const expected = expectedCounts(11, 2000)
      let system = 0
      for (const count of expected.events.values()) system += count
      assert.deepEqual(
        { messages: ends[0]?.messages, system: ends[0]?.system, failed: ends[0]?.failed, skipped: ends[0]?.skipped },
        { messages: expected.messages, system, failed: expected.failed, skipped: expected.skipped }
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('worker --file that cannot be read: one line, exit 2, before the store opens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-nofile-'))
    try {
      for (const [path, reason] of [['/nonexistent/capture.sse', 'no such file'], [dir, 'not a file']] as const) {
        const { status, stdout, stderr } = run(['worker', '--file', path], { SNAPSHOT_PATH: join(dir, 'snapshot.json') })
        assert.equal(status, 2, stderr)
        assert.equal(stderr, `chat-stats worker: cannot read --file ${path}: ${reason}\n`)
        // No log line at all: nothing was opened, no "active: ingesting".
        assert.equal(stdout, '')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('api on the embedded store refuses with one line (exit 1): that store is only live inside the process that counts', () => {
    const { status, stdout, stderr } = run(['api'])
    assert.equal(status, 1)
    assert.match(stderr, /^chat-stats api: needs Redis \(REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES\).*run `chat-stats start`/)
    assert.equal(stderr.trim().split('\n').length, 1, stderr)
    assert.equal(stdout, '')
  })

  it('worker without CHAT_INTERFACE_URL or --file says what is missing', () => {
    const { status, stderr } = run(['worker'])
    assert.equal(status, 1)
    assert.match(stderr, /CHAT_INTERFACE_URL is required/)
  })
})
