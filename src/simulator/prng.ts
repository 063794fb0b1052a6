/**
 * Small deterministic random numbers for the simulator. Every event gets its
 * own generator keyed by a hash of (seed, index), so any event can be made
 * on its own: resuming at an id costs nothing and gives the same text.
 */

/** murmur3's 32-bit finaliser: a cheap full-avalanche mix. */
export function mix32 (value: number): number {
  let h = value | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const TWO_POW_32 = 4294967296

/**
 * The same text as one flat, internalised string. Strings built by `+` are
 * trees of pieces; pool strings are copied into every event, and walking
 * their trees each time was most of the cost of writing an event out.
 */
export function flatString (text: string): string {
  return Object.keys({ [text]: 0 })[0] as string
}

/** splitmix32: a counter-based generator, good enough for synthetic data and very fast. */
export class Random {
  private state: number

  constructor (key: number) {
    this.state = key >>> 0
  }

  /** The generator of event `index` (1-based, up to Number.MAX_SAFE_INTEGER) for `seed`. */
  static forEvent (seed: number, index: number): Random {
    const low = index >>> 0
    const high = Math.floor(index / TWO_POW_32) >>> 0
    return new Random(mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ low) + high))
  }

  /** A uniform 32-bit unsigned integer. */
  next (): number {
    this.state = (this.state + 0x9e3779b9) | 0
    let z = this.state
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
    return (z ^ (z >>> 15)) >>> 0
  }

  /** A uniform number in [0, 1). */
  float (): number {
    return this.next() / TWO_POW_32
  }

  /** A uniform integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.float() * n)
  }

  /** True with probability p. */
  chance (p: number): boolean {
    return this.float() < p
  }

  /** A uniformly chosen element of a non-empty list. */
  pick<T> (items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }
}

/**
 * Zipf's law over ranks 0..n-1 (weight 1/(rank+1)^exponent), sampled by
 * binary search in the cumulative weights. `sample(random, limit)` draws from
 * the first `limit` ranks only (the same law, truncated), so one table serves
 * pools of many sizes.
 */
export class Zipf {
  private readonly cumulative: Float64Array

  constructor (readonly size: number, readonly exponent: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Zipf size must be a positive integer, got ${size}`)
    this.cumulative = new Float64Array(size)
    let total = 0
    for (let rank = 0; rank < size; rank++) {
      total += 1 / Math.pow(rank + 1, exponent)
      this.cumulative[rank] = total
    }
  }

  /** The probability of the first `ranks` ranks together, of the full law. */
  share (ranks: number): number {
    return (this.cumulative[Math.min(ranks, this.size) - 1] ?? 0) / (this.cumulative[this.size - 1] as number)
  }

  sample (random: Random, limit = this.size): number {
    const top = Math.min(limit, this.size)
    const target = random.float() * (this.cumulative[top - 1] as number)
    let low = 0
    let high = top - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((this.cumulative[middle] as number) > target) high = middle
      else low = middle + 1
    }
    return low
  }
}
