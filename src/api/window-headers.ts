import type { FastifyReply } from 'fastify'
import type { WindowName } from '../store/types.js'

/**
 * Says which window an answer covers and, for a sliding window, when it was
 * computed (all-time answers change with every flush, so no date is given).
 */
export function setWindowHeaders (reply: FastifyReply, window: WindowName, nowMs: number): void {
  reply.header('x-stats-window', window)
  if (window !== 'all') reply.header('last-modified', new Date(nowMs).toUTCString())
}
