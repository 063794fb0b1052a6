import type { Counts } from '../types.js'

/**
 * Everything after the header travels as ONE argument, a sequence of
 * fields each ended by 0xFF (a byte that never occurs in UTF-8, so no
 * member can contain it): one argument instead of two per pair spares the
 * Redis client and Redis the per-argument work; the script reads it once.
 */
export const FIELD_END = 0xff

/** A growing byte buffer of 0xFF-ended fields. */
export class FieldWriter {
  private buffer = Buffer.allocUnsafe(1 << 20)
  private offset = 0

  get length (): number {
    return this.offset
  }

  text (value: string): void {
    // A UTF-16 unit takes at most 3 bytes of UTF-8.
    this.reserve(3 * value.length + 1)
    this.offset += this.buffer.write(value, this.offset, 'utf8')
    this.buffer[this.offset++] = FIELD_END
  }

  number (value: number): void {
    this.reserve(24)
    this.offset += this.buffer.write(String(value), this.offset, 'latin1')
    this.buffer[this.offset++] = FIELD_END
  }

  /** Forgets what was written after `length`. */
  truncate (length: number): void {
    this.offset = length
  }

  toBuffer (): Buffer {
    return this.buffer.subarray(0, this.offset)
  }

  private reserve (bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.offset + bytes))
    this.buffer.copy(grown, 0, 0, this.offset)
    this.buffer = grown
  }
}

export type Op = 'z' | 'h'
export type TargetsAt = (slice: number, keys: string[], params: number[]) => void

/**
 * The KEYS and ARGV of a write script under construction: a header of
 * strings, then the sections (lua/includes/sections.lua) with the keys
 * each section consumes, in order.
 */
export class BatchEncoder {
  readonly keys: string[]
  private readonly header: string[]
  private readonly fields = new FieldWriter()

  constructor (fixedKeys: string[], header: string[]) {
    this.keys = fixedKeys
    this.header = header
  }

  /** True when no section was written. */
  get isEmpty (): boolean {
    return this.fields.length === 0
  }

  /** ARGV: the header, then the sections as one argument. */
  args (): Array<string | Buffer> {
    return [...this.header, this.fields.toBuffer()]
  }

  /**
   * Adds one family of counters: the counts of each slice in `active` go to
   * the targets `targetsAt` names for that slice.
   */
  family (op: Op, label: string, keepZero: boolean, active: readonly number[], countsAt: (slice: number) => Counts, targetsAt: TargetsAt): void {
    if (active.length === 0) return
    if (active.length === 1) {
      const only = active[0]!
      const keys: string[] = []
      const params: number[] = []
      targetsAt(only, keys, params)
      this.group(op, label, keepZero, keys, params, countsAt(only))
      return
    }
    const byKey = new Map<string, { param: number, slices: number[] }>()
    const keys: string[] = []
    const params: number[] = []
    for (const slice of active) {
      keys.length = 0
      params.length = 0
      targetsAt(slice, keys, params)
      for (let j = 0; j < keys.length; j++) {
        const key = keys[j]!
        const entry = byKey.get(key)
        if (entry === undefined) byKey.set(key, { param: params[j]!, slices: [slice] })
        else entry.slices.push(slice)
      }
    }
    const groups = new Map<string, { keys: string[], params: number[], slices: number[] }>()
    for (const [key, { param, slices }] of byKey) {
      const signature = slices.join(',')
      let group = groups.get(signature)
      if (group === undefined) {
        group = { keys: [], params: [], slices }
        groups.set(signature, group)
      }
      group.keys.push(key)
      group.params.push(param)
    }
    for (const group of groups.values()) {
      const counts = group.slices.length === 1 ? countsAt(group.slices[0]!) : mergeCounts(group.slices.map(countsAt))
      this.group(op, label, keepZero, group.keys, group.params, counts)
    }
  }

  private group (op: Op, label: string, keepZero: boolean, keys: string[], params: number[], counts: Counts): void {
    if (keys.length === 0 || counts.size === 0) return
    let pairs = 0
    for (const [member, n] of counts) {
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`count of ${label} ${JSON.stringify(member)} must be a non-negative integer, got ${n}`)
      if (n !== 0 || keepZero) pairs++
    }
    if (pairs === 0) return
    const fields = this.fields
    fields.text(op)
    fields.number(keys.length)
    for (let j = 0; j < keys.length; j++) fields.number(params[j]!)
    fields.number(pairs)
    for (const [member, n] of counts) {
      if (n === 0 && !keepZero) continue
      fields.text(member)
      fields.number(n)
    }
    for (const key of keys) this.keys.push(key)
  }

  /** SADD `members` to the set `key`, EXPIRE ttl. */
  index (key: string, members: string[], ttl: number): void {
    if (members.length === 0) return
    const fields = this.fields
    fields.text('s')
    fields.number(members.length)
    fields.number(ttl)
    for (const member of members) fields.text(member)
    this.keys.push(key)
  }

  /**
   * Rolls up one bucket: each target := ZUNIONSTORE of its children; the
   * targets live `targetTtl` s, child j lives firstChildTtl + j*childStep s
   * (deleted when <= 0). With `expectedRooms` >= 0, the roll-up (and every
   * later one) is skipped unless the index set `indexKey` has that many rooms.
   */
  rollup (indexKey: string, expectedRooms: number, targets: Array<{ target: string, children: string[] }>, targetTtl: number, firstChildTtl: number, childStep: number): void {
    const childCount = targets[0]?.children.length ?? 0
    const fields = this.fields
    fields.text('r')
    for (const n of [targets.length, childCount, targetTtl, firstChildTtl, childStep, expectedRooms]) fields.number(n)
    this.keys.push(indexKey)
    for (const { target, children } of targets) {
      if (children.length !== childCount) throw new Error('every target of a roll-up has the same number of children')
      this.keys.push(target)
      for (const child of children) this.keys.push(child)
    }
  }

  /** Records level `index`'s new mark (skipped when an earlier roll-up was). */
  mark (index: number, bucket: number): void {
    this.fields.text('m')
    this.fields.number(index)
    this.fields.number(bucket)
  }

  /** Records the latest second written. */
  last (second: number): void {
    this.fields.text('l')
    this.fields.number(second)
  }
}

/** The sum of several count maps. */
export function mergeCounts (all: Counts[]): Counts {
  const merged = new Map(all[0])
  for (let i = 1; i < all.length; i++) {
    for (const [member, n] of all[i]!) merged.set(member, (merged.get(member) ?? 0) + n)
  }
  return merged
}
