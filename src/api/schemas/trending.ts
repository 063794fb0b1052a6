import { Type, type Static } from 'typebox'
import { MIN_COUNT, MIN_SCORE, SMOOTHING } from '../../model/trending.js'
import { Limit, WINDOWED_ANSWER_HEADERS } from './common.js'
import { MAX_ROOM_LENGTH } from './stats.js'

/** Windows a trend is measured over, and the longer baselines it is compared with. */
export const TRENDING_WINDOWS = ['1m', '5m', '15m', '1h'] as const
export const TRENDING_BASELINES = ['5m', '15m', '1h', '24h'] as const
export type TrendingWindow = typeof TRENDING_WINDOWS[number]
export type TrendingBaseline = typeof TRENDING_BASELINES[number]
export const TRENDING_KINDS = ['words', 'emotes'] as const
export type TrendingKind = typeof TRENDING_KINDS[number]

/** The window's most frequent members that are scored (the rest cannot have MIN_COUNT and trend in a bounded read). */
export const TRENDING_CANDIDATES = 1000

export const TrendingQuery = Type.Object({
  kind: Type.Optional(Type.Enum([...TRENDING_KINDS], { default: 'words', description: 'What trends: `words` (default) or `emotes`' })),
  window: Type.Optional(Type.Enum([...TRENDING_WINDOWS], { default: '5m', description: 'The recent period: the last 1m, 5m (default), 15m or 1h' })),
  baseline: Type.Optional(Type.Enum([...TRENDING_BASELINES], { default: '1h', description: 'The longer period it is compared with, ending now too: 5m, 15m, 1h (default) or 24h; must be longer than `window`' })),
  room: Type.Optional(Type.String({
    minLength: 1, maxLength: MAX_ROOM_LENGTH, description: 'Trending in this room only (as counted, `#` URL-encoded as %23); stream-wide when absent', examples: ['#forsen']
  })),
  limit: Limit
})
export type TrendingQuery = Static<typeof TrendingQuery>

const TrendingFields = {
  count: Type.Integer({ minimum: 0, description: 'Occurrences in the window' }),
  baseline: Type.Integer({ minimum: 0, description: 'Occurrences over the whole baseline period, which includes the window' }),
  score: Type.Number({ description: `How many times more frequent per message than over the rest of the baseline, smoothed: (count + ${SMOOTHING}) / (expected + ${SMOOTHING}); 2 decimals` })
}
const ORDER = 'by score descending, ties by count descending then by value in code-point order'

const WORDS_EXAMPLE = [{ word: 'pog', count: 412, baseline: 530, score: 9.51 }, { word: 'ratio', count: 96, baseline: 180, score: 4.02 }]
const EMOTES_EXAMPLE = [{ emote: 'PogChamp', count: 280, baseline: 361, score: 8.37 }]
export const TrendingWords = Type.Array(Type.Object({ word: Type.String({ description: 'The word' }), ...TrendingFields }), { description: `Words ${ORDER}`, examples: [WORDS_EXAMPLE] })
export const TrendingEmotes = Type.Array(Type.Object({ emote: Type.String({ description: 'The emote' }), ...TrendingFields }), { description: `Emotes ${ORDER}`, examples: [EMOTES_EXAMPLE] })
export const TrendingBody = Type.Union([TrendingWords, TrendingEmotes], {
  description: 'Trending words (`kind=words`) or emotes (`kind=emotes`)',
  examples: [WORDS_EXAMPLE, EMOTES_EXAMPLE]
})
export type TrendingBody = Static<typeof TrendingBody>

export const TRENDING_DESCRIPTION = [
  'Words (or `kind=emotes`) whose rate in the recent `window` most exceeds their rate over the longer `baseline` (both ending now), stream-wide or in one `room`.',
  'Rates are per chat message of the same scope, not per second: when a chat gets busier every word is said more often, which alone is not news; a member trends when it takes a larger share of the conversation than before. (So a scope with no messages before the window has nothing to compare with, and nothing trends there.)',
  `The score is a smoothed rate ratio: expected = (baseline − count) × window messages / (baseline messages − window messages), the count the member would have had at its rate over the rest of the baseline; score = (count + ${SMOOTHING}) / (expected + ${SMOOTHING}).`,
  `The pseudo-count ${SMOOTHING} pulls small counts towards 1, so noise does not trend: a member seen 3 times where never seen before scores 1.3, one that went from an expected 30 to 300 scores 7.75.`,
  `Listed: at least ${MIN_COUNT} occurrences in the window and a score of at least ${MIN_SCORE} (a steady word, however common, stays near 1).`,
  `The candidates are the window's ${TRENDING_CANDIDATES} most frequent members. Sorted by score descending (rounded to 2 decimals), ties by count descending, then by value ascending in code-point order; \`limit\` 1..100, default 10.`,
  'Counts come from the bounded window buckets, as the top lists do: X-Stats-Max-Error is the most by which any `count` or `baseline` in the answer can be below its true count (0 = exact); X-Stats-Window and X-Stats-Baseline name the periods.',
  'A `baseline` not longer than `window` is a 400; an unknown room a 404.'
].join(' ')

/** The answer's headers, for the OpenAPI document. */
export const TRENDING_HEADERS = {
  ...WINDOWED_ANSWER_HEADERS,
  'X-Stats-Window': { type: 'string', enum: [...TRENDING_WINDOWS], description: 'The recent window' },
  'X-Stats-Baseline': { type: 'string', enum: [...TRENDING_BASELINES], description: 'The baseline it is compared with' }
} as const
