import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { loadConfig } from '../../src/config.js'
import { createLogger } from '../../src/logger.js'

// Issue 14, item 9: Fastify's per-request lines are debug, so `LOG_LEVEL=info` shows what the service does.

function collect (level: string): { lines: Array<Record<string, unknown>>, log: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, callback) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); callback() } })
  return { lines, log: createLogger(loadConfig({ LOG_LEVEL: level }, null), stream) }
}

describe('request log lines', () => {
  it('at info, incoming request and request completed are left out; other info lines stay', async () => {
    const { lines, log } = collect('info')
    const request = log.child({ reqId: 'req-1' })
    request.info({ req: { method: 'GET', url: '/stats' } }, 'incoming request')
    request.info({ res: { statusCode: 200 }, responseTime: 1.2 }, 'request completed')
    log.info('API on http://127.0.0.1:3000')
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(lines.map((l) => l.msg), ['API on http://127.0.0.1:3000'])
  })

  it('at debug, they are written at level 20 with their fields', async () => {
    const { lines, log } = collect('debug')
    log.child({ reqId: 'req-2' }).info({ req: { method: 'GET', url: '/stats?x=1' } }, 'incoming request')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(lines.length, 1)
    assert.equal(lines[0]?.level, 20)
    assert.equal(lines[0]?.msg, 'incoming request')
    assert.equal(lines[0]?.reqId, 'req-2')
    assert.deepEqual((lines[0]?.req as { url: string }).url, '/stats?[redacted]')
  })
})
