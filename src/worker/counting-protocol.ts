import type { Batch, RoomSlice } from '../store/types.js'

/**
 * The messages between the worker and its counting thread (counting.ts,
 * counting-thread.ts). Events travel as a flat list of strings: a kind, then
 * its fields ('e' data id, 'f' raw reason id, 's' id), which costs less to
 * pass between threads than an object per event.
 */
export type ToCountingThread =
  /** `now`: the worker's clock when it sent them, their arrival time (an event without tmi-sent-ts is filed in its second). */
  | { type: 'events', items: string[], chars: number, updateBound: number, now: number }
  | { type: 'take', sequence: number }
  | { type: 'drop' }
  | { type: 'commands', known: string[] }

export type FromCountingThread =
  /** Without its stream-wide lists: the worker adds them (BatchBuilder.takeUnsummed, sumStreamWide). */
  | { type: 'taken', batch: Batch, roomless: Array<RoomSlice | null>, updates: number }
  | { type: 'counted' }

export interface CountingThreadData {
  /** The shared cells (CELL), a Float64Array's buffer. */
  shared: SharedArrayBuffer
  maxNameBytes: number | null
  maxEventCommands: number
}

/**
 * What the thread publishes in shared memory after each message, for the
 * worker to read without waiting: its tally, the counter updates of the
 * batch being counted, the updates of the batches taken so far, and the
 * characters and update bounds (what the worker charged them, maxUpdatesOf)
 * of the events counted so far. Whole numbers far below 2^53 in 8-byte
 * cells, written by the thread only, in an order that never shows the
 * worker fewer updates than are held (a batch taken is added to the taken
 * updates before the pending ones drop).
 */
export const CELL = { messages: 0, system: 1, failed: 2, skipped: 3, pendingUpdates: 4, countedChars: 5, countedUpdateBound: 6, takenUpdates: 7 } as const
export const CELLS = 8
