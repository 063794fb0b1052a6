import { MAX_SENT_AHEAD_MS } from '../../model/event-time.js'
import { MAX_SERIES_POINTS, STEP_MS } from '../../store/series.js'
import { isStopword } from '../../stopwords.js'
import type { Category, Resolution, RoomCategory, StatsStore, TimePoint, WindowName } from '../../store/types.js'
import { windowSeconds } from '../../store/windows.js'
import type { FilterMode } from '../schemas/common.js'
import { TOP_KEYS, type RoomBody, type RoomListErrors, type StatsBody, type StreamSnapshot, type TopKey } from '../schemas/stats.js'
import { topListFromStore, type TopList } from './store-top-list.js'

/** What a top list (or a room's lists) is asked for. */
export interface TopParams {
  window: WindowName
  limit: number
  stopwords?: FilterMode | undefined
  bots?: FilterMode | undefined
}

/** What a live-stream snapshot is asked for. */
export interface SnapshotParams extends TopParams {
  rateWindow: number
  room?: string | undefined
}

/** One entry of a top list as the API sends it: `{ word: 'lul', count: 3 }`. */
export type TopItem<K extends TopKey = TopKey> = { [P in K]: string } & { count: number }

/** A top list as the API sends it, and its X-Stats-Max-Error (0 = exact). */
export interface TopAnswer<K extends TopKey = TopKey> {
  items: Array<TopItem<K>>
  maxError: number
}

/** A room's drill-down and how far from exact its lists can be. */
export interface RoomAnswer {
  body: RoomBody
  /** X-Stats-Max-Error of the whole answer: the largest of its lists'. */
  maxError: number
  /** Each list's own bound, for the dashboard's markers. */
  listMaxError: RoomListErrors
}

export interface StatsBodiesOptions {
  store: StatsStore
  /** Epoch ms; "now" for the rate and the series. */
  clock: () => number
  /** Lower-cased nicks that ?bots=exclude leaves out. */
  botNicks: ReadonlySet<string>
}

/**
 * The API's answers from store reads: asks the store what a body needs and
 * shapes it as the response schemas say (docs/API.md). Neither bounded in
 * time nor shared: StatsReader adds both.
 */
export class StatsBodies {
  private readonly store: StatsStore
  private readonly clock: () => number
  private readonly isBot: (nick: string) => boolean

  constructor (options: StatsBodiesOptions) {
    this.store = options.store
    this.clock = options.clock
    const bots = options.botNicks
    this.isBot = (nick) => bots.has(nick.toLowerCase())
  }

  /**
   * The GET /stats body. The rate is the mean over the last `rateWindowSeconds`
   * complete seconds, or over the complete seconds since the first message
   * when there are fewer (see `streamRate`).
   */
  async stats (rateWindowSeconds: number): Promise<StatsBody> {
    const currentSecondMs = Math.floor(this.clock() / 1000) * 1000
    const [totals, points] = await Promise.all([
      this.store.totals(),
      // The window's complete seconds, the one being filled and the few ahead an event time may take:
      // together they say whether every message counted so far falls inside the window.
      this.store.series('1s', currentSecondMs - rateWindowSeconds * 1000, currentSecondMs + SECONDS_AHEAD * 1000)
    ])
    const complete = points.filter((point) => point.t < currentSecondMs)
    return {
      messagesPerSecond: streamRate(complete, points, totals.totalMessages, rateWindowSeconds),
      lastSecond: complete.at(-1)?.messages ?? 0,
      windowSeconds: rateWindowSeconds,
      totalMessages: totals.totalMessages,
      failedMessages: totals.failedMessages,
      events: totals.events,
      startedAt: isoOrNull(totals.startedAt),
      lastMessageAt: isoOrNull(totals.lastMessageAt),
      storeRollbacks: totals.storeRollbacks ?? 0,
      messagesLost: totals.messagesLost ?? 0
    }
  }

  /** One stream-wide top list. */
  async top<C extends Category> (category: C, params: TopParams): Promise<TopAnswer<typeof TOP_KEYS[C]>> {
    const list = topListFromStore(await this.store.top(category, { window: params.window, limit: params.limit, exclude: this.exclusion(category, params) }))
    return toAnswer(TOP_KEYS[category], list)
  }

  /** A room's drill-down, or null when the room was never seen. */
  async room (room: string, params: TopParams): Promise<RoomAnswer | null> {
    // roomTop answers [] for an unknown room, so everything can be asked at once.
    const [totals, lastMinute, allTime, storeTotals, words, nicks, emotes] = await Promise.all([
      this.store.roomTotals(room, params.window),
      params.window === 'all' ? this.store.roomTotals(room, '1m') : null,
      params.window === 'all' ? null : this.store.roomTotals(room, 'all'),
      this.store.totals(),
      this.roomTop(room, 'words', params),
      this.roomTop(room, 'nicks', params),
      this.roomTop(room, 'emotes', params)
    ])
    if (totals === null) return null
    const seconds = windowSeconds(params.window)
    // Window `all` gives the rate over the last minute.
    const rated = seconds === null ? { messages: lastMinute?.messages ?? 0, seconds: 60, allTime: totals.messages } : { messages: totals.messages, seconds, allTime: allTime?.messages ?? totals.messages }
    const messagesPerSecond = roomRate(rated.messages, rated.allTime, rated.seconds, storeTotals.startedAt, totals.firstSeenAt, this.clock())
    const body: RoomBody = {
      room,
      window: params.window,
      messages: totals.messages,
      messagesPerSecond,
      firstSeenAt: isoOrNull(totals.firstSeenAt),
      words: words.items,
      nicks: nicks.items,
      emotes: emotes.items,
      moderation: { CLEARCHAT: 0, CLEARMSG: 0, ...totals.events }
    }
    const listMaxError = { words: words.maxError, nicks: nicks.maxError, emotes: emotes.maxError }
    return { body, maxError: Math.max(words.maxError, nicks.maxError, emotes.maxError), listMaxError }
  }

