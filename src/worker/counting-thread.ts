import { parentPort, workerData } from 'node:worker_threads'
import { EventCommands } from '../model/event-commands.js'
import { BatchBuilder } from './batch-builder.js'
import { CELL, type CountingThreadData, type FromCountingThread, type ToCountingThread } from './counting-protocol.js'

/**
 * The counting thread (see ThreadCounting in counting.ts): a BatchBuilder fed
 * with the worker's events, in the order they were read.
 */
const port = parentPort
if (port === null) throw new Error('counting-thread.ts runs as a worker thread (ThreadCounting starts it)')
const data = workerData as CountingThreadData
const cells = new Float64Array(data.shared)
const commands = new EventCommands(data.maxEventCommands)
/** The worker's clock as it sent the events being counted: their arrival time. */
let now = Date.now()
const builder = new BatchBuilder(() => now, data.maxNameBytes ?? undefined, commands)
let countedChars = 0
/** The sum of the update bounds (maxUpdatesOf) of the events counted so far, as the worker charged them. */
let countedUpdateBound = 0
/** The updates of the batches taken so far: until the worker has them, they are still held (Counting.handingOverUpdates). */
let takenUpdates = 0

function publish (): void {
  const { tally } = builder
  // Before pendingUpdates: a batch just taken is never missing from both.
  cells[CELL.takenUpdates] = takenUpdates
  cells[CELL.messages] = tally.messages
  cells[CELL.system] = tally.system
  cells[CELL.failed] = tally.failed
  cells[CELL.skipped] = tally.skipped
  cells[CELL.pendingUpdates] = builder.pendingUpdates
  cells[CELL.countedChars] = countedChars
  cells[CELL.countedUpdateBound] = countedUpdateBound
}

function count (items: string[]): void {
  let i = 0
  while (i < items.length) {
    const kind = items[i]
    if (kind === 'e') {
      builder.addEvent(items[i + 1] as string, items[i + 2] as string)
      i += 3
    } else if (kind === 'f') {
      builder.addFailure(items[i + 1] as string, items[i + 2] as string, items[i + 3] as string)
      i += 4
    } else if (kind === 's') {
      builder.addSkipped(items[i + 1] as string)
      i += 2
    } else {
      throw new Error(`counting thread: unknown item kind ${String(kind)}`)
    }
  }
}

const reply = (message: FromCountingThread): void => { port.postMessage(message) }

port.on('message', (message: ToCountingThread) => {
  switch (message.type) {
    case 'events':
      now = message.now
      count(message.items)
      countedChars += message.chars
      countedUpdateBound += message.updateBound
      publish()
      reply({ type: 'counted' })
      break
    case 'take': {
      const updates = builder.pendingUpdates
      const { batch, roomless } = builder.takeUnsummed(message.sequence)
      takenUpdates += updates
      publish()
      reply({ type: 'taken', batch, roomless, updates })
      break
    }
    case 'drop':
      builder.drop()
      publish()
      break
    case 'commands':
      commands.reset(message.known)
      break
  }
})
