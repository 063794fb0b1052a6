import { STATUS_CODES } from 'node:http'
import type { ErrorBody } from './schemas/common.js'

/**
 * The API's coded errors. Each has a stable `code`, an HTTP status and a
 * message safe to show to clients (the error handler sends these messages as
 * they are, but hides the message of any other 5xx error).
 */
export class ApiError extends Error {
  /** Extra response headers (WWW-Authenticate, Retry-After). */
  readonly headers: Record<string, string>
  constructor (
    readonly code: string,
    readonly statusCode: number,
    message: string,
    options?: ErrorOptions & { headers?: Record<string, string> }
  ) {
    super(message, options)
    this.name = 'ApiError'
    this.headers = options?.headers ?? {}
  }
}

type ErrorFactory<A extends unknown[]> = ((...args: A) => ApiError) & { code: string, statusCode: number }

function defineError<A extends unknown[]> (code: string, statusCode: number, build: (...args: A) => { message: string, cause?: unknown, headers?: Record<string, string> }): ErrorFactory<A> {
  const factory = (...args: A): ApiError => {
    const { message, cause, headers } = build(...args)
    return new ApiError(code, statusCode, message, { cause, headers })
  }
  return Object.assign(factory, { code, statusCode })
}

export const Errors = {
  invalidParameter: defineError('CS_INVALID_PARAMETER', 400, (path: string, message: string) => ({ message: `${path} ${message}` })),
  roomNotFound: defineError('CS_ROOM_NOT_FOUND', 404, (room: string) => ({ message: `room ${JSON.stringify(room)} has no statistics` })),
  adminTokenRequired: defineError('CS_ADMIN_TOKEN_REQUIRED', 401, (reason: 'missing' | 'invalid') => ({
    message: reason === 'missing' ? 'this route needs Authorization: Bearer <ADMIN_TOKEN>' : 'the bearer token is not valid',
    headers: { 'www-authenticate': reason === 'missing' ? 'Bearer realm="chat-stats"' : 'Bearer realm="chat-stats", error="invalid_token"' }
  })),
  adminLoopbackOnly: defineError('CS_ADMIN_LOOPBACK_ONLY', 403, () => ({
    message: 'this route answers only loopback clients while ADMIN_TOKEN is not set'
  })),
  adminTokenNeededBehindProxy: defineError('CS_ADMIN_TOKEN_NOT_SET', 403, () => ({
    message: 'this route needs ADMIN_TOKEN to be set: behind a trusted proxy (TRUST_PROXY) the loopback rule is not used'
  })),
  storeUnavailable: defineError('CS_STORE_UNAVAILABLE', 503, (cause: unknown) => ({
    message: 'the statistics store is unavailable', cause, headers: { 'retry-after': '1' }
  })),
  storeTimeout: defineError('CS_STORE_TIMEOUT', 503, (timeoutMs: number) => ({
    message: `the statistics store did not answer within ${timeoutMs} ms`, headers: { 'retry-after': '1' }
  })),
  workerNotReady: defineError('CS_WORKER_NOT_READY', 503, (role: string) => ({
    message: `the worker is not connected to the chat stream (role: ${role})`, headers: { 'retry-after': '1' }
  })),
  streamStalled: defineError('CS_STREAM_STALLED', 503, (stalledMs: number) => ({
    message: `the chat stream is connected but has delivered nothing countable (no chat message or system event) for ${Math.round(stalledMs / 1000)} s: see the worker's log and the failed messages`, headers: { 'retry-after': '5' }
  })),
  tooManyStreams: defineError('CS_TOO_MANY_STREAMS', 503, (max: number) => ({
    message: `at most ${max} live streams are served at once`, headers: { 'retry-after': '5' }
  })),
  tooManyStreamsForClient: defineError('CS_TOO_MANY_STREAMS_PER_CLIENT', 429, (max: number) => ({
    message: `at most ${max} live streams per client (STREAMS_PER_CLIENT); close one first`, headers: { 'retry-after': '5' }
  })),
  tooManyStreamVariants: defineError('CS_TOO_MANY_STREAM_VARIANTS', 503, (max: number) => ({
    message: `at most ${max} different live-stream parameter sets are served at once; ask for one already served (e.g. the defaults)`, headers: { 'retry-after': '5' }
  })),
  seriesBudgetSpent: defineError('CS_COST_LIMITED', 429, (perMinute: number, retryAfterSeconds: number) => ({
    message: `timeseries budget of ${perMinute} points per minute spent, retry in ${retryAfterSeconds} s`, headers: { 'retry-after': String(retryAfterSeconds) }
  }))
} as const

/** Refusals for a client's volume or the server's capacity: expected under load, so not logged as faults. */
export const REJECTION_CODES: ReadonlySet<string> = new Set([
  'CS_RATE_LIMITED', 'CS_COST_LIMITED', Errors.tooManyStreams.code, Errors.tooManyStreamsForClient.code, Errors.tooManyStreamVariants.code
])

/**
 * The JSON body of every error answer (schemas/common.ts `ErrorBody`): the
 * status, its standard text, the message and the stable code when there is one.
 */
export function errorBody (statusCode: number, message: string, code?: string): ErrorBody {
  const body = { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message }
  return code === undefined ? body : { ...body, code }
}
