import type { TopEntry } from './types.js'

/**
 * Top-list order (SPEC section 2): count descending, ties by value ascending
 * in code-point order, which is the byte order of UTF-8 and the order Redis
 * gives equal scores. JS `<` compares UTF-16 units, which differs for
 * characters above U+FFFF, so compare code points.
 */
export function compareValues (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (U+D800..U+DFFF) stand for code points above U+FFFF: they sort after U+E000..U+FFFF.
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    if (xs !== ys) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

export function compareTopEntries (a: TopEntry, b: TopEntry): number {
  return b.count - a.count || compareValues(a.value, b.value)
}
