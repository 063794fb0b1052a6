import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { TopEntry, TopList } from '../../src/store/types.js'
import { batch, slice } from '../helpers/batches.js'

/** The entries of an answer that must be exact (maxError 0). */
function exact (list: TopList): TopEntry[] {
  assert.equal(list.maxError, 0, 'exact while nothing was trimmed')
  return list.entries
}

const CHILD_FLAG = '--memory-crash-child'
const SECOND = Date.UTC(2025, 0, 15) / 1000

/**
 * The child: resumes from the snapshot like a worker would, then applies
 * batches (+1 message, +1 "tick", id-N) forever with a snapshot every 20 ms.
 * A large fixed word list makes each snapshot take several writes.
 */
async function child (path: string): Promise<void> {
  const store = new MemoryStore({ maxTrackedWords: 100_000, maxTrackedPerRoom: 1000, snapshotPath: path, snapshotIntervalMs: 20 })
  await store.open()
  let { sequence } = await store.position()
  if (sequence === 0) {
    const words = new Map<string, number>()
    for (let i = 0; i < 40_000; i++) words.set(`filler-word-${i}`, 1)
    await store.applyBatch(batch(++sequence, [slice(SECOND, { messages: 1, words: { ...Object.fromEntries(words), tick: 1 } })], { lastEventId: `id-${sequence}` }))
  }
  process.stdout.write('ready\n')
  for (;;) {
    await store.applyBatch(batch(++sequence, [slice(SECOND, { messages: 1, words: { tick: 1 } })], { lastEventId: `id-${sequence}` }))
    await sleep(1)
  }
}

if (process.argv.includes(CHILD_FLAG)) {
  await child(process.argv[process.argv.indexOf(CHILD_FLAG) + 1] as string)
} else {
  describe('MemoryStore after SIGKILL', () => {
    it('always reopens with counts that match the committed position', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'chat-stats-crash-'))
      t.after(() => rm(dir, { recursive: true, force: true }))
      const path = join(dir, 'store.json')
      let lastSequence = 0
      for (let round = 0; round < 4; round++) {
        const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG, path], { stdio: ['ignore', 'pipe', 'inherit'] })
        await once(proc.stdout, 'data')
        // Let several snapshots happen, then kill at a moment that differs per round.
        const firstMtime = await stat(path).then((s) => s.mtimeMs, () => 0)
        const deadline = Date.now() + 30_000
        while (Date.now() < deadline && await stat(path).then((s) => s.mtimeMs, () => 0) === firstMtime) await sleep(5)
        await sleep(7 * round + 3)
        proc.kill('SIGKILL')
        await once(proc, 'exit')

        const store = new MemoryStore({ maxTrackedWords: 100_000, maxTrackedPerRoom: 1000, snapshotPath: path })
        await store.open()
        const { sequence, lastEventId } = await store.position()
        assert.ok(sequence >= lastSequence, `round ${round}: the position never goes back (${sequence} < ${lastSequence})`)
        assert.equal(lastEventId, `id-${sequence}`)
        assert.equal((await store.totals()).totalMessages, sequence)
        assert.deepEqual((await store.top('words', { window: 'all', limit: 1 }).then(exact))[0], { value: 'tick', count: sequence })
        await store.close()
        lastSequence = sequence
      }
      assert.ok(lastSequence > 1, 'snapshots were written while the child ran')
      // Temp files of killed writes may remain (removed once stale); never a partial target.
      for (const name of await readdir(dir)) assert.ok(name === 'store.json' || name.endsWith('.tmp'), name)
    })
  })
}