  /** Messages per interval over the last `windowSecondsWanted`, ending with the interval being filled. */
  async series (resolution: Resolution, windowSecondsWanted: number): Promise<TimePoint[]> {
    const step = STEP_MS[resolution]
    return await this.seriesEnding(resolution, seriesPoints(resolution, windowSecondsWanted), Math.floor(this.clock() / step) * step)
  }

  /** `points` intervals ending with the one that starts at `currentStart`. */
  async seriesEnding (resolution: Resolution, points: number, currentStart: number): Promise<TimePoint[]> {
    return await this.store.series(resolution, currentStart - (points - 1) * STEP_MS[resolution], currentStart)
  }

  /** One live-stream snapshot, `worker` left null for the caller to fill. */
  async snapshot (params: SnapshotParams): Promise<StreamSnapshot> {
    const [stats, words, nicks, rooms, emotes, series, room] = await Promise.all([
      this.stats(params.rateWindow),
      this.top('words', params),
      this.top('nicks', params),
      this.top('rooms', params),
      this.top('emotes', params),
      this.series('1s', 300),
      params.room === undefined ? undefined : this.room(params.room, params)
    ])
    const snapshot: StreamSnapshot = {
      stats,
      top: { words: words.items, nicks: nicks.items, rooms: rooms.items, emotes: emotes.items },
      maxError: { words: words.maxError, nicks: nicks.maxError, rooms: rooms.maxError, emotes: emotes.maxError },
      series,
      worker: null,
      at: this.clock()
    }
    if (room !== undefined) {
      snapshot.room = room?.body ?? null
      snapshot.maxError.room = room?.listMaxError ?? null
    }
    return snapshot
  }

  private async roomTop<C extends RoomCategory> (room: string, category: C, params: TopParams): Promise<TopAnswer<typeof TOP_KEYS[C]>> {
    const list = topListFromStore(await this.store.roomTop(room, category, { window: params.window, limit: params.limit, exclude: this.exclusion(category, params) }))
    return toAnswer(TOP_KEYS[category], list)
  }

  private exclusion (category: Category, params: TopParams): ((value: string) => boolean) | undefined {
    if (category === 'words' && params.stopwords === 'exclude') return isStopword
    if (category === 'nicks' && params.bots === 'exclude') return this.isBot
    return undefined
  }
}

/** Seconds past the current one that a message's event time may fall in (tmi-sent-ts up to 5 s ahead, and the second it ends in). */
const SECONDS_AHEAD = Math.ceil(MAX_SENT_AHEAD_MS / 1000) + 1

/**
 * The stream's mean rate over the last `windowSeconds` complete seconds, or,
 * while the stream is younger than that, over the complete seconds since its
 * first message: one second in at 480/s it says 480, not 48. The stream is
 * young when every message counted so far (`totalMessages`) lies in `span`
 * (the window's seconds through a few ahead); its first message's second is
 * then the first non-zero point. `complete` are the window's complete seconds.
 * No complete second since the first message gives 0.
 */
export function streamRate (complete: readonly TimePoint[], span: readonly TimePoint[], totalMessages: number, windowSeconds: number): number {
  let sum = 0
  for (const point of complete) sum += point.messages
  let spanSum = 0
  for (const point of span) spanSum += point.messages
  if (spanSum < totalMessages) return sum / windowSeconds
  const first = complete.findIndex((point) => point.messages > 0)
  if (first === -1) return 0
  return sum / Math.min(windowSeconds, complete.length - first)
}

/**
 * A room's mean rate over a window of `windowSeconds` holding `windowMessages`
 * (the bucket being filled included), or over the time since the room was
 * first seen when that is shorter, at least one second (a rate is never
 * infinite, never negative).
 *
 * `firstSeenAtMs` (RoomTotals.firstSeenAt) is the start of the first event
 * second of the room's detail; its windowed counts hold nothing older, so
 * the time since then is what they span. It is taken as it is, not raised to
 * the stream's start: a message whose event time is before the store's
 * first write (a replay, a sender's clock) is in the window's counts.
 * Unknown (null: a room tracked before stores kept it, or an untracked one),
 * the older rule: the time since the stream's first write (`startedAtMs`)
 * when the room has no message older than the window (`allTimeMessages`
 * equal to `windowMessages`), else the whole window.
 */
export function roomRate (windowMessages: number, allTimeMessages: number, windowSeconds: number, startedAtMs: number | null, firstSeenAtMs: number | null, nowMs: number): number {
  if (windowMessages === 0 || startedAtMs === null) return 0
  if (firstSeenAtMs === null && allTimeMessages > windowMessages) return windowMessages / windowSeconds
  const elapsedSeconds = Math.max(1, (nowMs - (firstSeenAtMs ?? startedAtMs)) / 1000)
  return windowMessages / Math.min(windowSeconds, elapsedSeconds)
}

/** How many points a series of `windowSeconds` at `resolution` holds (what GET /stats/timeseries costs). */
export function seriesPoints (resolution: Resolution, windowSeconds: number): number {
  return Math.min(MAX_SERIES_POINTS, Math.max(1, Math.ceil(windowSeconds * 1000 / STEP_MS[resolution])))
}

function toAnswer<K extends TopKey> (key: K, list: TopList): TopAnswer<K> {
  return { items: list.entries.map((entry) => ({ [key]: entry.value, count: entry.count }) as TopItem<K>), maxError: list.maxError }
}

function isoOrNull (ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}
