import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino'
import pretty from 'pino-pretty'
import type { Config } from './config.js'

const REDACTED = '[redacted]'

// scheme://user:password@host… and scheme://token@host…: the part before @ may be a credential.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@?#]*@/gi
// The query string of an absolute URL (the chat interface URL carries its key there).
const URL_QUERY = /\b([a-z][a-z0-9+.-]*:\/\/[^\s?#]*)\?[^\s#"'<>]*/gi

/**
 * A URL fit for logs: the password (or a lone user-info token) becomes `***`,
 * the query string becomes `[redacted]`, the fragment is dropped. Text that is
 * not a URL is scrubbed of anything URL-like the same way.
 */
export function redactUrl (url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return redactUrlsInText(url)
  }
  if (parsed.password !== '') parsed.password = '***'
  else if (parsed.username !== '') parsed.username = '***'
  const hadQuery = parsed.search !== ''
  parsed.search = ''
  parsed.hash = ''
  return hadQuery ? `${parsed.toString()}?${REDACTED}` : parsed.toString()
}

/** Replaces credentials and query strings of every absolute URL inside free text. */
export function redactUrlsInText (text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@').replace(URL_QUERY, `$1?${REDACTED}`)
}

/** The literal secret strings of a configuration: the admin token, Redis and sentinel passwords, the interface URL's query and credentials. */
export function configSecrets (config: Partial<Config>): string[] {
  const secrets: string[] = []
  if (config.ADMIN_TOKEN !== undefined) secrets.push(config.ADMIN_TOKEN)
  if (config.REDIS_SENTINEL_PASSWORD !== undefined) secrets.push(config.REDIS_SENTINEL_PASSWORD)
  for (const value of [config.REDIS_URL, config.CHAT_INTERFACE_URL]) {
    if (value === undefined) continue
    try {
      const url = new URL(value)
      if (url.password !== '') secrets.push(url.password, decodeURIComponent(url.password))
      else if (url.username !== '') secrets.push(url.username, decodeURIComponent(url.username))
      if (url.search.length > 1) secrets.push(url.search.slice(1))
    } catch {
      // The config schema only lets URLs through; an unparsable one is logged nowhere.
    }
  }
  // Short fragments would blank out ordinary words in every log line.
  return [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)
}

function scrubber (secrets: string[]): (text: string) => string {
  return (text) => {
    let out = text
    for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED)
    return out.includes('://') ? redactUrlsInText(out) : out
  }
}

/** A request path with its query string cut off (marked, so the log shows there was one). */
export function withoutQuery (url: string): string {
  const at = url.indexOf('?')
  return at === -1 ? url : `${url.slice(0, at)}?${REDACTED}`
}

/** The most an error may put in a log line: per string, per array, per object, and how deep. */
export const ERROR_LOG_BOUNDS = { chars: 2048, stackChars: 4096, items: 20, keys: 40, depth: 3 }

/**
 * A serialized error cut to ERROR_LOG_BOUNDS, so no error fills a log line
 * with input: a 100 KB header's `err.rawPacket` becomes `[Buffer 102400
 * bytes]` instead of a JSON array of its bytes, long strings are cut.
 */
