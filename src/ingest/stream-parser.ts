import { isUtf8 } from 'node:buffer'
import { cutRaw, FailureReason } from '../model/payload.js'

/**
 * Incremental parser for the chat interface stream (docs/COUNTING.md#the-input-stream): SSE
 * (`data:`, the reference interface's `se-data:`, `event:`, `id:`, `retry:`,
 * comments, LF/CRLF/CR, a leading BOM) and NDJSON lines, fed byte chunks
 * split anywhere.
 *
 * Hand-written rather than a library parser: none accepts `se-data:` and
 * NDJSON, bounds memory per line, and reports invalid UTF-8 per event, and
 * this loop is the ingest hot path (it works on Buffers and only decodes
 * complete lines).
 */

export interface StreamSink {
  /** A complete event of type privmsg (or with no type). `id` is the last event id seen, '' if none. */
  onEvent: (data: string, id: string) => void
  /** A line or event that could not be read. */
  onFailure: (raw: string, reason: string, id: string) => void
  /** An event of another type (a keep-alive, say): neither a message nor a failure. */
  onSkipped?: (type: string, id: string) => void
  /** The stream asked for a reconnection delay. */
  onRetry?: (ms: number) => void
}

export interface StreamParserOptions {
  /** Largest line or event, in bytes; larger ones become one failed message each. Default 64 KiB. */
  maxEventBytes?: number
  /** The id to start from (SSE's last event id carries over a reconnection). */
  lastEventId?: string
}

const LF = 10
const CR = 13
const COLON = 58
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/
const SE_DATA = Buffer.from('se-data')
const DATA = Buffer.from('data')
const EVENT = Buffer.from('event')
const ID = Buffer.from('id')
const RETRY = Buffer.from('retry')
const PRIVMSG = Buffer.from('privmsg')

/** The first index of `byte` in buf[start, end), or -1 (Buffer.indexOf would search past `end`). */
function indexWithin (buf: Buffer, byte: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (buf[i] === byte) return i
  return -1
}

/** True when buf[start, end) holds exactly the bytes of `word`. */
function bytesEqual (buf: Buffer, start: number, end: number, word: Buffer): boolean {
  if (end - start !== word.length) return false
  for (let i = 0; i < word.length; i++) if (buf[start + i] !== word[i]) return false
  return true
}

export class StreamParser {
  private readonly sink: StreamSink
  private readonly maxEventBytes: number
  /** Pieces of a line whose end has not arrived yet. */
  private partial: Buffer[] = []
  private partialBytes = 0
  /** The current line outgrew the limit: skip it to its end. */
  private discardingLine = false
  /** The chunk being read, when its complete lines [validFrom, validTo) are known to be valid UTF-8. */
  private validChunk: Buffer | null = null
  private validFrom = 0
  private validTo = 0
  /** The previous chunk ended in CR: a leading LF belongs to that line end. */
  private afterCR = false
  private firstLine = true

  private eventType = ''
  private data: string | null = null
  private dataBytes = 0
  /** Why the event being assembled cannot be read, if it cannot. */
  private eventFailure: string | null = null
  /** The event being assembled was already reported as failed (too large): drop it. */
  private eventDropped = false

  /** The last event id seen (SSE semantics: it carries over to later events). */
  lastEventId: string

  constructor (sink: StreamSink, options: StreamParserOptions = {}) {
    this.sink = sink
    this.maxEventBytes = options.maxEventBytes ?? 65536
    this.lastEventId = options.lastEventId ?? ''
  }

  /** Feeds the next bytes of the stream. */
  push (chunk: Buffer): void {
    const length = chunk.length
    let start = 0
    if (this.afterCR) {
      this.afterCR = false
      if (length > 0 && chunk[0] === LF) start = 1
    }
    this.validateChunk(chunk, start)
    let lf = chunk.indexOf(LF, start)
    let cr = chunk.indexOf(CR, start)
    while (start < length) {
      if (lf !== -1 && lf < start) lf = chunk.indexOf(LF, start)
      if (cr !== -1 && cr < start) cr = chunk.indexOf(CR, start)
      if (lf === -1 && cr === -1) break
      const eol = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
      let next = eol + 1
      if (eol === cr) {
        if (next < length) {
          if (chunk[next] === LF) next++
        } else {
          this.afterCR = true
        }
      }
      this.endLine(chunk, start, eol)
      start = next
    }
    if (start < length) this.keepPartial(chunk, start, length)
  }

  /**
   * The stream ended. A final line without its line end is still read; with
   * `dispatchPending` an event without its closing blank line is dispatched
   * too (a capture file), otherwise dropped (a cut connection resends it).
   */
  end (dispatchPending: boolean): void {
    if (this.partialBytes > 0 || this.discardingLine) this.endLine(Buffer.alloc(0), 0, 0)
    if (dispatchPending) this.dispatch()
    else this.resetEvent()
  }

  private keepPartial (chunk: Buffer, start: number, end: number): void {
    if (this.discardingLine) return
    const bytes = end - start
    if (this.partialBytes + bytes > this.maxEventBytes) {
      this.partial.push(chunk.subarray(start, Math.min(end, start + 4096)))
      this.overflow(Buffer.concat(this.partial))
      return
    }
    this.partial.push(chunk.subarray(start, end))
    this.partialBytes += bytes
  }

