import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { createLogger, redactUrl, redactUrlsInText } from '../../src/logger.js'
import { loadConfig } from '../../src/config.js'

function capture (): { stream: Writable, lines: () => Array<Record<string, unknown>>, text: () => string } {
  const chunks: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'))
      done()
    }
  })
  return {
    stream,
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

describe('redactUrl', () => {
  const cases: Array<[string, string]> = [
    ['https://interface.example/stream?key=s3cret&room=x', 'https://interface.example/stream?[redacted]'],
    ['redis://:hunter2@redis.internal:6379/0', 'redis://:***@redis.internal:6379/0'],
    ['redis://default:hunter2@redis.internal:6379', 'redis://default:***@redis.internal:6379'],
    ['https://token123@host.example/path', 'https://***@host.example/path'],
    ['http://host.example/plain', 'http://host.example/plain'],
    ['http://host.example/x#frag', 'http://host.example/x']
  ]
  for (const [input, expected] of cases) {
    it(`${input} -> ${expected}`, () => assert.equal(redactUrl(input), expected))
  }

  it('scrubs URLs inside free text and text that does not parse as a URL', () => {
    assert.equal(redactUrlsInText('connect to redis://u:pw@h:1/0 failed; GET https://a.example/s?k=v done'),
      'connect to redis://***@h:1/0 failed; GET https://a.example/s?[redacted] done')
    assert.equal(redactUrl('not a url but has https://x.example/?key=1 inside'), 'not a url but has https://x.example/?[redacted] inside')
  })
})

describe('createLogger', () => {
  const config = loadConfig({
    LOG_LEVEL: 'info',
    ADMIN_TOKEN: 'admin-token-abcdef-0123456789',
    REDIS_URL: 'redis://:redis-pass-9876@redis.internal:6379/0',
    CHAT_INTERFACE_URL: 'https://interface.example/stream?apikey=interface-key-5555'
  }, null)

  it('never writes the admin token, the Redis password or the interface query string', () => {
    const out = capture()
    const log = createLogger(config, out.stream)
    log.info({ url: config.CHAT_INTERFACE_URL, redisUrl: config.REDIS_URL }, 'connecting')
    log.info(`starting with ${config.CHAT_INTERFACE_URL ?? ''} and token ${config.ADMIN_TOKEN ?? ''}`)
    log.warn({ detail: `redis at ${config.REDIS_URL ?? ''}` }, 'store down')
    log.error({ err: new Error(`fetch ${config.CHAT_INTERFACE_URL ?? ''} failed; auth redis-pass-9876`) }, 'stream failed')
    log.info({ config }, 'configuration')
    log.info({ req: { method: 'GET', url: `/stats/failedMessages?token=${config.ADMIN_TOKEN ?? ''}`, headers: { authorization: `Bearer ${config.ADMIN_TOKEN ?? ''}` } } }, 'request')
    const text = out.text()
    for (const secret of ['admin-token-abcdef-0123456789', 'redis-pass-9876', 'interface-key-5555', 'apikey=']) {
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`)
    }
    const lines = out.lines()
    assert.equal(lines.length, 6)
    assert.equal(lines[0]?.url, 'https://interface.example/stream?[redacted]')
    assert.equal(lines[0]?.redisUrl, 'redis://***@redis.internal:6379/0')
    assert.equal((lines[3]?.err as { message: string }).message, 'fetch https://interface.example/stream?[redacted] failed; auth [redacted]')
    // Requests are logged without headers and without their query string.
    assert.deepEqual(lines[5]?.req, { method: 'GET', url: '/stats/failedMessages?[redacted]' })
    assert.equal(lines[0]?.level, 30)
  })

  it('follows LOG_LEVEL', () => {
    const out = capture()
    const log = createLogger(loadConfig({ LOG_LEVEL: 'warn' }, null), out.stream)
    log.info('hidden')
    log.warn('shown')
    assert.deepEqual(out.lines().map((l) => l.msg), ['shown'])
  })
})
