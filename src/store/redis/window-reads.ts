import type { Category, WindowName } from '../types.js'
import type { BucketLifeState } from '../windows/bucket-life.js'
import { marksOf } from '../windows/bucket-life.js'
import type { BucketRef } from '../windows/levels.js'
import { windowPlan } from '../windows/read-plan.js'
import type { RoomWindowValue } from '../windows/room-value.js'
import { decodeRoomValue, decodeTrimmed } from '../windows/serialise.js'
import type { TrimmedList } from '../windows/trimmed-list.js'
import type { RedisClient } from './clients.js'
import type { RedisKeys } from './keys.js'

/** A reader's view of the writer's bucket life is read again when older than this (docs/API.md#windows: a window answer may be up to 1 s old). */
export const WINDOW_STATE_MAX_AGE_MS = 1000
/** Keys per MGET / pipeline (a window whose writer stopped long ago decomposes into many 1 s buckets). */
const CHUNK = 1000

/**
 * The reader side of the window values: which buckets a window merges
 * (windows/read-plan.ts, from the writer's persisted floor) and their stored
 * values, fetched in one round trip (chunked past CHUNK keys).
 */
export class WindowReader {
  private state: { value: BucketLifeState | null, readAt: number } | null = null

  constructor (
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly run: <T>(work: () => Promise<T>) => Promise<T>
  ) {}

  /** The stream-wide lists of `category` that `window` merges at `nowMs`. */
  async lists (category: Category, window: Exclude<WindowName, 'all'>, nowMs: number): Promise<TrimmedList[]> {
    const plan = await this.plan(window, nowMs)
    const keys = plan.map(({ level, bucket }) => this.keys.windowValue(level, category, bucket))
    const texts: Array<string | null> = []
    for (let i = 0; i < keys.length; i += CHUNK) texts.push(...await this.run(() => this.redis.mget(keys.slice(i, i + CHUNK))))
    return texts.flatMap((text) => text === null ? [] : [decodeTrimmed(text)])
  }

  /** A room's values that `window` merges at `nowMs`. */
  async roomValues (room: string, window: Exclude<WindowName, 'all'>, nowMs: number): Promise<RoomWindowValue[]> {
    const plan = await this.plan(window, nowMs)
    const texts: Array<string | null> = []
    for (let i = 0; i < plan.length; i += CHUNK) {
      const chunk = plan.slice(i, i + CHUNK)
      texts.push(...await this.run(async () => {
        const pipeline = this.redis.pipeline()
        for (const { level, bucket } of chunk) pipeline.hget(this.keys.roomWindowValues(level, bucket), room)
        const results = await pipeline.exec()
        if (results === null) throw new Error('the pipeline was aborted')
        return results.map(([err, value]) => {
          if (err !== null) throw err
          return value as string | null
        })
      }))
    }
    return texts.flatMap((text) => text === null ? [] : [decodeRoomValue(text)])
  }

  /** Forgets the cached state (a writer in this process just moved it). */
  invalidate (): void {
    this.state = null
  }

  private async plan (window: Exclude<WindowName, 'all'>, nowMs: number): Promise<BucketRef[]> {
    const state = await this.writerState()
    // No window was ever written: nothing to read.
    if (state === null) return []
    return windowPlan(window, nowMs, marksOf(state.floor))
  }

  private async writerState (): Promise<BucketLifeState | null> {
    const cached = this.state
    if (cached !== null && performance.now() - cached.readAt <= WINDOW_STATE_MAX_AGE_MS) return cached.value
    const value = await this.run(() => readWindowState(this.redis, this.keys))
    this.state = { value, readAt: performance.now() }
    return value
  }
}

/** The writer's bucket life as persisted, or null for a namespace without windows yet. */
export async function readWindowState (redis: RedisClient, keys: RedisKeys): Promise<BucketLifeState | null> {
  const [floor, newest] = await redis.hmget(keys.windows, 'floor', 'newest')
  return floor === null || floor === undefined ? null : { floor: Number(floor), newestWritten: Number(newest ?? -1) }
}
