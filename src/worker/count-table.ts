import { getRandomValues } from 'node:crypto'

/**
 * Counts keyed by (group, string) in one hash table of flat arrays: the
 * counting thread's tally of a batch, where a group is one list of one room
 * in one second (batch-builder.ts). It replaces a Map per list: a count is
 * one probe instead of a Map's get and set, and a batch's thousands of small
 * lists are no objects of their own (BENCHMARKS.md, "Latest: counting in one
 * table").
 *
 * Entries are kept in the order they were first added, as a Map keeps them,
 * in dense arrays (group, hash, key, count); the slots of the hash table hold
 * entry numbers. The hash is FNV-1a over the key's UTF-16 units, started from
 * a random seed and the group and finished with MurmurHash3's mixer: the seed
 * keeps a stream from choosing keys that collide (V8 seeds its own hashes for
 * the same reason). Each step of the hash is a bijection of its state, so
 * one key in two groups never has the same hash: an entry is found by its
 * hash and its key alone.
 */
export class CountTable {
  private slots: Int32Array
  private mask: number
  private groups: Int32Array
  private hashes: Int32Array
  private counts: Float64Array
  private keys: string[] = []
  /** Entries held. */
  size = 0

  constructor (initialEntries = 1024) {
    const entries = Math.max(16, 2 ** Math.ceil(Math.log2(initialEntries)))
    this.groups = new Int32Array(entries)
    this.hashes = new Int32Array(entries)
    this.counts = new Float64Array(entries)
    this.slots = new Int32Array(entries * 2).fill(-1)
    this.mask = entries * 2 - 1
  }

  /** Adds 1 to the count of `key` in `group` (a whole number from 0 to 2^31 - 1); true when the entry is new. */
  add (group: number, key: string): boolean {
    let h = Math.imul(SEED ^ group, 0x9e3779b1)
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
    h ^= h >>> 16
    h = Math.imul(h, 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
    const slots = this.slots
    const mask = this.mask
    let slot = h & mask
    for (;;) {
      const entry = slots[slot]!
      if (entry === -1) break
      if (this.hashes[entry] === h && this.keys[entry] === key) {
        this.counts[entry]!++
        return false
      }
      slot = (slot + 1) & mask
    }
    const entry = this.size++
    if (entry === this.groups.length) {
      this.growEntries()
      // The slots doubled too: find the free slot again.
      slot = h & this.mask
      while (this.slots[slot] !== -1) slot = (slot + 1) & this.mask
    }
    this.slots[slot] = entry
    this.groups[entry] = group
    this.hashes[entry] = h
    this.counts[entry] = 1
    this.keys[entry] = key
    return true
  }

  /**
   * Hands over every entry, in the order first added, and empties the table
   * (its arrays keep their size for the next batch unless it used less than
   * an eighth of them).
   */
  take (): TableEntries {
    const size = this.size
    const taken = { groups: this.groups.slice(0, size), keys: this.keys, counts: this.counts.slice(0, size) }
    this.keys = []
    this.size = 0
    if (size * 8 < this.groups.length && this.groups.length > 1024) {
      const entries = Math.max(1024, 2 ** Math.ceil(Math.log2(size * 2 + 1)))
      this.groups = new Int32Array(entries)
      this.hashes = new Int32Array(entries)
      this.counts = new Float64Array(entries)
      this.slots = new Int32Array(entries * 2).fill(-1)
      this.mask = entries * 2 - 1
    } else {
      this.slots.fill(-1)
    }
    return taken
  }

  /** Doubles the entry arrays and the slots (the slots stay at most half full) and places every entry again. */
  private growEntries (): void {
    const entries = this.groups.length * 2
    const groups = new Int32Array(entries)
    groups.set(this.groups)
    this.groups = groups
    const hashes = new Int32Array(entries)
    hashes.set(this.hashes)
    this.hashes = hashes
    const counts = new Float64Array(entries)
    counts.set(this.counts)
    this.counts = counts
    const slots = new Int32Array(entries * 2).fill(-1)
    const mask = entries * 2 - 1
    // Every entry but the one being added.
    for (let entry = 0; entry < this.size - 1; entry++) {
      let slot = hashes[entry]! & mask
      while (slots[slot] !== -1) slot = (slot + 1) & mask
      slots[slot] = entry
    }
    this.slots = slots
    this.mask = mask
  }
}

/** A table's entries, in the order first added: entry i counted keys[i] counts[i] times in groups[i]. */
export interface TableEntries {
  groups: Int32Array<ArrayBuffer>
  keys: string[]
  counts: Float64Array<ArrayBuffer>
}

const SEED = getRandomValues(new Uint32Array(1))[0]! | 0
