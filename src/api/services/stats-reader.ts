import fp from 'fastify-plugin'
import { botNicks } from '../../config.js'
import { MAX_SERIES_POINTS, STEP_MS } from '../../store/series.js'
import type { Category, FailedMessage, Resolution, StatsStore, TimePoint } from '../../store/types.js'
import { Errors } from '../errors.js'
import {
  MAX_MINUTE_SERIES_WINDOW, MAX_RATE_WINDOW_SECONDS, MAX_SECOND_SERIES_WINDOW, type StatsBody, type StreamSnapshot, type TOP_KEYS
} from '../schemas/stats.js'
import { type Admit, SharedReads } from './shared-reads.js'
import { seriesPoints, StatsBodies, type RoomAnswer, type SnapshotParams, type TopAnswer, type TopParams } from './stats-bodies.js'
import { guardStoreCall } from './store-guard.js'
import type { WorkerStatus } from './worker-status.js'

export type { RoomAnswer, SnapshotParams, TopAnswer, TopItem, TopParams } from './stats-bodies.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The routes' only way to the store: bounded in time, identical reads shared. */
    statsReader: StatsReader
  }
}

export interface StatsReaderOptions {
  store: StatsStore
  /** Epoch ms; "now" for the rate and the series. */
  clock: () => number
  /** STORE_TIMEOUT_MS: longest wait for the store before a 503. */
  timeoutMs: number
  /** Lower-cased nicks that ?bots=exclude leaves out. */
  botNicks: ReadonlySet<string>
  /**
   * API_CACHE_MS: identical reads within this long share one store read (and
   * one in flight is shared too), so a burst of requests costs the store one
   * read, not one each. 0 (the default here): every request reads the store.
   */
  reuseMs?: number
  /** API_STALE_MS: past reuseMs, the previous answer serves identical requests while a new read is in flight (SharedReads). 0 (the default here): they wait. */
  staleMs?: number
}

/** Series reads are shared per tier of points: the dashboard's 5 minutes, an hour, a day, a week at 1m. */
export const SERIES_TIERS = [300, 3600, 10_080, MAX_SERIES_POINTS]
/** Tiers above this many points are shared for LONG_TIER_REUSE_MS at least. */
const LONG_TIER_POINTS = 3600
const LONG_TIER_REUSE_MS = 1000

/** Snapshots for the live stream are shared by clients asking the same thing within this long. */
const SNAPSHOT_REUSE_MS = 500

/**
 * The API's view of the store. Each read checks its bounds, is shared with
 * identical reads (SharedReads), is bounded by STORE_TIMEOUT_MS with any
 * store failure a 503 (guardStoreCall), and is shaped into the body the
 * route sends (StatsBodies).
 */
export class StatsReader {
  private readonly store: StatsStore
  private readonly timeoutMs: number
  private readonly bodies: StatsBodies
  private readonly reads: SharedReads
  private readonly clock: () => number
  private readonly reuseMs: number

  constructor (options: StatsReaderOptions) {
    this.store = options.store
    this.timeoutMs = options.timeoutMs
    this.bodies = new StatsBodies(options)
    this.reuseMs = options.reuseMs ?? 0
    this.reads = new SharedReads(this.reuseMs, options.staleMs ?? 0)
    this.clock = options.clock
  }

  async ping (): Promise<void> {
    await guardStoreCall(async () => await this.store.ping(), this.timeoutMs, 'ping')
  }

  /** `admit` (here and in top and room): awaited before this request starts a store read of its own, not when it shares one (SharedReads.run). */
  async stats (rateWindowSeconds: number, admit?: Admit): Promise<StatsBody> {
    assertWindow('window', rateWindowSeconds, MAX_RATE_WINDOW_SECONDS)
    return await this.sharedRead(`stats:${rateWindowSeconds}`, async () => await this.bodies.stats(rateWindowSeconds), undefined, admit)
  }

  async top<C extends Category> (category: C, params: TopParams, admit?: Admit): Promise<TopAnswer<typeof TOP_KEYS[C]>> {
    // Every part is a validated name or number (no ':' in any): a template, not JSON.stringify, on this hot path.
    const key = `top:${category}:${params.window}:${params.limit}:${params.stopwords}:${params.bots}`
    return await this.sharedRead(key, async () => await this.bodies.top(category, params), undefined, admit)
  }

