import { Type, type Static, type TSchema } from 'typebox'
import { WINDOW_NAMES } from '../../store/types.js'

/** The JSON body of every error answer. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer({ description: 'The HTTP status', examples: [400] }),
  error: Type.String({ description: 'The HTTP status text', examples: ['Bad Request'] }),
  message: Type.String({ description: 'What went wrong; for a bad parameter, its location and name first', examples: ['querystring/limit must be <= 100'] }),
  code: Type.Optional(Type.String({ description: 'A stable error code', examples: ['CS_INVALID_PARAMETER'] }))
}, { description: 'An error' })
export type ErrorBody = Static<typeof ErrorBody>

function errorExample (statusCode: number, error: string, message: string, code: string): typeof ErrorBody {
  return Type.Object(ErrorBody.properties, { description: error, examples: [{ statusCode, error, message, code }] })
}

export const BadRequest = errorExample(400, 'Bad Request', 'querystring/limit must be <= 100', 'CS_INVALID_PARAMETER')
export const Unauthorized = errorExample(401, 'Unauthorized', 'this route needs Authorization: Bearer <ADMIN_TOKEN>', 'CS_ADMIN_TOKEN_REQUIRED')
export const Forbidden = errorExample(403, 'Forbidden', 'this route answers only loopback clients while ADMIN_TOKEN is not set', 'CS_ADMIN_LOOPBACK_ONLY')
export const NotFound = errorExample(404, 'Not Found', 'room "#nosuchroom" has no statistics', 'CS_ROOM_NOT_FOUND')
export const TooManyRequests = errorExample(429, 'Too Many Requests', 'Rate limit exceeded, retry in 1 minute', 'CS_RATE_LIMITED')
export const ServiceUnavailable = errorExample(503, 'Service Unavailable', 'the statistics store did not answer within 2000 ms', 'CS_STORE_TIMEOUT')

/** The answer to an If-None-Match naming the current ETag (shared-answer.ts): no body. */
export const NotModified = Type.Null({ description: 'Not Modified: If-None-Match names the current ETag; no body (the ETag and Cache-Control headers are sent again)' })

/** Error answers every store-backed route can give. */
export const STORE_ROUTE_ERRORS = { 400: BadRequest, 429: TooManyRequests, 503: ServiceUnavailable }

export const DEFAULT_LIMIT = 10
export const MAX_LIMIT = 100

export const Limit = Type.Optional(Type.Integer({
  minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT,
  description: `How many entries each top list holds, 1..${MAX_LIMIT}`
}))

export const TopWindow = Type.Optional(Type.Enum([...WINDOW_NAMES], {
  default: 'all',
  description: 'The period counted: all time since the store was created (`all`) or the last 1m, 5m, 15m, 1h or 24h up to now'
}))

export const Stopwords = Type.Optional(Type.Enum(['exclude', 'include'], {
  default: 'include',
  description: '`exclude` leaves out common words of major languages (stopwords-iso: en, es, pt, de, fr, it, ru, tr, pl, nl, ko, ja)'
}))

export const Bots = Type.Optional(Type.Enum(['exclude', 'include'], {
  default: 'include',
  description: '`exclude` leaves out known chat bots (nightbot, streamelements, moobot, ...; BOT_NICKS replaces the list), compared case-insensitively'
}))

export type FilterMode = 'exclude' | 'include'

/** The headers of a top-list or drill-down answer (window-headers.ts sets them), for the OpenAPI document. */
export const WINDOWED_ANSWER_HEADERS = {
  'X-Stats-Window': { type: 'string', enum: [...WINDOW_NAMES], description: 'The window counted' },
  'Last-Modified': { type: 'string', description: 'When a sliding window was computed (HTTP date); absent for `all`' },
  'X-Stats-Max-Error': {
    type: 'integer',
    minimum: 0,
    description: 'How far from exact the answer can be: the most by which any count in it, listed or not, can be below its true count (the sum, over the trimmed window buckets it covers, of the largest count each dropped). 0 means exact.'
  }
} as const

/** `schema` as a 200 response whose OpenAPI entry lists WINDOWED_ANSWER_HEADERS. */
export function withWindowedAnswerHeaders<T extends TSchema> (schema: T): T {
  return { ...schema, headers: WINDOWED_ANSWER_HEADERS }
}
