import type { Batch, FailedMessage, RoomSlice } from './types.js'

/**
 * applyBatch (or a shard split) got a batch that does not match the Batch
 * type; nothing was written. A RangeError, as the shard split raised before.
 */
export class InvalidBatchError extends RangeError {
  readonly code = 'CS_INVALID_BATCH'
  constructor (reason: string) {
    super(`invalid batch: ${reason}`)
    this.name = 'InvalidBatchError'
  }
}

function isCount (n: unknown): boolean {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** The first problem checkEntry found in the map being checked (countsProblem resets it). */
let firstProblem: string | null = null

/** One entry of a count map (Map.forEach's argument order); module-level, so a check allocates no closure per map. */
function checkEntry (n: unknown, key: unknown): void {
  if (firstProblem !== null) return
  if (typeof key !== 'string') firstProblem = ` has a non-string key ${String(key)}`
  else if (!isCount(n)) firstProblem = `[${JSON.stringify(key)}] must be a non-negative integer, got ${String(n)}`
}

/**
 * What is wrong with `counts` as a map of non-negative integer counts by
 * string, as said after its name (the first bad entry), or null. The caller
 * builds the name only then: this runs on every flush, over every count.
 */
function countsProblem (counts: unknown): string | null {
  if (!(counts instanceof Map)) return ' must be a Map'
  firstProblem = null
  // forEach, not for-of: no [key, value] array per count (model/counts.ts).
  ;(counts as Map<unknown, unknown>).forEach(checkEntry)
  return firstProblem
}

/** How errors name a room's detail (built only for an error). */
function roomDetailName (where: string, room: string): string {
  return `${where}.roomDetail[${JSON.stringify(room)}]`
}

/**
 * Checks a whole batch before anything is written, so a bad batch writes
 * nothing: every store and the shard split call it first, and all raise
 * InvalidBatchError with the same message for the same batch (issue 15).
 */
export function validateBatch (batch: Batch): void {
  if (typeof batch !== 'object' || batch === null) throw new InvalidBatchError('not an object')
  if (!Number.isSafeInteger(batch.sequence) || batch.sequence < 1) throw new InvalidBatchError(`sequence must be a positive integer, got ${String(batch.sequence)}`)
  if (!Array.isArray(batch.slices)) throw new InvalidBatchError('slices must be an array')
  for (const name of ['previousSequence', 'storeRollbacks', 'messagesLost'] as const) {
    if (batch[name] !== undefined && !isCount(batch[name])) throw new InvalidBatchError(`${name} must be a non-negative integer when set`)
  }
  for (const [i, slice] of batch.slices.entries()) {
    const where = `slices[${i}]`
    if (typeof slice !== 'object' || slice === null) throw new InvalidBatchError(`${where} is not an object`)
    if (!Number.isSafeInteger(slice.second) || slice.second < 0) throw new InvalidBatchError(`${where}.second must be a non-negative integer`)
    if (!isCount(slice.messages)) throw new InvalidBatchError(`${where}.messages must be a non-negative integer`)
    for (const name of ['words', 'nicks', 'rooms', 'emotes', 'events'] as const) {
      const problem = countsProblem(slice[name])
      if (problem !== null) throw new InvalidBatchError(`${where}.${name}${problem}`)
    }
    if (!(slice.roomDetail instanceof Map)) throw new InvalidBatchError(`${where}.roomDetail must be a Map`)
    ;(slice.roomDetail as Map<unknown, RoomSlice>).forEach((detail, room) => {
      if (typeof room !== 'string') throw new InvalidBatchError(`${where}.roomDetail has a non-string key`)
      if (typeof detail !== 'object' || detail === null) throw new InvalidBatchError(`${roomDetailName(where, room)} is not an object`)
      if (!isCount(detail.messages)) throw new InvalidBatchError(`${roomDetailName(where, room)}.messages must be a non-negative integer`)
      for (const name of ['words', 'nicks', 'emotes', 'events'] as const) {
        const problem = countsProblem(detail[name])
        if (problem !== null) throw new InvalidBatchError(`${roomDetailName(where, room)}.${name}${problem}`)
      }
    })
  }
  if (!isCount(batch.failedCount)) throw new InvalidBatchError('failedCount must be a non-negative integer')
  if (!Array.isArray(batch.failedLog)) throw new InvalidBatchError('failedLog must be an array')
  for (const entry of batch.failedLog as unknown[]) {
    const e = entry as Partial<FailedMessage> | null
    if (typeof e !== 'object' || e === null || typeof e.raw !== 'string' || typeof e.reason !== 'string' || typeof e.at !== 'number' || !Number.isFinite(e.at)) {
      throw new InvalidBatchError('a failedLog entry needs string raw, string reason and a finite at')
    }
  }
  if (batch.lastEventId !== undefined && typeof batch.lastEventId !== 'string') throw new InvalidBatchError('lastEventId must be a string')
  if (batch.lastMessageAt !== undefined && (typeof batch.lastMessageAt !== 'number' || !Number.isFinite(batch.lastMessageAt))) {
    throw new InvalidBatchError('lastMessageAt must be a finite number')
  }
}