  private endLine (chunk: Buffer, start: number, end: number): void {
    if (this.discardingLine) {
      this.discardingLine = false
      return
    }
    if (this.partialBytes === 0) {
      if (end - start > this.maxEventBytes) {
        this.overflow(chunk.subarray(start, Math.min(end, start + 4096)))
        this.discardingLine = false
        return
      }
      this.readLine(chunk, start, end)
      return
    }
    const bytes = this.partialBytes + end - start
    if (bytes > this.maxEventBytes) {
      this.partial.push(chunk.subarray(start, Math.min(end, start + 4096)))
      this.overflow(Buffer.concat(this.partial))
      this.discardingLine = false
      return
    }
    this.partial.push(chunk.subarray(start, end))
    const line = Buffer.concat(this.partial, bytes)
    this.partial = []
    this.partialBytes = 0
    this.readLine(line, 0, line.length)
  }

  /** A line outgrew MAX_EVENT_BYTES: one failed message, then skip to its end. */
  private overflow (head: Buffer): void {
    this.partial = []
    this.partialBytes = 0
    this.discardingLine = true
    this.firstLine = false
    const text = head.toString('utf8')
    // A data line that overflows takes its whole event with it.
    if (/^(se-)?data(:|$)/.test(text) || this.data !== null) this.eventDropped = true
    this.sink.onFailure(cutRaw(text), FailureReason.tooLarge(this.maxEventBytes), this.lastEventId)
  }

  private readLine (buf: Buffer, start: number, end: number): void {
    if (this.firstLine) {
      this.firstLine = false
      if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3
    }
    if (start === end) {
      this.dispatch()
      return
    }
    const first = buf[start]
    if (first === COLON) return // a comment
    if (!(buf === this.validChunk && start >= this.validFrom && end <= this.validTo) && !isUtf8(buf.subarray(start, end))) {
      this.readInvalidLine(buf.toString('utf8', start, end))
      return
    }
    if (first === 0x7b) { // '{': an NDJSON line is one event
      this.sink.onEvent(buf.toString('utf8', start, end), this.lastEventId)
      return
    }
    // The field name is ASCII when it is one we know: compare bytes, decode only the value.
    const colon = indexWithin(buf, COLON, start, end)
    const fieldEnd = colon === -1 ? end : colon
    const valueStart = colon === -1 ? end : colon + 1 < end && buf[colon + 1] === 32 ? colon + 2 : colon + 1
    if (bytesEqual(buf, start, fieldEnd, SE_DATA) || bytesEqual(buf, start, fieldEnd, DATA)) {
      this.appendData(buf.toString('utf8', valueStart, end), end - start)
    } else if (bytesEqual(buf, start, fieldEnd, EVENT)) {
      this.eventType = bytesEqual(buf, valueStart, end, PRIVMSG) ? 'privmsg' : buf.toString('utf8', valueStart, end)
    } else if (bytesEqual(buf, start, fieldEnd, ID)) {
      if (indexWithin(buf, 0, valueStart, end) === -1) this.lastEventId = buf.toString('utf8', valueStart, end)
    } else if (bytesEqual(buf, start, fieldEnd, RETRY)) {
      const value = buf.toString('utf8', valueStart, end)
      if (/^\d+$/.test(value)) this.sink.onRetry?.(Number(value))
    } else {
      const line = buf.toString('utf8', start, end)
      // Other SSE fields are ignored, as SSE says; anything else is garbage.
      if (colon === -1 || !FIELD_NAME.test(line.slice(0, line.indexOf(':')))) {
        this.sink.onFailure(cutRaw(line), FailureReason.unrecognizedLine, this.lastEventId)
      }
    }
  }

  /**
   * Checks once per chunk that its complete lines are valid UTF-8 (they
   * nearly always are), so readLine need not check each line.
   */
  private validateChunk (chunk: Buffer, start: number): void {
    this.validChunk = null
    const lf = chunk.indexOf(LF, start)
    const cr = chunk.indexOf(CR, start)
    if (lf === -1 && cr === -1) return
    const firstEnd = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
    const lastEnd = Math.max(chunk.lastIndexOf(LF), chunk.lastIndexOf(CR))
    // The first line may continue a line of the previous chunk: it is checked on its own.
    if (lastEnd - firstEnd > 1 && isUtf8(chunk.subarray(firstEnd + 1, lastEnd))) {
      this.validChunk = chunk
      this.validFrom = firstEnd + 1
      this.validTo = lastEnd
    }
  }

  private readInvalidLine (text: string): void {
    // Invalid bytes in a data line spoil its event; any other such line is one failure.
    if (/^(se-)?data(:|$)/.test(text)) {
      this.eventFailure ??= FailureReason.invalidUtf8
      this.appendData(text, 0)
      return
    }
    this.sink.onFailure(cutRaw(text), FailureReason.invalidUtf8, this.lastEventId)
  }

  private appendData (value: string, lineBytes: number): void {
    if (this.eventDropped) return
    this.dataBytes += lineBytes
    if (this.dataBytes > this.maxEventBytes) {
      this.sink.onFailure(cutRaw(this.data ?? value), FailureReason.tooLarge(this.maxEventBytes), this.lastEventId)
      this.eventDropped = true
      this.data = null
      return
    }
    this.data = this.data === null ? value : this.data + '\n' + value
  }

  private dispatch (): void {
    const { data, eventType, eventFailure, eventDropped } = this
    this.resetEvent()
    if (eventDropped || data === null) return
    if (eventFailure !== null) {
      this.sink.onFailure(cutRaw(data), eventFailure, this.lastEventId)
    } else if (eventType === '' || eventType === 'privmsg') {
      this.sink.onEvent(data, this.lastEventId)
    } else {
      this.sink.onSkipped?.(eventType, this.lastEventId)
    }
  }

  private resetEvent (): void {
    this.eventType = ''
    this.data = null
    this.dataBytes = 0
    this.eventFailure = null
    this.eventDropped = false
  }
}
