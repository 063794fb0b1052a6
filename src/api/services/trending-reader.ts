import fp from 'fastify-plugin'
import { rankTrending, type TrendingCandidate, type TrendingScope } from '../../model/trending.js'
import type { StatsStore, TopList, WindowName } from '../../store/types.js'
import { windowSpec } from '../../store/windows.js'
import { TRENDING_CANDIDATES, type TrendingBaseline, type TrendingBody, type TrendingKind, type TrendingWindow } from '../schemas/trending.js'
import { type Admit, SharedReads } from './shared-reads.js'
import { guardStoreCall } from './store-guard.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** GET /stats/trending's reads: bounded in time, identical reads shared. */
    trendingReader: TrendingReader
  }
}

export interface TrendingParams {
  kind: TrendingKind
  window: TrendingWindow
  baseline: TrendingBaseline
  room?: string | undefined
  limit: number
}

export interface TrendingAnswer {
  items: TrendingBody
  /** X-Stats-Max-Error: the larger of the window's and the baseline's bounds. */
  maxError: number
}

/** Epoch ms where the answer of `window` at `nowMs` starts: the first of its buckets. */
export function windowStartMs (window: Exclude<WindowName, 'all'>, nowMs: number): number {
  const spec = windowSpec(window)
  const current = Math.floor(Math.floor(nowMs / 1000) / spec.bucketSeconds)
  return (current - spec.buckets + 1) * spec.bucketSeconds * 1000
}

/**
 * Reads what a trending answer needs with the store's bounded window reads
 * (the same reads as the top lists, so the same bounds and error): the
 * window's TRENDING_CANDIDATES most frequent members, their counts over the
 * baseline (one read of the baseline restricted to them), and the messages
 * of the scope in both periods; model/trending.ts scores them.
 */
export class TrendingReader {
  private readonly reads: SharedReads

  constructor (
    private readonly store: StatsStore,
    private readonly clock: () => number,
    private readonly timeoutMs: number,
    reuseMs: number,
    staleMs = 0
  ) {
    this.reads = new SharedReads(reuseMs, staleMs)
  }

  /** The trending list, or null for a room never seen. `admit`: awaited before this request starts a read of its own (SharedReads.run). */
  async trending (params: TrendingParams, admit?: Admit): Promise<TrendingAnswer | null> {
    const key = JSON.stringify(['trending', params.kind, params.window, params.baseline, params.room ?? null, params.limit])
    return await this.reads.run(key, async () => await guardStoreCall(async () => await this.read(params), this.timeoutMs), undefined, admit)
  }

  private async read (params: TrendingParams): Promise<TrendingAnswer | null> {
    const { kind, window, baseline, room } = params
    const [scope, candidates] = await Promise.all([
      this.scope(window, baseline, room),
      this.top(kind, window, room, TRENDING_CANDIDATES)
    ])
    if (scope === null) return null
    const wanted = new Set(candidates.entries.map((entry) => entry.value))
    const before = wanted.size === 0
      ? { entries: [], maxError: 0 }
      // Only the candidates' counts are needed: the rest of the baseline is left out of the answer.
      : await this.top(kind, baseline, room, wanted.size, (value) => !wanted.has(value))
    const baselineCounts = new Map(before.entries.map((entry) => [entry.value, entry.count]))
    const scored: TrendingCandidate[] = candidates.entries.map((entry) => ({ value: entry.value, count: entry.count, baseline: baselineCounts.get(entry.value) ?? 0 }))
    const ranked = rankTrending(scored, { ...scope, baselineMaxError: before.maxError }, params.limit)
    const items: TrendingBody = kind === 'words'
      ? ranked.map(({ value, count, baseline, score }) => ({ word: value, count, baseline, score }))
      : ranked.map(({ value, count, baseline, score }) => ({ emote: value, count, baseline, score }))
    return { items, maxError: Math.max(candidates.maxError, before.maxError) }
  }

  /** The list of `kind` over `period`, stream-wide or in the room. */
  private async top (kind: TrendingKind, period: TrendingWindow | TrendingBaseline, room: string | undefined, limit: number, exclude?: (value: string) => boolean): Promise<TopList> {
    const query = { window: period, limit, exclude }
    return room === undefined ? await this.store.top(kind, query) : await this.store.roomTop(room, kind, query)
  }

  /** Chat messages of the scope in the window and over the baseline; null for a room never seen. */
  private async scope (window: TrendingWindow, baseline: TrendingBaseline, room: string | undefined): Promise<TrendingScope | null> {
    if (room !== undefined) {
      const [inWindow, overBaseline] = await Promise.all([this.store.roomTotals(room, window), this.store.roomTotals(room, baseline)])
      if (inWindow === null || overBaseline === null) return null
      return { windowMessages: inWindow.messages, baselineMessages: overBaseline.messages }
    }
    const [windowMessages, baselineMessages] = await Promise.all([this.messagesSince(window), this.messagesSince(baseline)])
    return { windowMessages, baselineMessages }
  }

  /** Stream-wide chat messages in what `period`'s answer covers now (its buckets, from the exact per-second or per-minute counts). */
  private async messagesSince (period: TrendingWindow | TrendingBaseline): Promise<number> {
    const now = this.clock()
    const resolution = windowSpec(period).bucketSeconds % 60 === 0 ? '1m' : '1s'
    let sum = 0
    for (const point of await this.store.series(resolution, windowStartMs(period, now), now)) sum += point.messages
    return sum
  }
}

/** Decorates the instance with `trendingReader` over the given store (STORE_TIMEOUT_MS, API_CACHE_MS, API_STALE_MS from config). */
export default fp<{ store: StatsStore }>(async (app, { store }) => {
  app.decorate('trendingReader', new TrendingReader(store, app.clock, app.config.STORE_TIMEOUT_MS, app.config.API_CACHE_MS, app.config.API_STALE_MS))
}, { name: 'trending-reader', dependencies: ['config', 'clock'] })
