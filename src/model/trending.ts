import { compareValues } from '../store/top-order.js'

/**
 * What is trending: members (words or emotes) whose rate in a recent window
 * most exceeds their rate over a longer baseline. Pure: the API reads the
 * counts and hands them here.
 *
 * Rates are per chat message of the same scope (the stream, or the room), not
 * per second: when a chat gets busier every word gets more frequent, and that
 * alone is not news. A member trends when it takes a larger share of the
 * conversation than it had. Per message also needs no guess of how long the
 * store has been counting, and a room with no history has no baseline at all
 * (nothing trends there) instead of everything trending at once.
 *
 * The score is a smoothed rate ratio:
 *
 *   expected = (baseline - count) * windowMessages / (baselineMessages - windowMessages)
 *   score    = (count + SMOOTHING) / (expected + SMOOTHING)
 *
 * `expected` is how often the member would have appeared in the window at
 * its rate over the rest of the baseline (the baseline includes the window).
 * When the baseline's counts are approximate (trimmed window buckets), its
 * error bound is added to `baseline`: the score is never raised by counts
 * the store dropped.
 * SMOOTHING adds the same pseudo-count to both sides, which pulls small
 * counts towards 1: a member seen 3 times where never seen before scores
 * 1.3, while one that went from an expected 30 to 300 scores 7.75. A member
 * is listed only with at least MIN_COUNT occurrences in the window and a
 * score of at least MIN_SCORE; with SMOOTHING 10 a Poisson swing of three
 * standard deviations stays near 1.5 at most (at an expected 10), leaving
 * room for chat being burstier than Poisson, so a steady word, however
 * common, does not trend.
 */

/** Pseudo-count added to the window count and to the expected count. */
export const SMOOTHING = 10
/** Fewest occurrences in the window for a member to be listed. */
export const MIN_COUNT = 5
/** Lowest score listed: twice as frequent as usual, after smoothing. */
export const MIN_SCORE = 2
/** Scores are rounded to this many decimals before ranking, so equal shown scores are ties. */
export const SCORE_DECIMALS = 2

export interface TrendingCandidate {
  value: string
  /** Occurrences in the window. */
  count: number
  /** Occurrences over the baseline period, which includes the window. */
  baseline: number
}

export interface TrendingScope {
  /** Chat messages in the window (stream-wide or in the room). */
  windowMessages: number
  /** Chat messages over the baseline period, which includes the window. */
  baselineMessages: number
  /**
   * The most by which any baseline count can be below its true count (the
   * baseline read's X-Stats-Max-Error); default 0, exact.
   */
  baselineMaxError?: number | undefined
}

export interface TrendingEntry extends TrendingCandidate {
  score: number
}

/**
 * The score of one member, or null when the scope has no history before the
 * window to compare with. Approximate counts never make a member trend: the
 * earlier occurrences are taken as the most the bounds allow (the baseline
 * read plus its error, less the window count as read), so a member trimmed
 * from the baseline's buckets does not look new.
 */
export function trendingScore (candidate: Pick<TrendingCandidate, 'count' | 'baseline'>, scope: TrendingScope): number | null {
  const before = scope.baselineMessages - scope.windowMessages
  if (!(before > 0) || !(scope.windowMessages > 0)) return null
  const count = Math.max(0, candidate.count)
  const earlier = Math.max(0, candidate.baseline + Math.max(0, scope.baselineMaxError ?? 0) - count)
  const expected = earlier * scope.windowMessages / before
  const score = (count + SMOOTHING) / (expected + SMOOTHING)
  const scale = 10 ** SCORE_DECIMALS
  return Math.round(score * scale) / scale
}

/**
 * The trending list: members with at least MIN_COUNT in the window and a
 * score of at least MIN_SCORE, by score descending, ties by window count
 * descending, then by value ascending in code-point order (the top lists'
 * order); at most `limit`.
 */
export function rankTrending (candidates: Iterable<TrendingCandidate>, scope: TrendingScope, limit: number): TrendingEntry[] {
  const out: TrendingEntry[] = []
  for (const candidate of candidates) {
    if (candidate.count < MIN_COUNT) continue
    const score = trendingScore(candidate, scope)
    if (score === null) return []
    if (score < MIN_SCORE) continue
    out.push({ value: candidate.value, count: candidate.count, baseline: Math.max(candidate.baseline, candidate.count), score })
  }
  out.sort((a, b) => b.score - a.score || b.count - a.count || compareValues(a.value, b.value))
  return out.slice(0, Math.max(0, limit))
}
