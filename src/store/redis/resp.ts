import { Command } from 'ioredis'

/**
 * A command whose RESP bytes are built in one pass by respCommand: a flush
 * carries tens of thousands of keys, and ioredis serialises arguments one
 * string at a time (several times slower at that size).
 */
export class PreparedCommand extends Command {
  constructor (name: string, private readonly payload: Buffer, private readonly slotKey: string | undefined) {
    super(name, [], { replyEncoding: 'utf8' })
  }

  override toWritable (): Buffer {
    return this.payload
  }

  // A Cluster client routes a command by its first key; the prepared payload hides them.
  override getKeys (): string[] {
    return this.slotKey === undefined ? [] : [this.slotKey]
  }
}

/** The RESP array of bulk strings `parts`. */
export function respCommand (parts: Array<string | Buffer>): Buffer {
  const lengths = new Array<number>(parts.length)
  let size = 16
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const length = typeof part === 'string' ? Buffer.byteLength(part) : part.length
    lengths[i] = length
    size += length + 16
  }
  const out = Buffer.allocUnsafe(size)
  let at = out.write(`*${parts.length}\r\n`, 0, 'latin1')
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    at += out.write(`$${lengths[i]!}\r\n`, at, 'latin1')
    at += typeof part === 'string' ? out.write(part, at, 'utf8') : part.copy(out, at)
    out[at++] = 13
    out[at++] = 10
  }
  return out.subarray(0, at)
}