function boundErrorField (value: unknown, depth: number, key = ''): unknown {
  if (typeof value === 'string') {
    const max = key === 'stack' ? ERROR_LOG_BOUNDS.stackChars : ERROR_LOG_BOUNDS.chars
    return value.length <= max ? value : `${value.slice(0, max)}… [${value.length - max} more characters]`
  }
  if (value === null || typeof value !== 'object') return value
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.constructor.name} ${value.byteLength} bytes]`
  if (depth >= ERROR_LOG_BOUNDS.depth) return '[nested]'
  if (Array.isArray(value)) {
    const items = value.slice(0, ERROR_LOG_BOUNDS.items).map((item) => boundErrorField(item, depth + 1))
    return value.length <= ERROR_LOG_BOUNDS.items ? items : [...items, `[${value.length - ERROR_LOG_BOUNDS.items} more items]`]
  }
  const out: Record<string, unknown> = {}
  const entries = Object.entries(value)
  for (const [k, item] of entries.slice(0, ERROR_LOG_BOUNDS.keys)) out[k] = boundErrorField(item, depth + 1, k)
  if (entries.length > ERROR_LOG_BOUNDS.keys) out['[more keys]'] = entries.length - ERROR_LOG_BOUNDS.keys
  return out
}

/** Fastify's two lines per request: at debug, so a terminal at info shows what the service does, not every poll. */
const REQUEST_LOG_MESSAGES = new Set(['incoming request', 'request completed'])

/**
 * Readable log lines for a person at a terminal (pino-pretty), written
 * synchronously so the last lines before an exit are not lost; to stdout
 * unless `destination` is given.
 */
export function prettyDestination (destination: number | NodeJS.WritableStream = 1): DestinationStream {
  return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true, destination })
}

/** Pino redaction paths: authorization headers wherever a request is logged, and config secrets. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'request.headers.authorization',
  'config.ADMIN_TOKEN',
  'config.REDIS_URL',
  'config.CHAT_INTERFACE_URL',
  'config.REDIS_SENTINEL_PASSWORD',
  'ADMIN_TOKEN',
  'REDIS_SENTINEL_PASSWORD',
  'password',
  '*.password'
]

/**
 * The service's pino logger: level from LOG_LEVEL, authorization headers
 * redacted, and every string at the top of a log object, the message and the
 * error message/stack scrubbed of configured secrets and URL credentials or
 * query strings; Fastify's request lines at debug. `destination` defaults to
 * stdout: pretty lines when it is a terminal, JSON lines otherwise (tests pass a stream).
 */
export function createLogger (config: Pick<Config, 'LOG_LEVEL'> & Partial<Config>, destination?: DestinationStream): Logger {
  const scrub = scrubber(configSecrets(config))
  // Nested too (a request's URL sits under `req`), a few levels deep.
  const scrubValue = (value: unknown, depth = 0): unknown => {
    if (typeof value === 'string') return scrub(value)
    if (depth >= 4 || value === null || typeof value !== 'object') return value
    if (Array.isArray(value)) return value.map((item) => scrubValue(item, depth + 1))
    // Only plain objects: requests, responses and errors go to their serializers untouched.
    const prototype = Object.getPrototypeOf(value) as unknown
    if (prototype !== Object.prototype && prototype !== null) return value
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[key] = scrubValue(item, depth + 1)
    return out
  }
  const options: pino.LoggerOptions = {
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: {
      err: (err: Error) => {
        const out = boundErrorField(stdSerializers.err(err), 0) as Record<string, unknown>
        for (const key of ['message', 'stack']) out[key] = scrubValue(out[key])
        return out
      },
      // Request URLs without their query string: it is client input and may carry a credential.
      req: (req: { method?: string, url?: string, hostname?: string, ip?: string }) => ({
        method: req.method,
        url: typeof req.url === 'string' ? withoutQuery(req.url) : req.url,
        hostname: req.hostname,
        remoteAddress: req.ip
      }),
      url: (url: unknown) => typeof url === 'string' ? redactUrl(url) : url,
      redisUrl: (url: unknown) => typeof url === 'string' ? redactUrl(url) : url,
      interfaceUrl: (url: unknown) => typeof url === 'string' ? redactUrl(url) : url
    },
    formatters: {
      log: (object) => {
        const out: Record<string, unknown> = {}
        for (const [key, value] of Object.entries(object)) out[key] = scrubValue(value)
        return out
      }
    },
    hooks: {
      logMethod (args, method, level) {
        if (level === 30 && args.some((arg) => typeof arg === 'string' && REQUEST_LOG_MESSAGES.has(arg))) {
          if (this.isLevelEnabled('debug')) this.debug(...(args as Parameters<Logger['debug']>))
          return
        }
        const scrubbed = args.map((arg) => scrubValue(arg)) as Parameters<typeof method>
        method.apply(this, scrubbed)
      }
    }
  }
  const target = destination ?? (process.stdout.isTTY ? prettyDestination() : undefined)
  return target === undefined ? pino(options) : pino(options, target)
}
