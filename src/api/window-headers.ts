import type { FastifyReply } from 'fastify'
import type { WindowName } from '../store/types.js'

/**
 * The headers of a top-list or drill-down answer (docs/API.md#windows, documented
 * by schemas/common.ts WINDOWED_ANSWER_HEADERS): which window it covers; for
 * a sliding window, when it was computed (all-time answers change with every
 * flush, so no date is given); and how far from exact it can be (0 = exact).
 */
export function setWindowHeaders (reply: FastifyReply, window: WindowName, nowMs: number, maxError: number): void {
  reply.header('x-stats-window', window)
  if (window !== 'all') reply.header('last-modified', new Date(nowMs).toUTCString())
  reply.header('x-stats-max-error', String(maxError))
}
