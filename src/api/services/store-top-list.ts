import type { TopEntry } from '../../store/types.js'

/**
 * A top list as StatsStore.top() and roomTop() answer it under the store
 * contract v2 (issue 12; `TopList` in src/store/types.ts): the entries and
 * the most by which any count in the answer, listed or not, can be below its
 * true count (docs/API.md#x-stats-max-error), 0 = exact.
 */
export interface TopList {
  entries: TopEntry[]
  maxError: number
}

/**
 * A store's top-list answer under either contract. Contract v1 answers a
 * bare array, which is exact (v1 never trims a window bucket). When v2 is
 * merged, `TopList` above becomes `export type { TopList } from
 * '../../store/types.js'` and this function returns its argument.
 */
export function topListFromStore (answer: TopEntry[] | TopList): TopList {
  return Array.isArray(answer) ? { entries: answer, maxError: 0 } : answer
}
