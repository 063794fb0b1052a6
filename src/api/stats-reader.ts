import { recordStoreError, type StoreOperation } from '../metrics.js'
import { isStopword } from '../stopwords.js'
import type { Category, FailedMessage, Resolution, RoomCategory, StatsStore, TimePoint, TopEntry, WindowName } from '../store/types.js'
import { windowSeconds } from '../store/windows.js'
import { ApiError, Errors } from './errors.js'
import type { FilterMode } from './schemas/common.js'
import {
  MAX_MINUTE_SERIES_WINDOW, MAX_RATE_WINDOW_SECONDS, MAX_SECOND_SERIES_WINDOW, TOP_KEYS, type RoomBody, type StatsBody, type StreamSnapshot, type TopKey
} from './schemas/stats.js'

/** What the in-process worker reports (present only when API and worker share a process). */
export interface WorkerStatus {
  connected: boolean
  role: 'active' | 'standby' | 'none'
}

export interface TopParams {
  window: WindowName
  limit: number
  stopwords?: FilterMode | undefined
  bots?: FilterMode | undefined
}

export interface SnapshotParams extends TopParams {
  rateWindow: number
  room?: string | undefined
}

export type TopItem<K extends TopKey = TopKey> = { [P in K]: string } & { count: number }

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
}

/** Snapshots for the live stream are shared by clients asking the same thing within this long. */
const SNAPSHOT_REUSE_MS = 500
/** Expired shared reads are dropped at most this often (a sweep walks every entry). */
const SWEEP_INTERVAL_MS = 100
/** Intervals in one timeseries answer at most (a day of seconds; a week of minutes is fewer). */
export const MAX_SERIES_POINTS = 86_400

const STEP_MS: Record<Resolution, number> = { '1s': 1000, '1m': 60_000 }

/**
 * The API's view of the store: every read is bounded by STORE_TIMEOUT_MS and
 * any store failure becomes a 503 ApiError, so no route can hang or leak a
 * store error. Also shapes store answers into the bodies the routes send.
 */
export class StatsReader {
  private readonly store: StatsStore
  private readonly clock: () => number
  readonly timeoutMs: number
  private readonly isBot: (nick: string) => boolean
  private readonly reuseMs: number
  private readonly reads = new Map<string, { expiresAt: number, result: Promise<unknown> }>()
  private readsSweptAt = 0

  constructor (options: StatsReaderOptions) {
    this.store = options.store
    this.clock = options.clock
    this.timeoutMs = options.timeoutMs
    const bots = options.botNicks
    this.isBot = (nick) => bots.has(nick.toLowerCase())
    this.reuseMs = options.reuseMs ?? 0
  }

  /**
   * The result of `work` for `key`, shared with every identical read started
   * less than `ttlMs` ago (default reuseMs). A failed read is not shared: the
   * next request tries again. Entries live at most their ttl and expired ones
   * are swept as requests come, so the map holds about the distinct requests
   * of the last ttl (bounded by the rate limit).
   */
  private async shared<T> (key: string, work: () => Promise<T>, ttlMs = this.reuseMs): Promise<T> {
    if (ttlMs === 0) return await work()
    const now = performance.now()
    if (now - this.readsSweptAt >= SWEEP_INTERVAL_MS) {
      for (const [k, entry] of this.reads) if (now >= entry.expiresAt) this.reads.delete(k)
      this.readsSweptAt = now
    }
    const found = this.reads.get(key)
    if (found !== undefined && now < found.expiresAt) return await (found.result as Promise<T>)
    const result = work()
    this.reads.set(key, { expiresAt: now + ttlMs, result })
    result.catch(() => { if (this.reads.get(key)?.result === result) this.reads.delete(key) })
    return await result
  }

