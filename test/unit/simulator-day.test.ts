import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DAY_JITTER_MS, DAY_MS, DAY_ROOM_COUNT } from '../../src/simulator/day-profile.js'
import {
  expectedCounts, expectedCountsToJson, generateEvent, generateEventWithIntent, intendedCounts, profileShape,
  runSimulateCommand, SimulatorOptionError
} from '../../src/simulator/index.js'
import { ROOMS } from '../../src/simulator/vocabulary.js'

const START = Date.UTC(2026, 11, 6, 12, 0, 0)
const EVENTS = 20_000

function sentTs (text: string): number | null {
  const match = /tmi-sent-ts=(\d+)/.exec(text)
  return match === null ? null : Number(match[1])
}

describe('simulator day profile', () => {
  const day = profileShape('day', { events: EVENTS, startMs: START })

  it('is a pure function of (seed, index, events, start)', () => {
    const again = profileShape('day', { events: EVENTS, startMs: START })
    for (const index of [1, 2, 999, EVENTS, EVENTS + 7, 5_000_000]) {
      assert.equal(generateEvent(3, index, day), generateEvent(3, index, again))
    }
    let same = 0
    for (let index = 1; index <= 300; index++) if (generateEvent(3, index, day) === generateEvent(4, index, day)) same++
    assert.equal(same, 0, 'another seed gives another stream')
  })

  it('moves only the times when the day ends at another moment', () => {
    const later = profileShape('day', { events: EVENTS, startMs: START + 3_600_000 })
    const withoutTimes = (text: string): string => text.replace(/tmi-sent-ts=\d+/g, 'tmi-sent-ts=').replace(/"ts":\d+/g, '"ts":')
    let withTimes = 0
    for (let index = 1; index <= 2000; index++) {
      const a = generateEvent(8, index, day)
      const b = generateEvent(8, index, later)
      assert.equal(withoutTimes(a), withoutTimes(b), `event ${index}`)
      const ts = sentTs(a)
      if (ts !== null) {
        withTimes++
        assert.equal(sentTs(b), ts + 3_600_000, `event ${index} moves by the hour`)
      }
    }
    assert.ok(withTimes > 1900, `most events carry tmi-sent-ts (${withTimes})`)
  })

  it('spreads event times over the 24 h before the start, in order within the jitter', () => {
    let latest = Number.NEGATIVE_INFINITY
    let first: number | null = null
    let last = 0
    let timed = 0
    for (let index = 1; index <= EVENTS; index++) {
      const { text, intent } = generateEventWithIntent(11, index, day)
      const ts = sentTs(text)
      if (ts === null || intent.kind === 'failed') continue
      timed++
      assert.ok(ts >= START - DAY_MS && ts < START, `event ${index} at ${ts} lies in the day`)
      assert.ok(ts > latest - DAY_JITTER_MS, `event ${index} at ${ts} is not more than the jitter before an earlier one (${latest})`)
      latest = Math.max(latest, ts)
      first ??= ts
      last = ts
    }
    assert.ok(timed > EVENTS * 0.95)
    assert.ok(first !== null && first < START - DAY_MS + 1000, 'the first events are 24 h old')
    assert.ok(last > START - 2 * DAY_MS / EVENTS - DAY_JITTER_MS, 'the last events are at the start')
  })

  it('has Twitch-like breadth: tens of thousands of rooms, hundreds of thousands of nicks, words seen once', () => {
    assert.ok(day.rooms.length >= 50_000 && day.rooms.length === DAY_ROOM_COUNT)
    assert.equal(new Set(day.rooms).size, day.rooms.length, 'room names are distinct')
    assert.equal(new Set(day.nicks).size, day.nicks.length, 'nicks are distinct')
    assert.ok(day.nicks.length >= 300_000)
    assert.deepEqual(day.rooms.slice(0, 5), ROOMS.slice(0, 5), 'the default profile\'s top rooms stay on top')

    const rooms = new Set<string>()
    const nicks = new Set<string>()
    const words = new Map<string, number>()
    const newWordsPerQuarter = [0, 0, 0, 0]
    for (let index = 1; index <= EVENTS; index++) {
      const { intent } = generateEventWithIntent(2, index, day)
      if (intent.kind !== 'chat') continue
      rooms.add(intent.room)
      nicks.add(intent.nick)
      for (const word of intent.words) {
        const seen = words.get(word) ?? 0
        if (seen === 0) newWordsPerQuarter[Math.floor(4 * (index - 1) / EVENTS)]!++
        words.set(word, seen + 1)
      }
    }
    const once = [...words.values()].filter((n) => n === 1).length
    // Figures of seed 2 (deterministic): rooms and nicks far beyond the default profile's 3,000 and 40,000.
    assert.ok(rooms.size > 6000, `distinct rooms ${rooms.size}`)
    assert.ok(nicks.size > 12_000, `distinct nicks ${nicks.size}`)
    assert.ok(once > words.size / 2, `most distinct words are seen once (${once} of ${words.size})`)
    // New words keep coming once the vocabulary is known: the last quarter still brings one every few events.
    const [, , third, fourth] = newWordsPerQuarter as [number, number, number, number]
    assert.ok(fourth > 0.2 * EVENTS / 4 && fourth > 0.75 * third, `new words per quarter ${newWordsPerQuarter.join(', ')}`)
  })

  it('counts by the same rules: the parser reads each event as the generator meant it', () => {
    const parsed = expectedCounts(5, 3000, day)
    const meant = intendedCounts(5, 3000, day)
    assert.equal(expectedCountsToJson(parsed), expectedCountsToJson(meant))
    assert.ok(parsed.messages > 2800)
  })

  it('is chosen by name in simulate, with --start to serve the same day again', async () => {
    let out = ''
    const stdout = { write: (text: string, callback?: (err?: Error | null) => void) => { out += text; callback?.(); return true } }
    await runSimulateCommand({ seed: 5, rate: 0, port: 0, count: 300, expect: true, profile: 'day', start: START }, { stdout })
    assert.equal(out, expectedCountsToJson(expectedCounts(5, 300, profileShape('day', { events: 300, startMs: START }))) + '\n')
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 0, profile: 'week' }, { stdout }), (err: unknown) => err instanceof SimulatorOptionError && err.option === '--profile')
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 0, start: START }, { stdout }), (err: unknown) => err instanceof SimulatorOptionError && err.option === '--start')
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 0, profile: 'day', start: 5 }, { stdout }), (err: unknown) => err instanceof SimulatorOptionError && err.option === '--start')
  })
})

describe('simulator live profile', () => {
  it('is the default stream stamped with the time each event is made', () => {
    const live = profileShape('live')
    const withoutTimes = (text: string): string => text.replace(/tmi-sent-ts=\d+/g, 'tmi-sent-ts=').replace(/"ts":\d+/g, '"ts":')
    let timed = 0
    for (let index = 1; index <= 3000; index++) {
      const before = Date.now()
      const text = generateEvent(6, index, live)
      const after = Date.now()
      assert.equal(withoutTimes(text), withoutTimes(generateEvent(6, index)), `event ${index}`)
      const ts = sentTs(text)
      if (ts === null) continue
      timed++
      assert.ok(ts > before - DAY_JITTER_MS && ts <= after, `event ${index} stamped ${ts}, made at ${before}..${after}`)
    }
    assert.ok(timed > 2900)
  })
})
