import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { writeCapture } from '../../src/simulator/index.js'

// Issue 14, item 9: pretty lines on a terminal, JSON lines otherwise. The terminal is a real
// pseudo-terminal from util-linux `script`, so stdout.isTTY is what a user's shell gives.

const CLI = join(import.meta.dirname, '../../src/cli.ts')
const TSX = import.meta.resolve('tsx')

async function runWorker (capture: string, snapshot: string, onTerminal: boolean): Promise<string> {
  const command = `${process.execPath} --import ${TSX} ${CLI} worker --file ${capture}`
  const [file, args] = onTerminal ? ['script', ['-qec', command, '/dev/null']] : [process.execPath, ['--import', TSX, CLI, 'worker', '--file', capture]]
  const child = spawn(file, args, { env: { PATH: process.env.PATH ?? '', SNAPSHOT_PATH: snapshot, LOG_LEVEL: 'info', TERM: 'xterm' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  assert.equal(code, 0, output)
  return output
}

describe('log format by output', () => {
  let dir = ''
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chat-stats-output-'))
    await writeCapture(join(dir, 'capture.sse'), 3, 3000)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('on a terminal: readable lines, no JSON, the progress bar on its own row', async () => {
    const output = await runWorker(join(dir, 'capture.sse'), join(dir, 'tty.json'), true)
    // eslint-disable-next-line no-control-regex
    const plain = output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
    assert.match(plain, /INFO: end of input: counts committed/)
    assert.doesNotMatch(plain, /\{"level":/)
    // Each log line starts on a cleared row: never glued to the bar's text.
    assert.doesNotMatch(plain, /failed [\d,]+ +\[\d\d:\d\d/)
  })

  it('to a pipe: one JSON object per line', async () => {
    const output = await runWorker(join(dir, 'capture.sse'), join(dir, 'pipe.json'), false)
    const lines = output.trim().split('\n')
    assert.ok(lines.length > 1)
    for (const line of lines) assert.equal(typeof (JSON.parse(line) as { level: number }).level, 'number', line)
  })
})
