import type { Resolution } from './types.js'

/**
 * The one limit on a time-series read, for the API and both stores: a day of
 * seconds (a week of minutes, 10,080 points, stays far below it). The API
 * never asks for more, so a store that receives a longer range is being
 * misused and refuses it.
 */
export const MAX_SERIES_POINTS = 86_400

/** Length of one series interval in ms, per resolution. */
export const STEP_MS: Readonly<Record<Resolution, number>> = { '1s': 1000, '1m': 60_000 }
