import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { deserialize, serialize } from 'node:v8'
import type { RoomSlice } from '../../src/store/types.js'
import { BatchBuilder, MAX_FAILED_LOG, NO_COUNTS, SLICE_UPDATES } from '../../src/worker/batch-builder.js'

const chat = (nick: string, room: string, body: string, tags = ''): string =>
  JSON.stringify({ command: '', room, nick, target: '', body, tags })

describe('BatchBuilder', () => {
  it('counts messages without tmi-sent-ts into the slice of their arrival second', () => {
    let now = 1_700_000_000_500
    const builder = new BatchBuilder(() => now)
    builder.addEvent(chat('ann', '#a', 'Hello, hello Kappa', 'emotes=25:13-17'), '1')
    now += 600 // next second
    builder.addEvent(chat('bob', '#a', 'hi'), '2')
    builder.addEvent(JSON.stringify({ command: 'CLEARCHAT', room: '', nick: '', target: '#a', body: 'bob', tags: '' }), '3')
    const batch = builder.take(5)
    assert.equal(batch.sequence, 5)
    assert.equal(batch.lastEventId, '3')
    assert.equal(batch.lastMessageAt, now)
    assert.deepEqual(batch.slices.map((s) => [s.second, s.messages]), [[1_700_000_000, 1], [1_700_000_001, 1]])
    const [first, second] = batch.slices
    assert.deepEqual([...first!.words], [['hello', 2], ['kappa', 1]])
    assert.deepEqual([...first!.emotes], [['Kappa', 1]])
    assert.deepEqual([...first!.roomDetail.get('#a')!.nicks], [['ann', 1]])
    assert.deepEqual([...second!.events], [['CLEARCHAT', 1]])
    assert.deepEqual([...second!.roomDetail.get('#a')!.events], [['CLEARCHAT', 1]])
    assert.deepEqual([...second!.rooms], [['#a', 1]])
    assert.ok(builder.isEmpty)
    assert.equal(builder.pendingUpdates, 0)
  })

  it('counts failures with their reason and keeps the newest of the log', () => {
    const builder = new BatchBuilder(() => 1000)
    for (let i = 0; i < MAX_FAILED_LOG + 10; i++) builder.addEvent(i % 2 === 0 ? '{' : '[]', String(i))
    builder.addFailure('x'.repeat(5000), 'invalid UTF-8', '')
    const batch = builder.take(1)
    assert.equal(batch.failedCount, MAX_FAILED_LOG + 11)
    assert.equal(batch.failedLog.length, MAX_FAILED_LOG)
    assert.equal(batch.failedLog.at(-1)?.reason, 'invalid UTF-8')
    assert.equal(batch.failedLog.at(-1)?.raw.length, 2048)
    assert.equal(batch.failedLog.at(-2)?.reason, 'JSON is not an object')
    assert.equal(batch.lastEventId, String(MAX_FAILED_LOG + 9))
    assert.equal(builder.tally.failed, MAX_FAILED_LOG + 11)
  })

  it('skipped events only move the position', () => {
    const builder = new BatchBuilder(() => 1000)
    builder.addSkipped('9')
    const batch = builder.take(1)
    assert.deepEqual([batch.slices.length, batch.failedCount, batch.lastEventId], [0, 0, '9'])
  })

  it('sums the rooms into the stream-wide lists, with room-less messages', () => {
    const builder = new BatchBuilder(() => 5000)
    builder.addEvent(chat('a', '#r', 'x y'), '1')
    builder.addEvent(chat('a', '#s', 'x'), '2')
    builder.addEvent(chat('b', '', 'x z'), '3')
    const [slice] = builder.take(3).slices
    assert.deepEqual([...slice!.words].sort(), [['x', 3], ['y', 1], ['z', 1]])
    assert.deepEqual([...slice!.nicks].sort(), [['a', 2], ['b', 1]])
    assert.deepEqual([...slice!.rooms].sort(), [['#r', 1], ['#s', 1]])
    assert.deepEqual([...slice!.roomDetail.get('#r')!.words].sort(), [['x', 1], ['y', 1]])
  })

  it('gives a room slice its own list only once it counts into it: the others share one empty map, which stays empty, across threads too', () => {
    const builder = new BatchBuilder(() => 5000)
    const clear = (target: string): string => JSON.stringify({ command: 'CLEARCHAT', room: '', nick: '', target, body: 'x', tags: '' })
    builder.addEvent(chat('a', '#quiet', 'hi there'), '1')
    builder.addEvent(clear('#banned'), '2')
    builder.addEvent(chat('b', '#loud', 'Kappa', 'emotes=25:0-4'), '3')
    builder.addEvent(chat('c', '#loud', '!!!'), '4')
    builder.addEvent(clear('#loud'), '5')
    // A room's first list counted after others were: #quiet gets emotes and an event late.
    builder.addEvent(chat('d', '#quiet', 'Kappa', 'emotes=25:0-4'), '6')
    builder.addEvent(clear('#quiet'), '7')
    builder.addEvent(chat('e', '#plain', 'ok'), '8')
    const [slice] = builder.take(8).slices
    const room = (name: string): Record<string, unknown> => {
      const detail = slice!.roomDetail.get(name)!
      return { messages: detail.messages, words: [...detail.words], nicks: [...detail.nicks], emotes: [...detail.emotes], events: [...detail.events] }
    }
    assert.deepEqual(room('#quiet'), { messages: 2, words: [['hi', 1], ['there', 1], ['kappa', 1]], nicks: [['a', 1], ['d', 1]], emotes: [['Kappa', 1]], events: [['CLEARCHAT', 1]] })
    assert.deepEqual(room('#banned'), { messages: 0, words: [], nicks: [], emotes: [], events: [['CLEARCHAT', 1]] })
    assert.deepEqual(room('#loud'), { messages: 2, words: [['kappa', 1]], nicks: [['b', 1], ['c', 1]], emotes: [['Kappa', 1]], events: [['CLEARCHAT', 1]] })
    assert.deepEqual(room('#plain'), { messages: 1, words: [['ok', 1]], nicks: [['e', 1]], emotes: [], events: [] })
    const banned = slice!.roomDetail.get('#banned')!
    const plain = slice!.roomDetail.get('#plain')!
    // The lists never counted into are the one shared map, and it is still empty.
    assert.ok(banned.words === NO_COUNTS && banned.nicks === NO_COUNTS && banned.emotes === NO_COUNTS && plain.emotes === NO_COUNTS && plain.events === NO_COUNTS)
    assert.equal(NO_COUNTS.size, 0)
    // The stream-wide lists are sums of the rooms' and take nothing from the shared map.
    assert.deepEqual([...slice!.emotes], [['Kappa', 2]])
    assert.deepEqual([...slice!.events], [['CLEARCHAT', 3]])
    // The copy the counting thread hands over keeps the sharing: one empty map, not one per list.
    const copy = deserialize(serialize(slice!.roomDetail)) as Map<string, RoomSlice>
    assert.equal(copy.get('#banned')!.words, copy.get('#plain')!.emotes)
    assert.equal(copy.get('#banned')!.words.size, 0)
  })

  it('files messages at the second of their tmi-sent-ts, in any order, and hands the slices over ascending', () => {
    const arrival = 1_700_000_100_000
    const builder = new BatchBuilder(() => arrival)
    const sent = (ms: number): string => `emotes=;tmi-sent-ts=${ms};user-id=1`
    builder.addEvent(chat('a', '#r', 'late', sent(1_700_000_050_300)), '1')
    builder.addEvent(chat('b', '#r', 'early', sent(1_700_000_010_900)), '2')
    builder.addEvent(chat('c', '#s', 'late again', sent(1_700_000_050_999)), '3')
    builder.addEvent(chat('d', '#r', 'from the future', sent(arrival + 60_000)), '4')
    builder.addEvent(JSON.stringify({ command: 'CLEARCHAT', room: '', nick: '', target: '#r', body: 'b', tags: sent(1_700_000_010_000) }), '5')
    assert.equal(builder.pendingUpdates > 3 * SLICE_UPDATES, true)
    const batch = builder.take(5)
    assert.deepEqual(batch.slices.map((s) => [s.second, s.messages, [...s.events]]), [
      [1_700_000_010, 1, [['CLEARCHAT', 1]]],
      [1_700_000_050, 2, []],
      [1_700_000_100, 1, []]
    ])
    assert.deepEqual([...batch.slices[1]!.words].sort(), [['again', 1], ['late', 2]])
    assert.deepEqual([...batch.slices[1]!.rooms].sort(), [['#r', 1], ['#s', 1]])
    assert.deepEqual([...batch.slices[0]!.roomDetail.get('#r')!.nicks], [['b', 1]])
    // The latest chat message by event time (the future one fell back to its arrival).
    assert.equal(batch.lastMessageAt, arrival)
  })

  it('weighs each new second as SLICE_UPDATES counter updates, so the back-pressure bound counts slices', () => {
    const builder = new BatchBuilder(() => 1_700_000_100_000)
    for (let i = 0; i < 100; i++) builder.addEvent(chat('a', '#r', 'x', `tmi-sent-ts=${1_700_000_000_000 + i * 1000}`), String(i))
    const perMessage = 1 + 2 + 2 // its room's detail, its nick, its word (each new in its second)
    assert.equal(builder.pendingUpdates, 100 * (SLICE_UPDATES + perMessage))
    assert.equal(builder.take(1).slices.length, 100)
  })
})
