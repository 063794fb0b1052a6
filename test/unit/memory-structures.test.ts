import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { BoundedCounts, codePointKey, selectLowest } from '../../src/store/memory/bounded-counts.js'
import { selectTop, TopCache } from '../../src/store/memory/top-cache.js'
import type { Counts, TopEntry } from '../../src/store/types.js'

/** The specified order: UTF-8 bytes (code points), computed independently of the code under test. */
function byteOrder (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** No lone surrogate (String.prototype.isWellFormed is ES2024). */
function wellFormed (s: string): boolean {
  return !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))
}

function naiveTop (counts: ReadonlyMap<string, number>, limit: number, exclude?: (value: string) => boolean): TopEntry[] {
  return [...counts].filter(([v, c]) => c > 0 && exclude?.(v) !== true).map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || byteOrder(a.value, b.value)).slice(0, limit)
}

function naiveLowest (counts: ReadonlyMap<string, number>, k: number): TopEntry[] {
  return [...counts].map(([value, count]) => ({ value, count })).sort((a, b) => a.count - b.count || byteOrder(a.value, b.value)).slice(0, k)
}

/** Values that exercise the UTF-16 vs code-point difference: ASCII, U+E000..U+FFFF, astral characters. */
const tricky = fc.oneof(
  fc.constantFrom('a', 'b', 'ab', 'a\uE000', 'a😀', '\uFFFF', '\uE000', '😀', '😀a', 'ㅋㅋㅋ', 'é', 'e\u0301', ''),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.string({ unit: fc.constantFrom('a', 'b', '\uE000', '\uFFFD', '😀', '𝄞'), maxLength: 3 })
)

describe('code-point order helpers', () => {
  it('codePointKey orders like UTF-8 bytes under JS string comparison', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      const ka = codePointKey(a)
      const kb = codePointKey(b)
      const native = ka < kb ? -1 : ka > kb ? 1 : 0
      // Lone surrogates have no UTF-8 form; Buffer.from replaces them, so compare only well-formed strings.
      fc.pre(wellFormed(a) && wellFormed(b))
      assert.equal(native, Math.sign(byteOrder(a, b)))
    }), { numRuns: 2000 })
  })

  it('selectLowest equals a full ascending sort, with ties, big counts and any k', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.tuple(tricky, fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 4000, max: 4200 }))), { selector: ([v]) => v, maxLength: 60, size: 'max' }),
      fc.integer({ min: 0, max: 70 }),
      (entries, k) => {
        const counts = new Map(entries)
        assert.deepEqual(selectLowest(counts, k), naiveLowest(counts, k))
      }
    ), { numRuns: 500 })
  })

  it('selectLowest is exact on a large map that mostly shares one count', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) counts.set(`w${(i * 7919) % 20_000}${i % 3 === 0 ? '😀' : i % 3 === 1 ? '\uE000' : ''}`, i % 10 === 0 ? 2 : 1)
    for (const k of [1, 500, 12_000, 19_999]) assert.deepEqual(selectLowest(counts, k), naiveLowest(counts, k), `k=${k}`)
  })

  it('selectTop equals a full sort', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.tuple(tricky, fc.integer({ min: 1, max: 4 })), { selector: ([v]) => v, maxLength: 50, size: 'max' }),
      fc.integer({ min: 0, max: 60 }),
      (entries, k) => {
        const counts = new Map(entries)
        assert.deepEqual(selectTop(counts, k), naiveTop(counts, k))
      }
    ), { numRuns: 500 })
  })
})

type Op = { kind: 'add' | 'sub', value: string, by: number } | { kind: 'read', limit: number, excludeEvery: number }

describe('TopCache', () => {
  it('stays exact under increments, decrements, removals and excluding reads', () => {
    // Few values, so the same members go up and down and cross the cache's edge often.
    const value = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'ab', '😀', '\uE000', 'é')
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), value, by: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('sub' as const), value, by: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('read' as const), limit: fc.integer({ min: 1, max: 8 }), excludeEvery: fc.integer({ min: 0, max: 3 }) })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 120, size: 'max' }), fc.integer({ min: 1, max: 5 }), (ops, capacity) => {
      const counts: Counts = new Map()
      const cache = new TopCache(counts, capacity)
      for (const o of ops) {
        if (o.kind === 'read') {
          // Exclude a deterministic subset of values (by their length), as a stop-word list would.
          const exclude = o.excludeEvery === 0 ? undefined : (v: string) => v.length % (o.excludeEvery + 1) === 0
          assert.deepEqual(cache.read(o.limit, exclude), naiveTop(counts, o.limit, exclude))
          continue
        }
        const old = counts.get(o.value) ?? 0
        if (o.kind === 'add') {
          counts.set(o.value, old + o.by)
          cache.increased(o.value, old, old + o.by)
        } else if (old > 0) {
          const next = Math.max(0, old - o.by)
          if (next === 0) counts.delete(o.value)
          else counts.set(o.value, next)
          cache.decreased(o.value, old, next)
        }
      }
      assert.deepEqual(cache.read(1000), naiveTop(counts, 1000))
    }), { numRuns: 1000 })
  })
})

describe('BoundedCounts', () => {
  it('trims exactly like ZREMRANGEBYRANK 0 (card-max-1) over many batches', () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 3 })), { maxLength: 40, size: 'max' }), { minLength: 1, maxLength: 25, size: 'max' }),
      fc.integer({ min: 1, max: 30 }),
      (batches, max) => {
        const list = new BoundedCounts()
        const model: Counts = new Map()
        for (const b of batches) {
          for (const [i, by] of b) {
            const value = ['w', '😀', '\uE000', 'é'][i % 4] + String(i >> 2)
            list.add(value, by)
            model.set(value, (model.get(value) ?? 0) + by)
          }
          list.trimTo(max)
          for (const { value } of naiveLowest(model, Math.max(0, model.size - max))) model.delete(value)
          assert.deepEqual(new Map([...list.counts].sort(([a], [b]) => byteOrder(a, b))), new Map([...model].sort(([a], [b]) => byteOrder(a, b))))
        }
        assert.deepEqual(list.top(1000), naiveTop(model, 1000))
      }
    ), { numRuns: 200 })
  })

  it('stays exact when the trimming pool is partial (large list, threshold below most members)', () => {
    const list = new BoundedCounts()
    const model: Counts = new Map()
    let seed = 7
    const random = (n: number): number => {
      seed = (seed * 48271) % 2147483647
      return seed % n
    }
    const max = 3000
    for (let batchIndex = 0; batchIndex < 40; batchIndex++) {
      for (let i = 0; i < 400; i++) {
        const n = random(20_000)
        const value = `${['w', '😀', '\uE000'][n % 3]}${n}`
        const by = 1 + random(3)
        list.add(value, by)
        model.set(value, (model.get(value) ?? 0) + by)
      }
      list.trimTo(max)
      for (const { value } of naiveLowest(model, Math.max(0, model.size - max))) model.delete(value)
      assert.equal(list.size, model.size, `batch ${batchIndex}`)
      for (const [value, count] of model) assert.equal(list.counts.get(value), count, `batch ${batchIndex}: ${value}`)
      if (batchIndex % 10 === 0) assert.deepEqual(list.top(100), naiveTop(model, 100))
    }
    assert.deepEqual(list.top(5000), naiveTop(model, 5000))
  })
})
