import type { Batch, StoreBounds } from '../types.js'
import { BucketLife } from '../windows/bucket-life.js'
import { TrackedRooms } from '../windows/tracked-rooms.js'
import type { RedisClient } from './clients.js'
import { replies } from './errors.js'
import { encodeFlush } from './flush-encoding.js'
import type { RedisKeys } from './keys.js'
import { MsgpackBuffer } from './msgpack.js'
import { ResultCode } from './result-codes.js'
import { evalPrepared } from './script-runner.js'
import { WRITE_SCRIPTS } from './scripts.js'
import { readWindowState } from './window-reads.js'
import { liveRoomWindowKeys, type StoredValues, storedValuesNeeded, windowWrites } from './window-writes.js'

/**
 * Lets timers run between the synchronous steps of a large flush: the
 * worker renews its lease on a timer, and a flush that held the event loop
 * past the lease's life would find the lease lost, retry, and never commit.
 */
const yieldToTimers = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export interface FlushWriterOptions extends StoreBounds {
  redis: RedisClient
  keys: RedisKeys
  /** Runs one Redis operation, mapping its failures to the store's errors. */
  run: <T>(work: () => Promise<T>) => Promise<T>
}

/**
 * The writer side of a RedisStore: the state the lease holder keeps between
 * flushes (the tracked rooms and the window buckets' life, both pure
 * modules under src/store/windows/), loaded from Redis when missing, and
 * one flush = at most one read round trip (stored values a late delta or a
 * build merges with; the all-time counts of rooms that may enter the
 * tracked set) and one EVALSHA of apply-batch.lua.
 */
export class FlushWriter {
  private state: { tracked: TrackedRooms, life: BucketLife } | null = null
  /** The packed writes of a flush go here (no buffer of megabytes allocated and copied per flush): see apply. */
  private readonly scratch = new MsgpackBuffer()
  private scratchInUse = false

  constructor (private readonly options: FlushWriterOptions) {}

  /** Forgets the state: it is loaded again before the next flush (after an unknown outcome, or a new lease). */
  reset (): void {
    this.state = null
  }

  /** Writes `batch` (validated) in one atomic step; the script's answer. */
  async apply (batch: Batch, leaseToken: string, nowMs: number): Promise<ResultCode> {
    // The packed writes are a view of the scratch buffer until the EVALSHA's bytes are built from
    // them: a flush that starts while another is under way on this writer packs into its own.
    if (this.scratchInUse) return await this.write(batch, leaseToken, nowMs, undefined)
    this.scratchInUse = true
    try {
      return await this.write(batch, leaseToken, nowMs, this.scratch)
    } finally {
      this.scratchInUse = false
    }
  }

  private async write (batch: Batch, leaseToken: string, nowMs: number, scratch: MsgpackBuffer | undefined): Promise<ResultCode> {
    const { redis, keys, run } = this.options
    this.state ??= await this.load()
    const { tracked, life } = this.state
    const nowSecond = Math.floor(nowMs / 1000)

    const roomMessages = new Map<string, number>()
    for (const slice of batch.slices) for (const [room, detail] of slice.roomDetail) roomMessages.set(room, (roomMessages.get(room) ?? 0) + detail.messages)
    const newcomers = [...roomMessages.keys()].filter((room) => !tracked.has(room))
    const needed = (plan: Parameters<typeof storedValuesNeeded>[0]): ReturnType<typeof storedValuesNeeded> => storedValuesNeeded(plan, keys)

    // A room enters the tracked set with its all-time messages (the rooms list holds them before this flush).
    const stored = newcomers.length === 0 ? [] : await run(() => redis.zmscore(keys.top('rooms'), ...newcomers))
    const before = new Map(newcomers.map((room, i) => [room, Number(stored[i] ?? 0)]))
    const trackedPlan = tracked.plan(roomMessages, (room) => (before.get(room) ?? 0) + (roomMessages.get(room) ?? 0))
    const windowPlan = life.plan(batch.slices, nowMs, trackedPlan.isTracked, trackedPlan.evicted)
    await yieldToTimers()

    const reads = needed(windowPlan)
    const values: StoredValues = { strings: new Map(), hashes: new Map() }
    if (reads.strings.length > 0 || reads.hashes.length > 0) {
      const results = await run(async () => {
        const pipeline = redis.pipeline()
        if (reads.strings.length > 0) pipeline.mget(reads.strings)
        for (const key of reads.hashes) pipeline.hgetall(key)
        return replies(await pipeline.exec())
      })
      let next = 0
      if (reads.strings.length > 0) {
        const texts = results[next++] as Array<string | null>
        reads.strings.forEach((key, i) => values.strings.set(key, texts[i] ?? null))
      }
      for (const key of reads.hashes) values.hashes.set(key, results[next++] as Record<string, string>)
    }
    const evicted = new Set(trackedPlan.evicted)
    const windows = windowWrites(windowPlan, values, { keys, windowTop: this.options.windowTop, roomWindowTop: this.options.roomWindowTop, nowSecond, evicted })
    await yieldToTimers()
    const { floor, newestWritten } = windowPlan.state
    const encoded = encodeFlush(batch, {
      tracked: trackedPlan,
      windows,
      evictedRoomWindows: evicted.size === 0 ? [] : liveRoomWindowKeys(keys, floor, newestWritten, nowSecond),
      windowState: windowPlan.state
    }, {
      keys,
      nowMs,
      maxTrackedWords: this.options.maxTrackedWords,
      maxTrackedPerRoom: this.options.maxTrackedPerRoom,
      maxFailedLog: this.options.maxFailedLog,
      leaseToken,
      scratch
    })

    await yieldToTimers()
    let outcome: unknown
    try {
      outcome = await run(() => evalPrepared(redis, WRITE_SCRIPTS.applyBatch, encoded.keys, encoded.args))
    } catch (err) {
      // Whether it was written is unknown: the state is loaded again from what Redis holds.
      this.state = null
      throw err
    }
    if (outcome === ResultCode.Applied) {
      tracked.commit(trackedPlan)
      life.commit(windowPlan)
    } else {
      this.state = null
    }
    if (outcome !== ResultCode.Applied && outcome !== ResultCode.Duplicate && outcome !== ResultCode.LeaseLost && outcome !== ResultCode.Behind) throw new Error(`apply-batch.lua answered ${String(outcome)}`)
    return outcome
  }

  /** The tracked rooms and the bucket life as the last flush left them. */
  private async load (): Promise<{ tracked: TrackedRooms, life: BucketLife }> {
    const { redis, keys, run } = this.options
    const [flat, windowState] = await run(() => Promise.all([redis.zrange(keys.tracked, 0, -1, 'WITHSCORES'), readWindowState(redis, keys)]))
    const tracked = new TrackedRooms(this.options.maxTrackedRooms)
    const entries: Array<[string, number]> = []
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i]!, Number(flat[i + 1])])
    tracked.load(entries)
    const life = new BucketLife({ windowTop: this.options.windowTop, roomWindowTop: this.options.roomWindowTop })
    life.restore(windowState)
    return { tracked, life }
  }
}
