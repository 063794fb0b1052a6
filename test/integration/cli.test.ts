import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
// Resolved here so the CLI can run from any working directory.
const TSX = import.meta.resolve('tsx')

/** Runs the CLI in a clean environment (no .env in its working directory). */
function run (args: string[], env: Record<string, string> = {}): { status: number | null, stdout: string, stderr: string } {
  const cwd = mkdtempSync(join(tmpdir(), 'chat-stats-cli-'))
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
    for (const command of ['start', 'api', 'worker', 'simulate']) assert.match(stdout, new RegExp(`^\\s+${command}\\b`, 'm'))
  })

  for (const command of ['start', 'api', 'worker', 'simulate']) {
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
    const cwd = mkdtempSync(join(tmpdir(), 'chat-stats-cli-'))
    writeFileSync(join(cwd, '.env'), 'NODE_PORT=notaport\n')
    const result = spawnSync(process.execPath, ['--import', TSX, CLI, 'api'], { cwd, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 30_000 })
    rmSync(cwd, { recursive: true, force: true })
    assert.equal(result.status, 1)
    assert.match(result.stderr, /NODE_PORT/)
  })

  it('worker without CHAT_INTERFACE_URL or --file says what is missing', () => {
    const { status, stderr } = run(['worker'])
    assert.equal(status, 1)
    assert.match(stderr, /CHAT_INTERFACE_URL is required/)
  })
})
