import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CountTable, type TableEntries } from '../../src/worker/count-table.js'
import { Random } from '../../src/simulator/prng.js'

/** The entries as group → key → count, and their keys in order per group. */
function asMaps (entries: TableEntries): Map<number, Map<string, number>> {
  const maps = new Map<number, Map<string, number>>()
  assert.equal(entries.keys.length, entries.groups.length)
  assert.equal(entries.counts.length, entries.groups.length)
  for (let i = 0; i < entries.groups.length; i++) {
    const group = entries.groups[i]!
    let map = maps.get(group)
    if (map === undefined) maps.set(group, map = new Map())
    assert.equal(map.has(entries.keys[i]!), false, `(${group}, ${entries.keys[i]!}) is one entry`)
    map.set(entries.keys[i]!, entries.counts[i]!)
  }
  return maps
}

/** Adds each (group, key) to the table and to a Map per group, checking that add() says when an entry is new. */
function addBoth (table: CountTable, model: Map<number, Map<string, number>>, group: number, key: string): void {
  let map = model.get(group)
  if (map === undefined) model.set(group, map = new Map())
  const n = map.get(key)
  map.set(key, (n ?? 0) + 1)
  assert.equal(table.add(group, key), n === undefined, `add(${group}, ${JSON.stringify(key)})`)
}

describe('CountTable', () => {
  test('counts each (group, key) apart, and keeps entries in the order first added', () => {
    const table = new CountTable(16)
    assert.equal(table.add(0, 'a'), true)
    assert.equal(table.add(1, 'a'), true)
    assert.equal(table.add(0, 'a'), false)
    assert.equal(table.add(0, ''), true)
    assert.equal(table.add(0, 'b'), true)
    assert.equal(table.add(1, 'a'), false)
    assert.equal(table.add(0, 'a'), false)
    assert.equal(table.size, 4)
    const entries = table.take()
    assert.deepEqual([...entries.groups], [0, 1, 0, 0])
    assert.deepEqual(entries.keys, ['a', 'a', '', 'b'])
    assert.deepEqual([...entries.counts], [3, 2, 1, 1])
  })

  test('matches a Map per group through growth, over thousands of groups and keys of every kind', () => {
    const rng = new Random(7)
    const random = (): number => rng.float()
    const table = new CountTable(16)
    const model = new Map<number, Map<string, number>>()
    const pool = ['', 'a', 'A', 'é', 'é', '🙂', 'x'.repeat(300), '\u0000', 'ab', 'ba']
    for (let i = 0; i < 2000; i++) pool.push(`w${i}`, `${i}ω`)
    for (let i = 0; i < 60_000; i++) {
      // Skewed: a few groups and keys take most counts, as in chat.
      const group = Math.floor(random() ** 3 * 3000)
      const key = pool[Math.floor(random() ** 2 * pool.length)]!
      addBoth(table, model, group, key)
    }
    let size = 0
    for (const map of model.values()) size += map.size
    assert.equal(table.size, size)
    assert.deepEqual(asMaps(table.take()), model)
  })

  test('take() empties it: the next batch starts from nothing, whether the arrays are kept or shrunk', () => {
    const table = new CountTable(16)
    for (let i = 0; i < 50_000; i++) table.add(i % 7, `k${i}`)
    assert.equal(table.take().groups.length, 50_000)
    assert.equal(table.size, 0)
    // A small batch after a large one (the arrays shrink), then one as large again (they grow back).
    for (const count of [10, 50_000, 50_000]) {
      const model = new Map<number, Map<string, number>>()
      for (let i = 0; i < count; i++) addBoth(table, model, i % 5, `again${i % (count / 2)}`)
      assert.deepEqual(asMaps(table.take()), model)
    }
    assert.deepEqual(asMaps(table.take()), new Map())
  })

  test('keys whose 32-bit hashes collide stay apart', () => {
    // 300,000 distinct keys in one group: about 10 pairs of them share a hash
    // (n² / 2^33), whatever the seed, so a table that compared hashes only
    // would hold fewer entries.
    const table = new CountTable()
    const n = 300_000
    for (let i = 0; i < n; i++) assert.equal(table.add(3, `key-${i}`), true)
    for (let i = 0; i < n; i += 1000) assert.equal(table.add(3, `key-${i}`), false)
    assert.equal(table.size, n)
    const { keys, counts } = table.take()
    assert.equal(new Set(keys).size, n)
    assert.equal(counts.reduce((sum, c) => sum + c, 0), n + n / 1000)
  })

  test('the same key in groups whose hashes collide stays apart', () => {
    // As above, across 300,000 groups: entries are told apart by hash and key, so the group must be part of the hash.
    const table = new CountTable()
    const n = 300_000
    for (let group = 0; group < n; group++) assert.equal(table.add(group, 'kappa'), true)
    assert.equal(table.size, n)
    assert.equal(new Set(table.take().groups).size, n)
  })

  // A table that kept the last batch's slots would fill up with them and never find a free one (this test would hang).
  test('batch after batch of the same size reuse the table without filling it', { timeout: 30_000 }, () => {
    const table = new CountTable(16)
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 40_000; i++) table.add(round % 3, `r${round}-${i}`)
      const { keys } = table.take()
      assert.equal(keys.length, 40_000)
      assert.equal(keys[39_999], `r${round}-39999`)
    }
  })
})
