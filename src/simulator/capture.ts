import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { generateEvent } from './generator.js'

const EVENTS_PER_WRITE = 256

/**
 * Writes events 1..count of run `seed` to `path`, exactly as the simulator
 * serves them (a capture for `worker --file`). Resolves with the bytes written.
 */
export async function writeCapture (path: string, seed: number, count: number): Promise<{ events: number, bytes: number }> {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a whole number from 0, got ${count}`)
  generateEvent(seed, 1) // checks the seed before a file is created
  const file = createWriteStream(path)
  const failed = once(file, 'error').then(([err]) => { throw err as Error })
  failed.catch(() => {}) // observed below; avoids an unhandled rejection when nothing awaits it
  let bytes = 0
  try {
    for (let first = 1; first <= count; first += EVENTS_PER_WRITE) {
      const last = Math.min(count, first + EVENTS_PER_WRITE - 1)
      let text = ''
      for (let index = first; index <= last; index++) text += generateEvent(seed, index)
      const chunk = Buffer.from(text, 'utf8')
      bytes += chunk.length
      if (!file.write(chunk)) await Promise.race([once(file, 'drain'), failed])
    }
    file.end()
    await Promise.race([once(file, 'finish'), failed])
  } catch (err) {
    file.destroy()
    throw err
  }
  return { events: count, bytes }
}
