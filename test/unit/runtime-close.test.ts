import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'

const CHILD = join(import.meta.dirname, '../helpers/close-on-signal-child.ts')
const TSX = import.meta.resolve('tsx')

interface Run {
  code: number | null
  /** The `msg` of each JSON log line, in order. */
  messages: string[]
}

/** Runs the child in `mode`, sends `signals` once it is ready (each after the log line `after`, when given), and waits for its exit. */
async function runChild (mode: string, signals: Array<{ signal: NodeJS.Signals, after: string }> = [], extra: string[] = []): Promise<Run> {
  const child = spawn(process.execPath, ['--import', TSX, CHILD, mode, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] })
  const messages: string[] = []
  let buffered = ''
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      const msg = (JSON.parse(line) as { msg: string }).msg
      messages.push(msg)
      const next = signals[0]
      if (next !== undefined && msg === next.after) {
        signals.shift()
        child.kill(next.signal)
      }
    }
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, messages }
}

describe('closeOnSignal (close-with-grace)', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: logs, runs the shutdown once and exits 0`, async () => {
      const { code, messages } = await runChild('ok', [{ signal, after: 'ready' }])
      assert.equal(code, 0)
      assert.deepEqual(messages, ['ready', 'shutting down: stop reading, final flush', 'closing resources', 'stopped cleanly'])
    })
  }

  for (const mode of ['throw', 'reject']) {
    it(`an uncaught error (${mode}) is logged, then the shutdown runs and the process exits 1`, async () => {
      const { code, messages } = await runChild(mode)
      assert.equal(code, 1)
      assert.deepEqual(messages, ['ready', 'uncaught error: stop reading, final flush', 'closing resources', 'stopped cleanly'])
    })
  }

  it('a failed shutdown exits 1 with the error logged', async () => {
    const { code, messages } = await runChild('fail', [{ signal: 'SIGTERM', after: 'ready' }])
    assert.equal(code, 1)
    assert.deepEqual(messages, ['ready', 'shutting down: stop reading, final flush', 'closing resources', 'shutdown failed'])
  })

  it('a shutdown past its time limit exits 1', async () => {
    const { code, messages } = await runChild('hang', [{ signal: 'SIGTERM', after: 'ready' }], ['300'])
    assert.equal(code, 1)
    assert.equal(messages.at(-1), 'shutdown took too long: exiting')
  })

  it('a second signal during the shutdown exits 1 at once', async () => {
    const { code, messages } = await runChild('hang', [{ signal: 'SIGTERM', after: 'ready' }, { signal: 'SIGINT', after: 'closing resources' }], ['60000'])
    assert.equal(code, 1)
    assert.equal(messages.at(-1), 'second signal: exiting now')
  })
})
