import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { LogController } from 'fastify'
import { withoutQuery } from '../logger.js'

/** Rejected requests are summed up in one line at most this often. */
export const REJECTION_SUMMARY_INTERVAL_MS = 60_000

/** Answers that refuse a client for its own volume (rate limit, cost limit, per-client streams): logged at debug. */
export function isRejection (statusCode: number): boolean {
  return statusCode === 429
}

/**
 * The API's request log lines (README.md#limits-per-client: a flood must not flood the
 * log). One `request completed` line at info per request (method, path
 * without its query, client address, status, time) instead of Fastify's two; a rejection
 * (429) is logged at debug only, and an info line sums the rejections up at
 * most once a minute, so 26,000 rejections cost one line, not 52,000.
 */
/** pino's isLevelEnabled, which Fastify's logger type leaves out; true for a logger without it. */
function infoEnabled (log: FastifyBaseLogger): boolean {
  const check = (log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled
  return check === undefined || check.call(log, 'info')
}

export class RequestLog extends LogController {
  private rejected = 0
  private reportedAt = -Infinity

  override incomingRequest (request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request')
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // Below info (warn, silent) a plain answer logs nothing: do not build its line.
    if ((error === null || error === undefined) && !isRejection(reply.statusCode) && !infoEnabled(reply.log)) return
    const line = { method: request.method, url: withoutQuery(request.url), remoteAddress: request.ip, statusCode: reply.statusCode, responseTime: reply.elapsedTime }
    if (error !== null && error !== undefined) {
      reply.log.error({ ...line, err: error }, 'request errored')
      return
    }
    if (!isRejection(reply.statusCode)) {
      reply.log.info(line, 'request completed')
      return
    }
    reply.log.debug(line, 'request rejected')
    this.rejected++
    const now = performance.now()
    if (now - this.reportedAt < REJECTION_SUMMARY_INTERVAL_MS) return
    reply.log.info({ rejected: this.rejected, statusCode: reply.statusCode, sinceMs: Number.isFinite(this.reportedAt) ? Math.round(now - this.reportedAt) : 0 },
      'requests rejected for volume (rate, cost or stream limits); each one is logged at debug')
    this.rejected = 0
    this.reportedAt = now
  }
}
