import { createReadStream, statSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { Readable } from 'node:stream'

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
        resolve({
          chunks: response as AsyncIterable<Buffer>,
          totalBytes: null,
          close: () => { request.destroy() }
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
