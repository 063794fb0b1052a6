import { StreamParser } from '../../src/ingest/stream-parser.js'
import { burstGenerator, type Burst } from '../../src/simulator/burst.js'
import { DEFAULT_SHAPE } from '../../src/simulator/generator.js'
import type { StreamShape } from '../../src/simulator/shape.js'
import type { StatsStore } from '../../src/store/types.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'

export interface BurstHistoryOptions {
  seed: number
  /** Events per second of event time. */
  eventsPerSecond: number
  /** Event time of the first event and the end of the history, epoch ms. */
  fromMs: number
  toMs: number
  /** The burst, in event time. */
  burst: { token: string, room: string, fromMs: number, toMs: number, share: number }
}

/**
 * Writes a stretch of past chat, with a burst in it, into a store through the
 * real parser and counting rules: the simulator's stream stamped from
 * `fromMs` at `eventsPerSecond`, one batch per 10 s of event time. Returns
 * the last sequence written.
 */
export async function writeBurstHistory (store: StatsStore, clock: () => number, options: BurstHistoryOptions): Promise<number> {
  const msPerEvent = 1000 / options.eventsPerSecond
  const indexAt = (ms: number): number => Math.floor((ms - options.fromMs) / msPerEvent) + 1
  const shape: StreamShape = { ...DEFAULT_SHAPE, sentTs: (random, index) => options.fromMs + Math.floor((index - 1) * msPerEvent) + random.int(250) }
  const { token, room, share } = options.burst
  const burst: Burst = { token, room, share, first: indexAt(options.burst.fromMs), last: indexAt(options.burst.toMs) - 1 }
  const generate = burstGenerator(shape, burst)
  const builder = new BatchBuilder(clock)
  const parser = new StreamParser({
    onEvent: (data, id) => builder.addEvent(data, id),
    onFailure: (raw, reason, id) => builder.addFailure(raw, reason, id),
    onSkipped: (_type, id) => builder.addSkipped(id)
  })
  let sequence = 0
  let index = 1
  for (let until = options.fromMs + 10_000; index < indexAt(options.toMs); until += 10_000) {
    let text = ''
    for (const last = Math.min(indexAt(until), indexAt(options.toMs)); index < last; index++) text += generate(options.seed, index).text
    parser.push(Buffer.from(text))
    if (!builder.isEmpty) await store.applyBatch(builder.take(++sequence))
  }
  return sequence
}
