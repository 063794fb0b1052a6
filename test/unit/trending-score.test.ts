import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MIN_COUNT, MIN_SCORE, rankTrending, SMOOTHING, trendingScore, type TrendingCandidate } from '../../src/model/trending.js'

// 5 minutes of 1,000 messages in an hour of 12,000: the window is 1/11 of the rest.
const scope = { windowMessages: 1000, baselineMessages: 12_000 }

/** A member seen `before` times over the rest of the baseline and `count` times in the window. */
function member (value: string, before: number, count: number): TrendingCandidate {
  return { value, count, baseline: before + count }
}

describe('trendingScore', () => {
  it('is the smoothed ratio of the window count to the count the baseline rate predicts', () => {
    // 330 before over 11,000 messages -> 30 expected in 1,000; 300 seen.
    assert.equal(trendingScore({ count: 300, baseline: 630 }, scope), (300 + SMOOTHING) / (30 + SMOOTHING))
  })

  it('is about 1 for a member as frequent as usual, however common', () => {
    for (const expected of [1, 10, 100, 10_000]) {
      const score = trendingScore({ count: expected, baseline: expected * 12 }, scope)
      assert.equal(score, 1, `expected ${expected}`)
    }
  })

  it('keeps a Poisson swing of three standard deviations below MIN_SCORE at any count', () => {
    for (const expected of [0.5, 1, 3, 5, 10, 20, 50, 100, 1000, 100_000]) {
      const count = Math.ceil(expected + 3 * Math.sqrt(expected))
      const score = trendingScore({ count, baseline: expected * 11 + count }, scope)
      assert.ok(score !== null && score < MIN_SCORE, `expected ${expected}, seen ${count}: score ${score}`)
    }
  })

  it('per message: a chat twice as busy does not lift a word that keeps its share', () => {
    const busier = { windowMessages: 2000, baselineMessages: 13_000 }
    assert.equal(trendingScore({ count: 200, baseline: 1300 }, busier), 1)
  })

  it('has no answer without messages before the window', () => {
    assert.equal(trendingScore({ count: 50, baseline: 50 }, { windowMessages: 100, baselineMessages: 100 }), null)
    assert.equal(trendingScore({ count: 0, baseline: 0 }, { windowMessages: 0, baselineMessages: 10 }), null)
  })

  it('takes a baseline below the window count as nothing before the window', () => {
    assert.equal(trendingScore({ count: 40, baseline: 12 }, scope), trendingScore({ count: 40, baseline: 40 }, scope))
  })

  it('takes the baseline as large as its error bound allows, so trimmed counts do not look new', () => {
    // Read 65 over the hour and 48 in the window, but the hour's counts may be up to 50 low.
    const trimmed = { windowMessages: 1000, baselineMessages: 2000, baselineMaxError: 50 }
    assert.equal(trendingScore({ count: 48, baseline: 65 }, trimmed), Math.round((48 + SMOOTHING) / (67 + SMOOTHING) * 100) / 100)
    assert.ok((trendingScore({ count: 48, baseline: 65 }, { ...trimmed, baselineMaxError: 0 }) ?? 0) >= MIN_SCORE)
    // A real surge still shows through the bound.
    assert.ok((trendingScore({ count: 300, baseline: 330 }, trimmed) ?? 0) >= MIN_SCORE)
  })

  it('rounds to two decimals', () => {
    const score = trendingScore({ count: 7, baseline: 8 }, scope)
    assert.equal(score, Math.round(((7 + SMOOTHING) / (1 / 11 + SMOOTHING)) * 100) / 100)
  })
})

describe('rankTrending', () => {
  it('ranks a real surge above a member seen 3 times where never seen before', () => {
    const newcomer = member('newcomer', 0, 3)
    const surge = member('surge', 330, 300)
    const list = rankTrending([newcomer, surge], scope, 10)
    assert.deepEqual(list.map((e) => e.value), ['surge'])
    // Even scored, the newcomer stays below MIN_SCORE.
    assert.ok((trendingScore(newcomer, scope) ?? 0) < MIN_SCORE)
  })

  it('lists nothing seen fewer than MIN_COUNT times in the window, whatever its score', () => {
    const list = rankTrending([member('rare', 0, MIN_COUNT - 1), member('enough', 0, MIN_COUNT + 10)], { windowMessages: 10, baselineMessages: 1_000_000 }, 10)
    assert.deepEqual(list.map((e) => e.value), ['enough'])
  })

  it('never lists steady members, however common', () => {
    const steady = [member('lul', 110_000, 10_000), member('kekw', 55_000, 5_000), member('gg', 1100, 100)]
    assert.deepEqual(rankTrending(steady, scope, 100), [])
  })

  it('orders by score, ties by window count then by value in code-point order, and keeps `limit`', () => {
    // Same score (never seen before, same count) for the three last; 𝔸 (U+1D538) sorts after ｚ (U+FF5A) in code points.
    const candidates = [member('b', 0, 50), member('ｚ', 0, 50), member('𝔸', 0, 50), member('big', 0, 400), member('a', 0, 50), member('steady', 1100, 100)]
    const list = rankTrending(candidates, scope, 10)
    assert.deepEqual(list.map((e) => e.value), ['big', 'a', 'b', 'ｚ', '𝔸'])
    assert.deepEqual(rankTrending(candidates, scope, 2).map((e) => e.value), ['big', 'a'])
    // Equal shown scores with different counts: the larger count first.
    // x: (20 + 10) / (0 + 10) = 3; y: (50 + 10) / (10 + 10) = 3.
    const tied = rankTrending([member('x', 0, 20), member('y', 10, 50)], { windowMessages: 1000, baselineMessages: 2000 }, 10)
    assert.deepEqual(tied.map((e) => [e.value, e.score]), [['y', 3], ['x', 3]])
  })

  it('reports the baseline as at least the window count', () => {
    const [entry] = rankTrending([{ value: 'x', count: 40, baseline: 10 }], scope, 10)
    assert.deepEqual(entry, { value: 'x', count: 40, baseline: 40, score: trendingScore({ count: 40, baseline: 40 }, scope) })
  })

  it('lists nothing when the scope has no history before the window', () => {
    assert.deepEqual(rankTrending([member('x', 0, 500)], { windowMessages: 500, baselineMessages: 500 }, 10), [])
  })
})
