import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'

// Issue 14, item 2: SIGTERM sent to `npm start` or `npx chat-stats …` must reach the node
// process that serves, which then stops cleanly; before, npm's `sh -c` died of it and left
// node running with PPID 1. Spawned for real, from the repository, as a user would.

const REPO = join(import.meta.dirname, '../..')

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Starts `command args` in the repository, waits for the served API's log
 * line, sends SIGTERM to the launcher (npm or npx) only, and returns the pid
 * of the node process that logged, its log and the launcher's exit.
 */
async function startThenTerminate (command: string, args: string[]): Promise<{ servingPid: number, output: string, launcherExit: number | string | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-stats-signal-'))
  const launcher = spawn(command, args, {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, SNAPSHOT_PATH: join(dir, 'snapshot.json'), NODE_PORT: '0', LOG_LEVEL: 'info', SIMULATOR_RATE: '200' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  launcher.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  launcher.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | string | null>((resolve) => launcher.on('exit', (code, signal) => resolve(code ?? signal)))
  try {
    // A first npx run installs a link to the project in npm's cache, and npm start may build: minutes on a loaded machine.
    const deadline = Date.now() + 240_000
    let servingPid: number | undefined
    while (servingPid === undefined) {
      const line = output.split('\n').find((l) => l.includes('"dashboard and API on'))
      if (line !== undefined) servingPid = (JSON.parse(line) as { pid: number }).pid
      else if (Date.now() > deadline) throw new Error(`never served:\n${output}`)
      else await sleep(200)
    }
    assert.notEqual(servingPid, launcher.pid, 'the launcher should not be the node process that serves')
    launcher.kill('SIGTERM')
    const launcherExit = await exited
    // docs/RELIABILITY.md#sigterm--sigint: stop reading, final flush, exit within 10 s.
    const gone = Date.now() + 12_000
    while (alive(servingPid) && Date.now() < gone) await sleep(100)
    return { servingPid, output, launcherExit }
  } finally {
    if (launcher.exitCode === null) launcher.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('SIGTERM through npm and npx', { timeout: 600_000 }, () => {
  for (const [name, command, args] of [['npm start', 'npm', ['start']], ['npx chat-stats start', 'npx', ['chat-stats', 'start']]] as const) {
    it(`${name}: SIGTERM to ${command} stops the node process that serves, cleanly`, async () => {
      const { servingPid, output } = await startThenTerminate(command, [...args])
      const stillThere = alive(servingPid)
      if (stillThere) process.kill(servingPid, 'SIGKILL')
      assert.equal(stillThere, false, `node ${servingPid} outlived ${name}:\n${output.slice(-2000)}`)
      const lines = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { pid: number, msg: string })
      assert.ok(lines.some((l) => l.pid === servingPid && l.msg === 'shutting down: stop reading, final flush'), output.slice(-2000))
      assert.ok(lines.some((l) => l.pid === servingPid && l.msg === 'stopped cleanly'), output.slice(-2000))
    })
  }

  it('the built bin is executable with its shebang, as npx runs it (npx may keep a link made before this build)', () => {
    // npm start above built dist if it was stale; the build, not npm's install, sets the mode.
    const bin = join(REPO, 'dist/src/cli.js')
    assert.notEqual(statSync(bin).mode & 0o111, 0, `${bin} is not executable`)
    assert.ok(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n'), `${bin} does not start with its shebang`)
  })
})