  /** Runs `work` against the store within the timeout; failures become 503 ApiErrors. */
  async guard<T> (work: () => Promise<T>, operation: StoreOperation = 'read'): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(Errors.storeTimeout(this.timeoutMs)), this.timeoutMs)
    })
    try {
      return await Promise.race([work(), timeout])
    } catch (err) {
      recordStoreError(operation)
      if (err instanceof ApiError) throw err
      throw Errors.storeUnavailable(err)
    } finally {
      clearTimeout(timer)
    }
  }

  async ping (): Promise<void> {
    await this.guard(async () => await this.store.ping(), 'ping')
  }

  async stats (rateWindowSeconds: number): Promise<StatsBody> {
    assertWindow('window', rateWindowSeconds, MAX_RATE_WINDOW_SECONDS)
    return await this.shared(`stats:${rateWindowSeconds}`, async () => await this.guard(async () => await this.readStats(rateWindowSeconds)))
  }

  async top<C extends Category> (category: C, params: TopParams): Promise<Array<TopItem<typeof TOP_KEYS[C]>>> {
    const key = JSON.stringify(['top', category, params.window, params.limit, params.stopwords, params.bots])
    return await this.shared(key, async () => await this.guard(async () => await this.readTop(category, params)))
  }

  /** A room's drill-down, or null when the room was never seen. */
  async room (room: string, params: TopParams): Promise<RoomBody | null> {
    const key = JSON.stringify(['room', room, params.window, params.limit, params.stopwords, params.bots])
    return await this.shared(key, async () => await this.guard(async () => await this.readRoom(room, params)))
  }

  async series (resolution: Resolution, windowSecondsWanted: number): Promise<TimePoint[]> {
    assertWindow('window', windowSecondsWanted, resolution === '1s' ? MAX_SECOND_SERIES_WINDOW : MAX_MINUTE_SERIES_WINDOW)
    return await this.shared(`series:${resolution}:${windowSecondsWanted}`, async () => await this.guard(async () => await this.readSeries(resolution, windowSecondsWanted)))
  }

  async failedMessages (limit: number): Promise<FailedMessage[]> {
    return await this.guard(async () => await this.store.failedMessages(limit))
  }

  /**
   * One live-stream snapshot. Clients asking the same thing within
   * SNAPSHOT_REUSE_MS share one computation, so N dashboards cost one set of
   * store reads per tick, not N.
   */
  async snapshot (params: SnapshotParams, worker: WorkerStatus | null): Promise<StreamSnapshot> {
    assertWindow('rateWindow', params.rateWindow, MAX_RATE_WINDOW_SECONDS)
    const key = JSON.stringify(['snapshot', params.window, params.limit, params.stopwords, params.bots, params.rateWindow, params.room ?? null])
    const snapshot = await this.shared(key, async () => await this.guard(async () => await this.readSnapshot(params)), SNAPSHOT_REUSE_MS)
    return { ...snapshot, worker }
  }

  private async readStats (rateWindowSeconds: number): Promise<StatsBody> {
    const currentSecondMs = Math.floor(this.clock() / 1000) * 1000
    const [totals, points] = await Promise.all([
      this.store.totals(),
      // The complete seconds only: the one being filled would drag the mean down.
      this.store.series('1s', currentSecondMs - rateWindowSeconds * 1000, currentSecondMs - 1000)
    ])
    let sum = 0
    for (const point of points) sum += point.messages
    return {
      messagesPerSecond: sum / rateWindowSeconds,
      lastSecond: points.at(-1)?.messages ?? 0,
      windowSeconds: rateWindowSeconds,
      totalMessages: totals.totalMessages,
      failedMessages: totals.failedMessages,
      events: totals.events,
      startedAt: isoOrNull(totals.startedAt),
      lastMessageAt: isoOrNull(totals.lastMessageAt)
    }
  }

  private exclusion (category: Category, params: TopParams): ((value: string) => boolean) | undefined {
    if (category === 'words' && params.stopwords === 'exclude') return isStopword
    if (category === 'nicks' && params.bots === 'exclude') return this.isBot
    return undefined
  }

  private async readTop<C extends Category> (category: C, params: TopParams): Promise<Array<TopItem<typeof TOP_KEYS[C]>>> {
    const entries = await this.store.top(category, { window: params.window, limit: params.limit, exclude: this.exclusion(category, params) })
    return toItems(TOP_KEYS[category], entries)
  }

  private async readRoomTop<C extends RoomCategory> (room: string, category: C, params: TopParams): Promise<Array<TopItem<typeof TOP_KEYS[C]>>> {
    const entries = await this.store.roomTop(room, category, { window: params.window, limit: params.limit, exclude: this.exclusion(category, params) })
    return toItems(TOP_KEYS[category], entries)
  }

  private async readRoom (room: string, params: TopParams): Promise<RoomBody | null> {
    // roomTop answers [] for an unknown room, so everything can be asked at once.
    const [totals, lastMinute, words, nicks, emotes] = await Promise.all([
      this.store.roomTotals(room, params.window),
      params.window === 'all' ? this.store.roomTotals(room, '1m') : null,
      this.readRoomTop(room, 'words', params),
      this.readRoomTop(room, 'nicks', params),
      this.readRoomTop(room, 'emotes', params)
    ])
    if (totals === null) return null
    const seconds = windowSeconds(params.window)
    const messagesPerSecond = seconds === null ? (lastMinute?.messages ?? 0) / 60 : totals.messages / seconds
    return {
      room,
      window: params.window,
      messages: totals.messages,
      messagesPerSecond,
      words,
      nicks,
      emotes,
      moderation: { CLEARCHAT: 0, CLEARMSG: 0, ...totals.events }
    }
  }

  private async readSeries (resolution: Resolution, windowSecondsWanted: number): Promise<TimePoint[]> {
    const step = STEP_MS[resolution]
    const points = Math.min(MAX_SERIES_POINTS, Math.max(1, Math.ceil(windowSecondsWanted * 1000 / step)))
    const currentStart = Math.floor(this.clock() / step) * step
    return await this.store.series(resolution, currentStart - (points - 1) * step, currentStart)
  }

  private async readSnapshot (params: SnapshotParams): Promise<StreamSnapshot> {
    const [stats, words, nicks, rooms, emotes, series, room] = await Promise.all([
      this.readStats(params.rateWindow),
      this.readTop('words', params),
      this.readTop('nicks', params),
      this.readTop('rooms', params),
      this.readTop('emotes', params),
      this.readSeries('1s', 300),
      params.room === undefined ? undefined : this.readRoom(params.room, params)
    ])
    const snapshot: StreamSnapshot = { stats, top: { words, nicks, rooms, emotes }, series, worker: null, at: this.clock() }
    if (room !== undefined) snapshot.room = room
    return snapshot
  }
}

/** The routes validate these already; a bad value here would make the store walk an unbounded range. */
function assertWindow (name: string, seconds: number, max: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > max) throw Errors.invalidParameter(`querystring/${name}`, `must be an integer in 1..${max}`)
}

function toItems<K extends TopKey> (key: K, entries: TopEntry[]): Array<TopItem<K>> {
  return entries.map((entry) => ({ [key]: entry.value, count: entry.count }) as TopItem<K>)
}

function isoOrNull (ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}