  /** A room's drill-down, or null when the room was never seen. */
  async room (room: string, params: TopParams, admit?: Admit): Promise<RoomAnswer | null> {
    const key = JSON.stringify(['room', room, params.window, params.limit, params.stopwords, params.bots])
    return await this.sharedRead(key, async () => await this.bodies.room(room, params), undefined, admit)
  }

  /**
   * The last `windowSecondsWanted` at `resolution`. Reads are shared by
   * tier, not by window: the store is asked for the smallest tier of
   * SERIES_TIERS that covers the window, ending with the current interval
   * (the key names it), and each answer is the tail of that read, so windows
   * that differ by a second share one read.
   */
  async series (resolution: Resolution, windowSecondsWanted: number): Promise<TimePoint[]> {
    assertWindow('window', windowSecondsWanted, resolution === '1s' ? MAX_SECOND_SERIES_WINDOW : MAX_MINUTE_SERIES_WINDOW)
    const points = seriesPoints(resolution, windowSecondsWanted)
    const step = STEP_MS[resolution]
    const currentStart = Math.floor(this.clock() / step) * step
    let tier = SERIES_TIERS.find((size) => size >= points) ?? MAX_SERIES_POINTS
    // The long tiers are megabytes of points: shared for a second at least (such a chart is hours wide).
    const ttlMs = tier > LONG_TIER_POINTS ? Math.max(this.reuseMs, LONG_TIER_REUSE_MS) : this.reuseMs
    // Nothing is shared: read only what was asked.
    if (ttlMs === 0) tier = points
    const read = await this.sharedRead(`series:${resolution}:${tier}:${currentStart}`, async () => await this.bodies.seriesEnding(resolution, tier, currentStart), ttlMs)
    return read.length === points ? read : read.slice(read.length - points)
  }

  /** Never shared: the admin wants the log as it is now. */
  async failedMessages (limit: number): Promise<FailedMessage[]> {
    return await guardStoreCall(async () => await this.store.failedMessages(limit), this.timeoutMs)
  }

  /**
   * One live-stream snapshot. Clients asking the same thing within
   * SNAPSHOT_REUSE_MS share one computation, so N dashboards cost one set of
   * store reads per tick, not N.
   */
  async snapshot (params: SnapshotParams, worker: WorkerStatus | null): Promise<StreamSnapshot> {
    assertWindow('rateWindow', params.rateWindow, MAX_RATE_WINDOW_SECONDS)
    const snapshot = await this.sharedRead(snapshotKey(params), async () => await this.bodies.snapshot(params), SNAPSHOT_REUSE_MS)
    return { ...snapshot, worker }
  }

  /** True while `answer` (from stats, top or room) is what an identical request would be given now without a store read (SharedReads.isShared). */
  isShared (answer: object): boolean {
    return this.reads.isShared(answer)
  }

  private async sharedRead<T> (key: string, read: () => Promise<T>, ttlMs?: number, admit?: Admit): Promise<T> {
    return await this.reads.run(key, async () => await guardStoreCall(read, this.timeoutMs), ttlMs, admit)
  }
}

/** Identifies what a snapshot is asked for: streams with equal keys share one computation. */
export function snapshotKey (params: SnapshotParams): string {
  return JSON.stringify(['snapshot', params.window, params.limit, params.stopwords, params.bots, params.rateWindow, params.room ?? null])
}

/** The routes validate these already; a bad value here would make the store walk an unbounded range. */
function assertWindow (name: string, seconds: number, max: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > max) throw Errors.invalidParameter(`querystring/${name}`, `must be an integer in 1..${max}`)
}

/** Decorates the instance with `statsReader` over the given store, with STORE_TIMEOUT_MS, API_CACHE_MS, API_STALE_MS and BOT_NICKS from `config`. */
export default fp<{ store: StatsStore }>(async (app, { store }) => {
  app.decorate('statsReader', new StatsReader({
    store,
    clock: app.clock,
    timeoutMs: app.config.STORE_TIMEOUT_MS,
    botNicks: botNicks(app.config),
    reuseMs: app.config.API_CACHE_MS,
    staleMs: app.config.API_STALE_MS
  }))
}, { name: 'stats-reader', dependencies: ['config', 'clock'] })
