import { selectTop } from '../top-order.js'
import type { Counts, TopEntry } from '../types.js'
import { addCounts } from './counts.js'

/**
 * The stored form of one list (words, nicks, rooms or emotes) in one closed
 * window bucket (docs/STORAGE.md#max-error): the top members by count and an error
 * bound. Invariant, for every member x (listed or not):
 *
 *   listed(x) <= true(x) <= listed(x) + err      (listed(x) = 0 when absent)
 *
 * `err` is 0 while nothing was dropped (the list is exact).
 */
export interface TrimmedList {
  /** In top-list order: count descending, ties by value in code-point order. At most the `top` it was trimmed to. */
  entries: TopEntry[]
  /** How much any member's count can be below its true count; 0 = exact. */
  err: number
}

/** The empty, exact list. */
export function emptyTrimmed (): TrimmedList {
  return { entries: [], err: 0 }
}

/** True when the list holds nothing and is exact (a store need not write it). */
export function isEmptyTrimmed (list: TrimmedList): boolean {
  return list.entries.length === 0 && list.err === 0
}

/**
 * The first `top` members of exact counts, and as `err` the largest count
 * dropped (0 when none was). Zero counts are ignored.
 */
export function trimCounts (counts: ReadonlyMap<string, number>, top: number): TrimmedList {
  const head = selectTop(counts, top + 1)
  // Zero counts sort last: cut them off the end (no copy of the list).
  while (head.length > 0 && (head[head.length - 1] as TopEntry).count <= 0) head.pop()
  const dropped = head.length > top ? (head.pop() as TopEntry).count : 0
  return { entries: head, err: dropped }
}

/** Counts of a list's entries (a new map). */
export function trimmedCounts (list: TrimmedList): Counts {
  const counts: Counts = new Map()
  for (const { value, count } of list.entries) counts.set(value, count)
  return counts
}

/**
 * The sum of several trimmed lists (e.g. the children of a bucket being
 * built), trimmed to `top`: err = the sum of their errs + the largest count
 * this trim drops. The invariant holds for the result when it holds for
 * each input.
 */
export function mergeTrimmed (lists: readonly TrimmedList[], top: number): TrimmedList {
  if (lists.length === 1) {
    const only = lists[0] as TrimmedList
    if (only.entries.length <= top) return { entries: only.entries.map((e) => ({ ...e })), err: only.err }
  }
  const sum: Counts = new Map()
  let err = 0
  for (const list of lists) {
    err += list.err
    for (const { value, count } of list.entries) sum.set(value, (sum.get(value) ?? 0) + count)
  }
  const trimmed = trimCounts(sum, top)
  return { entries: trimmed.entries, err: err + trimmed.err }
}

/**
 * A stored list plus exact counts that arrived late for its bucket,
 * trimmed again to `top` (err grows by what this trim drops).
 */
export function addToTrimmed (list: TrimmedList, delta: ReadonlyMap<string, number>, top: number): TrimmedList {
  const sum = trimmedCounts(list)
  addCounts(sum, delta)
  const trimmed = trimCounts(sum, top)
  return { entries: trimmed.entries, err: list.err + trimmed.err }
}

/** What a windowed top list answers: its entries and how far from exact they can be. */
export interface MergedTop {
  /** In top-list order, at most `limit`, none excluded. */
  entries: TopEntry[]
  /** The sum of the errs of the lists merged (X-Stats-Max-Error, docs/STORAGE.md#max-error); 0 = exact. */
  maxError: number
}

/**
 * The answer of a window read: the sum of the covered buckets' lists, the
 * first `limit` members not excluded, and maxError = the sum of their errs.
 */
export function readMerged (lists: Iterable<TrimmedList>, limit: number, exclude?: (value: string) => boolean): MergedTop {
  const sum: Counts = new Map()
  let maxError = 0
  for (const list of lists) {
    maxError += list.err
    for (const { value, count } of list.entries) {
      if (exclude?.(value) === true) continue
      sum.set(value, (sum.get(value) ?? 0) + count)
    }
  }
  return { entries: selectTop(sum, limit), maxError }
}
