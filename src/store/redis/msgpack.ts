import { sumCounts } from '../windows/counts.js'

/**
 * The MessagePack subset the flush sends (arrays, strings, safe integers),
 * as Redis's Lua `cmsgpack.unpack` reads it: in C, so much cheaper for Redis
 * than parsing a packed string in the Lua interpreter (BENCHMARKS.md).
 */
export type Packable = string | number | readonly Packable[] | CountsArray

/**
 * An array of `head` followed by the (member, count) pairs of `counts` whose
 * count is above 0, written straight from the map: a flush holds hundreds of
 * thousands of such pairs, and no intermediate array is built for them.
 * Several maps (one per slice of a batch) are summed into one first; a
 * single map is written as it is (the usual case for a room).
 */
export class CountsArray {
  readonly counts: ReadonlyMap<string, number>

  constructor (readonly head: readonly Packable[], counts: ReadonlyMap<string, number> | ReadonlyArray<ReadonlyMap<string, number>>) {
    this.counts = counts instanceof Map ? counts : sumCounts(counts as ReadonlyArray<ReadonlyMap<string, number>>)
  }
}

/**
 * An output buffer kept by its owner between encodings (a flush's argument
 * is megabytes: a new buffer, or a copy, per flush is page faults and
 * memcpy). What encodeMsgpack writes into it is a view of it, valid until
 * the next encoding into the same MsgpackBuffer.
 */
export class MsgpackBuffer {
  buffer = Buffer.allocUnsafe(1 << 16)
}

/** encodeMsgpack's own buffer when the caller brings none (its result is then a copy). */
const shared = new MsgpackBuffer()

class Writer {
  buffer: Buffer
  at = 0

  constructor (private readonly owner: MsgpackBuffer) {
    this.buffer = owner.buffer
  }

  reserve (bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.at + bytes))
    this.buffer.copy(grown, 0, 0, this.at)
    this.buffer = grown
    this.owner.buffer = grown
  }

  string (value: string): void {
    // A UTF-16 unit takes at most 3 bytes of UTF-8; write first, then the header in front.
    this.reserve(5 + 3 * value.length)
    const start = this.at
    // Most members are short ASCII words: copied unit by unit, without the cost of a Buffer.write call.
    if (value.length < 32) {
      const b = this.buffer
      let i = 0
      for (; i < value.length; i++) {
        const c = value.charCodeAt(i)
        if (c >= 0x80) break
        b[start + 1 + i] = c
      }
      if (i === value.length) {
        b[start] = 0xa0 | i
        this.at = start + 1 + i
        return
      }
    }
    const header = value.length < 11 ? 1 : value.length < 86 ? 2 : value.length < 21846 ? 3 : 5
    const length = this.buffer.write(value, start + header, 'utf8')
    const fits = length < 32 ? 1 : length < 256 ? 2 : length < 65536 ? 3 : 5
    if (fits !== header) this.buffer.copy(this.buffer, start + fits, start + header, start + header + length)
    const b = this.buffer
    if (fits === 1) b[start] = 0xa0 | length
    else if (fits === 2) {
      b[start] = 0xd9
      b[start + 1] = length
    } else if (fits === 3) {
      b[start] = 0xda
      b.writeUInt16BE(length, start + 1)
    } else {
      b[start] = 0xdb
      b.writeUInt32BE(length, start + 1)
    }
    this.at = start + fits + length
  }

  number (value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`msgpack: ${value} is not a safe integer`)
    this.reserve(9)
    const b = this.buffer
    if (value >= 0 && value < 128) b[this.at++] = value
    else if (value >= 0 && value < 2 ** 32) {
      b[this.at] = 0xce
      b.writeUInt32BE(value, this.at + 1)
      this.at += 5
    } else {
      b[this.at] = 0xd3
      b.writeBigInt64BE(BigInt(value), this.at + 1)
      this.at += 9
    }
  }

  arrayHeader (length: number): void {
    this.reserve(5)
    const b = this.buffer
    if (length < 16) b[this.at++] = 0x90 | length
    else if (length < 65536) {
      b[this.at] = 0xdc
      b.writeUInt16BE(length, this.at + 1)
      this.at += 3
    } else {
      b[this.at] = 0xdd
      b.writeUInt32BE(length, this.at + 1)
      this.at += 5
    }
  }

  value (value: Packable): void {
    if (typeof value === 'string') this.string(value)
    else if (typeof value === 'number') this.number(value)
    else if (value instanceof CountsArray) this.counts(value)
    else {
      this.arrayHeader(value.length)
      for (const item of value) this.value(item)
    }
  }

  counts ({ head, counts }: CountsArray): void {
    // The length is known at the end: a 32-bit array header (any decoder takes it for a short array) patched then.
    this.reserve(5)
    const at = this.at
    this.buffer[at] = 0xdd
    this.at += 5
    for (const item of head) this.value(item)
    let length = head.length
    // forEach, not for-of: no [member, n] array per member (model/counts.ts).
    counts.forEach((n, member) => {
      if (!(n > 0)) return
      this.string(member)
      this.number(n)
      length += 2
    })
    this.buffer.writeUInt32BE(length, at + 1)
  }
}

/**
 * The MessagePack bytes of `value`: a buffer of its own, or with `into` a
 * view of into's buffer (valid until the next encoding into it).
 */
export function encodeMsgpack (value: Packable, into?: MsgpackBuffer): Buffer {
  const writer = new Writer(into ?? shared)
  writer.value(value)
  const bytes = writer.buffer.subarray(0, writer.at)
  return into === undefined ? Buffer.from(bytes) : bytes
}
