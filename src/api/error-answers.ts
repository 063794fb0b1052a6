import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { ErrorBody } from './schemas/common.js'
import { errorBody } from './errors.js'

/** A GET-only API: no request needs a body. */
export const BODY_LIMIT_BYTES = 1024
/** Room names are short; longer path parameters are refused before any store work. */
export const MAX_PARAM_LENGTH = 200

/** The most of a client's input (a path, a framework message) an error answer repeats. */
export const MAX_ECHO_CHARS = 120

/** `text` cut to MAX_ECHO_CHARS, marked when cut: an error answer never repeats unbounded input. */
export function boundedEcho (text: string): string {
  return text.length <= MAX_ECHO_CHARS ? text : `${text.slice(0, MAX_ECHO_CHARS)}… (${text.length} characters)`
}

/**
 * Fastify's and Node's own errors, as the API's documented answers: a fixed
 * message and a stable code, so nothing of the request is echoed back.
 */
const FRAMEWORK_ERRORS: Record<string, { statusCode: number, code: string, message: string }> = {
  FST_ERR_BAD_URL: { statusCode: 400, code: 'CS_BAD_URL', message: 'the URL is not validly encoded' },
  FST_ERR_MAX_PARAM_LENGTH: { statusCode: 414, code: 'CS_URL_TOO_LONG', message: `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` },
  FST_ERR_CTP_BODY_TOO_LARGE: { statusCode: 413, code: 'CS_BODY_TOO_LARGE', message: `request bodies are limited to ${BODY_LIMIT_BYTES} bytes (the API takes none)` },
  FST_ERR_CTP_INVALID_JSON_BODY: { statusCode: 400, code: 'CS_INVALID_BODY', message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { statusCode: 400, code: 'CS_INVALID_BODY', message: 'the body is empty but the content type is JSON' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { statusCode: 415, code: 'CS_UNSUPPORTED_MEDIA_TYPE', message: 'the content type is not supported (the API takes no bodies)' },
  HPE_HEADER_OVERFLOW: { statusCode: 431, code: 'CS_HEADERS_TOO_LARGE', message: 'the request line and headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { statusCode: 408, code: 'CS_REQUEST_TIMEOUT', message: 'the request took too long to arrive' }
}

/** The answer to an error that is not one of the API's own (ApiError): known framework codes mapped, others bounded. */
export function frameworkErrorBody (err: { code?: string | undefined, statusCode?: number | undefined, message: string }): ErrorBody {
  const known = err.code === undefined ? undefined : FRAMEWORK_ERRORS[err.code]
  if (known !== undefined) return errorBody(known.statusCode, known.message, known.code)
  const statusCode = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  if (statusCode >= 500) return errorBody(statusCode, STATUS_CODES[statusCode] ?? 'Internal Server Error')
  return errorBody(statusCode, boundedEcho(err.message), 'CS_BAD_REQUEST')
}

/** Fastify's `frameworkErrors`: a bad URL encoding or an over-long path parameter, found before any route runs. */
export function frameworkErrors (err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const body = frameworkErrorBody(err)
  void reply.code(body.statusCode).send(body)
}

/**
 * Fastify's `clientErrorHandler`: a request Node could not parse (headers too
 * large, malformed, too slow). Answered on the raw socket in the same JSON
 * shape; the error's raw bytes are never echoed.
 */
export function clientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const body = frameworkErrorBody({ code: err.code, statusCode: 400, message: 'the request could not be parsed' })
  const text = JSON.stringify(body)
  socket.end(`HTTP/1.1 ${body.statusCode} ${STATUS_CODES[body.statusCode] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
}
