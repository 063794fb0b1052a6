import type { WindowName } from './types.js'

/**
 * Sliding windows are unions of time buckets. A window of N seconds uses
 * buckets of N/60 seconds (never coarser than 1/60 of its length): the answer
 * covers the 60 buckets ending with the one being filled.
 */
export interface WindowSpec {
  name: Exclude<WindowName, 'all'>
  seconds: number
  bucketSeconds: number
  buckets: number
}

export const WINDOW_SPECS: readonly WindowSpec[] = [
  { name: '1m', seconds: 60, bucketSeconds: 1, buckets: 60 },
  { name: '5m', seconds: 300, bucketSeconds: 5, buckets: 60 },
  { name: '15m', seconds: 900, bucketSeconds: 15, buckets: 60 },
  { name: '1h', seconds: 3600, bucketSeconds: 60, buckets: 60 },
  { name: '24h', seconds: 86400, bucketSeconds: 1440, buckets: 60 }
]

const byName = new Map(WINDOW_SPECS.map((spec) => [spec.name, spec]))

export function windowSpec (name: Exclude<WindowName, 'all'>): WindowSpec {
  const spec = byName.get(name)
  if (spec === undefined) throw new Error(`unknown window ${name}`)
  return spec
}

/** Seconds a window covers; `all` has none. */
export function windowSeconds (name: WindowName): number | null {
  return name === 'all' ? null : windowSpec(name).seconds
}

/** The bucket index (epoch seconds / bucket size) that holds a given epoch second. */
export function bucketOf (spec: WindowSpec, epochSecond: number): number {
  return Math.floor(epochSecond / spec.bucketSeconds)
}

/** The bucket indexes a window covers at `nowMs`, oldest first, the one being filled last. */
export function bucketsCovering (spec: WindowSpec, nowMs: number): number[] {
  const current = bucketOf(spec, Math.floor(nowMs / 1000))
  const out: number[] = []
  for (let b = current - spec.buckets + 1; b <= current; b++) out.push(b)
  return out
}

/** How long a bucket must live after it starts so every window that covers it can read it. */
export function bucketTtlSeconds (spec: WindowSpec): number {
  return spec.seconds + 2 * spec.bucketSeconds
}

/** Per-second counts are kept this long (timeseries at 1 s resolution, 24 h). */
export const SECOND_SERIES_RETENTION_SECONDS = 86400 + 120
/** Per-minute counts are kept this long. */
export const MINUTE_SERIES_RETENTION_SECONDS = 7 * 86400
