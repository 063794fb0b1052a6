/** Most intervals one series() call may ask for (a day of seconds). */
export const MAX_SERIES_POINTS = 86_400
/** Length of one interval of each series resolution, in ms. */
export const STEP_MS = { '1s': 1000, '1m': 60_000 } as const
