import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidBatchError, validateBatch } from '../../src/store/batch-validation.js'
import type { Batch, CountSlice, RoomSlice } from '../../src/store/types.js'

function room (parts: Partial<Record<keyof RoomSlice, unknown>> = {}): RoomSlice {
  return { messages: 1, words: new Map([['ok', 1]]), nicks: new Map([['n', 1]]), emotes: new Map(), events: new Map(), ...parts } as RoomSlice
}

function slice (parts: Partial<Record<keyof CountSlice, unknown>> = {}): CountSlice {
  return { second: 1, messages: 1, words: new Map([['ok', 1]]), nicks: new Map([['n', 1]]), rooms: new Map([['#r', 1]]), emotes: new Map(), events: new Map(), roomDetail: new Map([['#r', room()]]), ...parts } as CountSlice
}

function batch (...slices: CountSlice[]): Batch {
  return { sequence: 1, slices, failedCount: 0, failedLog: [] }
}

/** The message validateBatch throws for `b`, or null when it passes. */
function problem (b: Batch): string | null {
  try {
    validateBatch(b)
    return null
  } catch (err) {
    assert.ok(err instanceof InvalidBatchError)
    return err.message
  }
}

describe('validateBatch', () => {
  it('passes a well-formed batch, zero counts included', () => {
    assert.equal(problem(batch(slice(), slice({ second: 2, words: new Map([['zero', 0]]) }))), null)
  })

  it('names the map and the first bad count in it, stream-wide and in a room', () => {
    assert.equal(problem(batch(slice(), slice({ nicks: new Map<unknown, unknown>([['a', 1], ['b', -1], ['c', 1.5]]) }))), 'invalid batch: slices[1].nicks["b"] must be a non-negative integer, got -1')
    assert.equal(problem(batch(slice({ words: new Map<unknown, unknown>([['ok', 1], [7, 1]]) }))), 'invalid batch: slices[0].words has a non-string key 7')
    assert.equal(problem(batch(slice({ events: { PRIVMSG: 1 } }))), 'invalid batch: slices[0].events must be a Map')
    const hostile = '#"\n\u0000😂'
    assert.equal(problem(batch(slice({ roomDetail: new Map([['#r', room()], [hostile, room({ emotes: new Map([['Kappa', Number.NaN]]) })]]) }))),
      `invalid batch: slices[0].roomDetail[${JSON.stringify(hostile)}].emotes["Kappa"] must be a non-negative integer, got NaN`)
    assert.equal(problem(batch(slice({ roomDetail: new Map([['#r', room({ events: [] })]]) }))), 'invalid batch: slices[0].roomDetail["#r"].events must be a Map')
    assert.equal(problem(batch(slice({ roomDetail: new Map([['#r', room({ messages: -2 })]]) }))), 'invalid batch: slices[0].roomDetail["#r"].messages must be a non-negative integer')
    assert.equal(problem(batch(slice({ roomDetail: new Map<unknown, unknown>([[3, room()]]) }))), 'invalid batch: slices[0].roomDetail has a non-string key')
  })
})
