import { createReadStream, statSync } from 'node:fs'
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import { pipeline, type Readable, type Transform } from 'node:stream'
import zlib from 'node:zlib'

/** One connection to (or one pass over) the chat event stream. */
export interface StreamConnection {
  chunks: AsyncIterable<Buffer>
  /** Total bytes when known (a file), for progress. */
  totalBytes: number | null
  /** Stops reading and releases the connection. */
  close: () => void
}

export interface ChunkSource {
  /** 'http' reconnects forever; 'file' is read once and the worker then exits. */
  readonly kind: 'http' | 'file'
  /** A printable name with no secrets in it. */
  readonly label: string
  /**
   * True when open() always starts at the beginning (a capture file), so the
   * worker itself skips what the store already committed; false or unset
   * when open(lastEventId) resumes after that id (an SSE interface).
   */
  readonly startsOver?: boolean
  open: (lastEventId: string | null) => Promise<StreamConnection>
}

/** Raised when the interface answers with something other than 200. */
export class InterfaceStatusError extends Error {
  readonly code = 'CS_INTERFACE_STATUS'
  constructor (readonly statusCode: number) {
    super(`chat interface answered HTTP ${statusCode}`)
    this.name = 'InterfaceStatusError'
  }
}

/** Raised when the interface answers 200 with a body that is not an event stream (an HTML page, say). */
export class InterfaceContentTypeError extends Error {
  readonly code = 'CS_INTERFACE_CONTENT_TYPE'
  constructor (readonly contentType: string) {
    super(`chat interface answered Content-Type ${JSON.stringify(contentType)}; expected ${STREAM_MEDIA_TYPES.join(' or ')}`)
    this.name = 'InterfaceContentTypeError'
  }
}

/** Raised when the body is encoded in a way the worker cannot decode. */
export class InterfaceEncodingError extends Error {
  readonly code = 'CS_INTERFACE_ENCODING'
  constructor (readonly contentEncoding: string) {
    super(`chat interface answered Content-Encoding ${JSON.stringify(contentEncoding)}; this worker decodes ${Object.keys(DECODERS).join(', ')}`)
    this.name = 'InterfaceEncodingError'
  }
}

/**
 * Media types read as a chat stream: SSE, and NDJSON under its usual names.
 * A response without Content-Type is read too (HTTP lets the recipient
 * judge the body); any other type (an error page, a login form) is refused.
 */
export const STREAM_MEDIA_TYPES: readonly string[] = ['text/event-stream', 'application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines']

/** Content codings HTTP allows for a body and node:zlib decodes, streamed. */
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress()
}

/** Why a 200 answer cannot be read as a chat stream, or null when it can. */
export function refusedContentType (header: string | undefined): InterfaceContentTypeError | null {
  if (header === undefined || header.trim() === '') return null
  const mediaType = header.split(';', 1)[0]?.trim().toLowerCase() ?? ''
  return STREAM_MEDIA_TYPES.includes(mediaType) ? null : new InterfaceContentTypeError(header.slice(0, 200))
}

/**
 * The decoders that undo `header` (codings in the order they were applied,
 * so they are undone last first), or an error for one this worker cannot
 * decode. `identity` and an absent header need none.
 */
export function bodyDecoders (header: string | undefined): Transform[] | InterfaceEncodingError {
  if (header === undefined) return []
  const codings = header.split(',').map((coding) => coding.trim().toLowerCase()).filter((coding) => coding !== '' && coding !== 'identity')
  const decoders: Transform[] = []
  for (const coding of codings.reverse()) {
    const create = DECODERS[coding]
    if (create === undefined) {
      for (const decoder of decoders) decoder.destroy()
      return new InterfaceEncodingError(header.slice(0, 200))
    }
    decoders.push(create())
  }
  return decoders
}

/**
 * The body as chunks, decoded when it is content-coded: streamed through
 * node:zlib with back-pressure, so a compressed stream costs no more memory
 * than a plain one and a corrupt one ends the connection with zlib's error.
 */
function decodedBody (response: IncomingMessage, decoders: Transform[]): AsyncIterable<Buffer> {
  if (decoders.length === 0) return response as AsyncIterable<Buffer>
  // pipeline() destroys every stage on an error or a connection cut short, so the reader's loop over
  // the last stage ends with that error; the reader logs it and reconnects.
  return pipeline([response, ...decoders], () => {}) as unknown as AsyncIterable<Buffer>
}

/** Reads `url` as an SSE stream, sending Last-Event-ID to resume. */
export function httpSource (url: string, label: string, connectTimeoutMs = 10_000): ChunkSource {
  const target = new URL(url)
  const client = target.protocol === 'https:' ? https : http
  return {
    kind: 'http',
    label,
    open: async (lastEventId) => await new Promise<StreamConnection>((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' }
      if (lastEventId !== null && lastEventId !== '') headers['last-event-id'] = lastEventId
      const request = client.get(target, { headers, timeout: connectTimeoutMs }, (response) => {
        request.setTimeout(0)
        if (response.statusCode !== 200) {
          response.resume()
          request.destroy()
          reject(new InterfaceStatusError(response.statusCode ?? 0))
          return
        }
        const refused = refusedContentType(response.headers['content-type'])
        const decoders = refused ?? bodyDecoders(response.headers['content-encoding'])
        if (decoders instanceof Error) {
          response.resume()
          request.destroy()
          reject(decoders)
          return
        }
        const chunks = decodedBody(response, decoders)
        resolve({
          chunks,
          totalBytes: null,
          close: () => {
            request.destroy()
            for (const decoder of decoders) decoder.destroy()
          }
        })
      })
      request.on('timeout', () => request.destroy(new Error(`no answer from the chat interface within ${connectTimeoutMs} ms`)))
      request.on('error', reject)
    })
  }
}

/** Reads a captured stream from a file, or from stdin when `path` is '-'. */
export function fileSource (path: string, stdin: Readable = process.stdin): ChunkSource {
  return {
    kind: 'file',
    label: path === '-' ? 'stdin' : path,
    startsOver: true,
    open: async () => {
      if (path === '-') return { chunks: stdin as AsyncIterable<Buffer>, totalBytes: null, close: () => { stdin.destroy() } }
      const totalBytes = statSync(path).size
      const stream = createReadStream(path, { highWaterMark: 256 * 1024 })
      return { chunks: stream as AsyncIterable<Buffer>, totalBytes, close: () => { stream.destroy() } }
    }
  }
}
