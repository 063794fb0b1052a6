import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
// Resolved here so the CLI runs from any working directory (one without a .env).
const TSX = import.meta.resolve('tsx')

export interface CliProcess {
  child: ChildProcess
  /** Everything printed so far, stdout and stderr together. */
  output: () => string
  exited: Promise<number | null>
}

/** Starts `chat-stats <args>` with only PATH and `env` in its environment, in an empty directory. */
export function startCli (args: string[], env: Record<string, string>): CliProcess {
  const cwd = mkdtempSync(join(tmpdir(), 'chat-stats-proc-'))
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  child.stdout?.on('data', (chunk: Buffer) => { text += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    rmSync(cwd, { recursive: true, force: true })
    resolve(code)
  }))
  return { child, output: () => text, exited }
}

/** A TCP port that was free a moment ago. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { if (address !== null && typeof address === 'object') resolve(address.port); else reject(new Error('no port')) })
    })
  })
}

/** Polls `check` until it returns a value, or throws after `timeoutMs`. */
export async function eventually<T> (check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
