import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StreamParser } from '../../src/ingest/stream-parser.js'
import { burstGenerator, burstProblem, parseBurst, type Burst } from '../../src/simulator/burst.js'
import { DEFAULT_SHAPE, generateEvent } from '../../src/simulator/generator.js'
import { runSimulateCommand, SimulatorOptionError, startSimulator } from '../../src/simulator/index.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'

const BURST: Burst = { token: 'PogChamp', room: '#xqc', first: 101, last: 600, share: 0.5 }

/** What the project's parser and counting rules make of a stream's text. */
function count (text: string): { xqcEmotes: Map<string, number>, xqcWords: Map<string, number>, messages: number } {
  const builder = new BatchBuilder(() => Date.UTC(2022, 0, 4))
  const parser = new StreamParser({ onEvent: (data, id) => builder.addEvent(data, id), onFailure: (raw, reason, id) => builder.addFailure(raw, reason, id), onSkipped: (_t, id) => builder.addSkipped(id) })
  parser.push(Buffer.from(text))
  const batch = builder.take(1)
  const xqcEmotes = new Map<string, number>()
  const xqcWords = new Map<string, number>()
  let messages = 0
  for (const slice of batch.slices) {
    messages += slice.messages
    const room = slice.roomDetail.get('#xqc')
    for (const [k, v] of room?.emotes ?? []) xqcEmotes.set(k, (xqcEmotes.get(k) ?? 0) + v)
    for (const [k, v] of room?.words ?? []) xqcWords.set(k, (xqcWords.get(k) ?? 0) + v)
  }
  return { xqcEmotes, xqcWords, messages }
}

describe('simulator burst', () => {
  it('leaves every event outside the burst as the stream has it, and replaces about `share` of those inside', () => {
    const generate = burstGenerator(DEFAULT_SHAPE, BURST)
    let replaced = 0
    for (let index = 1; index <= 700; index++) {
      const event = generate(3, index)
      if (index < BURST.first || index > BURST.last) assert.equal(event.text, generateEvent(3, index), `event ${index}`)
      else if (event.text !== generateEvent(3, index)) {
        replaced++
        assert.deepEqual(event.intent, { ...event.intent, kind: 'chat', room: '#xqc', emotes: ['PogChamp'], words: ['pogchamp'] })
        assert.match(event.text, new RegExp(`^event: privmsg\\nid: ${index}\\nse-data: `))
      }
    }
    // 500 events at one half: within 5 standard deviations (about 56).
    assert.ok(Math.abs(replaced - 250) < 56, `${replaced} replaced`)
  })

  it('counts as it says: the project\'s parser and rules see each burst message as one PogChamp (emote and word) in #xqc', () => {
    const generate = burstGenerator(DEFAULT_SHAPE, BURST)
    let plain = ''
    let burst = ''
    let intended = 0
    for (let index = BURST.first; index <= BURST.last; index++) {
      const event = generate(3, index)
      if (event.text === generateEvent(3, index)) continue
      burst += event.text
      plain += generateEvent(3, index)
      intended++
    }
    const withBurst = count(burst)
    assert.equal(withBurst.xqcEmotes.get('PogChamp'), intended)
    assert.equal(withBurst.xqcWords.get('pogchamp'), intended)
    assert.equal(withBurst.messages, intended)
    assert.ok(count(plain).messages < intended, 'the replaced events were not all chat messages of #xqc')
  })

  it('a word token counts as that word', () => {
    const generate = burstGenerator(DEFAULT_SHAPE, { ...BURST, token: 'ratio', share: 1 })
    const counted = count(generate(3, 200).text)
    assert.equal(counted.xqcWords.get('ratio'), 1)
    assert.equal(counted.xqcEmotes.size, 0)
  })

  it('is deterministic for a seed', () => {
    const a = burstGenerator(DEFAULT_SHAPE, BURST)
    const b = burstGenerator(DEFAULT_SHAPE, BURST)
    for (let index = 90; index <= 200; index++) assert.equal(a(9, index).text, b(9, index).text)
  })

  it('parses TOKEN@ROOM:FIRST-LAST:SHARE and refuses anything else, naming what is wrong', () => {
    assert.deepEqual(parseBurst('PogChamp@#xqc:180000-240000:0.05'), { token: 'PogChamp', room: '#xqc', first: 180000, last: 240000, share: 0.05 })
    assert.deepEqual(parseBurst('<3@#forsen:1-2:1'), { token: '<3', room: '#forsen', first: 1, last: 2, share: 1 })
    for (const bad of ['', 'PogChamp', 'PogChamp@xqc:1-2:0.1', 'PogChamp@#xqc:1:0.1', 'PogChamp@#xqc:a-b:0.1', 'PogChamp@#xqc:1-2:', 'PogChamp@#xqc:1-2:-1', `PogChamp@#xqc:1-${'9'.repeat(30)}:0.1`]) {
      assert.throws(() => parseBurst(bad), /TOKEN@ROOM:FIRST-LAST:SHARE/, bad)
    }
    assert.match(burstProblem({ ...BURST, token: 'Pog Champ' }, DEFAULT_SHAPE) ?? '', /^token /)
    assert.match(burstProblem({ ...BURST, room: '#nosuchroom' }, DEFAULT_SHAPE) ?? '', /^room /)
    assert.match(burstProblem({ ...BURST, first: 0 }, DEFAULT_SHAPE) ?? '', /^first /)
    assert.match(burstProblem({ ...BURST, last: 50 }, DEFAULT_SHAPE) ?? '', /^last /)
    assert.match(burstProblem({ ...BURST, share: 0 }, DEFAULT_SHAPE) ?? '', /^share /)
    assert.match(burstProblem({ ...BURST, share: 1.5 }, DEFAULT_SHAPE) ?? '', /^share /)
    assert.equal(burstProblem(BURST, DEFAULT_SHAPE), null)
  })

  it('`chat-stats simulate --burst` refuses a bad burst and --expect with a burst, naming the option', async () => {
    const stdout = { write: () => true }
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 0, burst: 'nonsense' }, { stdout }), (err: unknown) => err instanceof SimulatorOptionError && err.option === '--burst')
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 0, burst: 'PogChamp@#nosuchroom:1-2:0.5' }, { stdout }), (err: unknown) => err instanceof SimulatorOptionError && err.option === '--burst' && /room/.test(err.message))
    await assert.rejects(runSimulateCommand({ seed: 1, rate: 0, port: 0, count: 10, expect: true, burst: 'PogChamp@#xqc:1-2:0.5' }, { stdout }), (err: unknown) => err instanceof SimulatorOptionError && err.option === '--expect')
  })

  it('the simulator serves the burst', async () => {
    const handle = await startSimulator({ seed: 3, rate: 0, port: 0, count: 700, burst: BURST })
    try {
      const text = await (await fetch(handle.url)).text()
      const generate = burstGenerator(DEFAULT_SHAPE, BURST)
      let expected = ''
      for (let index = 1; index <= 700; index++) expected += generate(3, index).text
      assert.equal(text, expected)
    } finally {
      await handle.close()
    }
  })
})
