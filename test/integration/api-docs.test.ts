import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { buildApp } from '../../src/api/app.js'
import { loadConfig } from '../../src/config.js'
import { recordIngestEvents } from '../../src/metrics.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

/** OpenAPI completeness, /metrics, and the dashboard hook. */

async function app (t: TestContext, dashboardDir?: string) {
  const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 1000, snapshotPath: null })
  await store.open()
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000' }, null)
  const instance = await buildApp({ config, store, dashboardDir })
  t.after(async () => {
    await instance.close()
    await store.close()
  })
  return instance
}

interface Operation {
  summary?: string
  description?: string
  tags?: string[]
  parameters?: Array<{ name: string, in: string, description?: string }>
  responses: Record<string, { description?: string, headers?: Record<string, { description?: string, schema?: { type?: string } }>, content?: Record<string, { schema?: unknown, example?: unknown, examples?: unknown }> }>
  security?: unknown[]
}

const ROUTES: Array<[string, string[], string[]]> = [
  // path, query/path parameters, statuses documented besides 200
  ['/stats', ['window'], ['304', '400', '429', '503']],
  ['/stats/words', ['limit', 'window', 'stopwords'], ['304', '400', '429', '503']],
  ['/stats/nicks', ['limit', 'window', 'bots'], ['304', '400', '429', '503']],
  ['/stats/rooms', ['limit', 'window'], ['304', '400', '429', '503']],
  ['/stats/emotes', ['limit', 'window'], ['304', '400', '429', '503']],
  ['/stats/rooms/{room}', ['room', 'limit', 'window', 'stopwords', 'bots'], ['304', '400', '404', '429', '503']],
  ['/stats/timeseries', ['resolution', 'window'], ['400', '429', '503']],
  ['/stats/trending', ['kind', 'window', 'baseline', 'room', 'limit'], ['304', '400', '404', '429', '503']],
  ['/stats/failedMessages', ['limit'], ['400', '401', '403', '429', '503']],
  ['/stats/stream', ['limit', 'window', 'stopwords', 'bots', 'room', 'rateWindow'], ['400', '429', '503']],
  ['/health/live', [], ['429']],
  ['/health/ready', [], ['429', '503']],
  ['/metrics', [], ['429']]
]

describe('OpenAPI', () => {
  it('/documentation/json lists every route with summary, description, tags, described parameters and exemplified responses', async (t) => {
    const api = await app(t)
    const res = await api.inject({ url: '/documentation/json' })
    assert.equal(res.statusCode, 200)
    const doc = JSON.parse(res.body) as { openapi: string, paths: Record<string, { get?: Operation }>, tags: Array<{ name: string }> }
    assert.match(doc.openapi, /^3\.1/)
    assert.deepEqual(Object.keys(doc.paths).sort(), ROUTES.map(([path]) => path).sort())
    const tagNames = new Set(doc.tags.map((tag) => tag.name))
    for (const [path, parameters, errors] of ROUTES) {
      const operation = doc.paths[path]?.get
      assert.ok(operation !== undefined, path)
      assert.ok((operation.summary ?? '').length > 0, `${path} summary`)
      assert.ok((operation.description ?? '').length > 20, `${path} description`)
      assert.ok((operation.tags ?? []).length > 0, `${path} tags`)
      for (const tag of operation.tags ?? []) assert.ok(tagNames.has(tag), `${path} tag ${tag} declared`)
      assert.deepEqual((operation.parameters ?? []).map((p) => p.name).sort(), [...parameters].sort(), `${path} parameters`)
      for (const parameter of operation.parameters ?? []) assert.ok((parameter.description ?? '').length > 0, `${path} ${parameter.name} description`)
      assert.deepEqual(Object.keys(operation.responses).sort(), ['200', ...errors].sort(), `${path} responses`)
      for (const [status, response] of Object.entries(operation.responses)) {
        if (status === '304') {
          // The shared answers' revalidation (shared-answer.ts): documented, with no body.
          assert.equal(response.content, undefined, `${path} 304 has no body`)
          assert.match(response.description ?? '', /If-None-Match/, `${path} 304 description`)
          continue
        }
        const media = Object.values(response.content ?? {})
        assert.ok(media.length > 0, `${path} ${status} content`)
        for (const m of media) {
          const example = m.example ?? m.examples ?? (m.schema as { examples?: unknown } | undefined)?.examples
          assert.ok(example !== undefined, `${path} ${status} example`)
        }
      }
    }
    assert.deepEqual(doc.paths['/stats/failedMessages']?.get?.security, [{ adminToken: [] }])
  })

  it('top lists and the room drill-down document X-Stats-Window, Last-Modified and X-Stats-Max-Error', async (t) => {
    const api = await app(t)
    const doc = JSON.parse((await api.inject({ url: '/documentation/json' })).body) as { paths: Record<string, { get?: Operation }> }
    for (const path of ['/stats/words', '/stats/nicks', '/stats/rooms', '/stats/emotes', '/stats/rooms/{room}']) {
      const headers = doc.paths[path]?.get?.responses['200']?.headers ?? {}
      assert.deepEqual(Object.keys(headers).sort(), ['Last-Modified', 'X-Stats-Max-Error', 'X-Stats-Window'], path)
      assert.equal(headers['X-Stats-Max-Error']?.schema?.type, 'integer', path)
      assert.match(headers['X-Stats-Max-Error']?.description ?? '', /below its true count.*0 means exact/, path)
    }
    // Other routes answer no window: no such headers.
    assert.equal(doc.paths['/stats/timeseries']?.get?.responses['200']?.headers, undefined)
  })

  it('/documentation serves Swagger UI', async (t) => {
    const api = await app(t)
    const res = await api.inject({ url: '/documentation/' })
    assert.equal(res.statusCode, 200)
    assert.match(res.body, /swagger-ui/i)
    // Swagger UI injects a <style>: inline styles are allowed on its pages only, scripts never.
    const csp = String(res.headers['content-security-policy'])
    assert.match(csp, /style-src 'self' 'unsafe-inline'/)
    assert.match(csp, /script-src 'self';/)
    assert.ok(!String((await api.inject({ url: '/stats' })).headers['content-security-policy']).includes('unsafe-inline'))
    const script = await api.inject({ url: '/documentation/static/swagger-initializer.js' })
    assert.equal(script.statusCode, 200)
  })
})

describe('GET /metrics', () => {
  it('renders the Prometheus text of every service metric', async (t) => {
    const api = await app(t)
    recordIngestEvents('message', 5)
    await api.inject({ url: '/stats' })
    await api.inject({ url: '/stats/rooms/%23nope' })
    const res = await api.inject({ url: '/metrics' })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
    for (const name of [
      'chat_stats_ingest_events_total', 'chat_stats_failed_messages_total', 'chat_stats_stream_reconnects_total',
      'chat_stats_stream_connected', 'chat_stats_flush_duration_seconds', 'chat_stats_flush_batch_messages',
      'chat_stats_pending_updates', 'chat_stats_store_errors_total', 'chat_stats_http_request_duration_seconds',
      'chat_stats_sse_clients', 'chat_stats_reader_paused_seconds_total', 'chat_stats_counting_thread_busy_seconds_total',
      'process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes'
    ]) {
      assert.match(res.body, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
    assert.match(res.body, /^chat_stats_ingest_events_total\{outcome="message"\} [1-9]\d*$/m)
    assert.match(res.body, /^chat_stats_ingest_events_total\{outcome="skipped"\} \d+$/m)
    assert.match(res.body, /^chat_stats_http_request_duration_seconds_count\{method="GET",route="\/stats",status_code="200"\} [1-9]\d*$/m)
    assert.match(res.body, /^chat_stats_http_request_duration_seconds_count\{method="GET",route="\/stats\/rooms\/:room",status_code="404"\} [1-9]\d*$/m)
  })
})

describe('dashboard hook', () => {
  it('GET / serves the dashboard page under the API\'s CSP; unknown paths keep the JSON 404', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-dashboard-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>chat-stats</title>')
    writeFileSync(join(dir, 'app.js'), 'export {}')
    const api = await app(t, dir)
    const res = await api.inject({ url: '/' })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/html/)
    assert.equal(res.body, '<!doctype html><title>chat-stats</title>')
    assert.ok(String(res.headers['content-security-policy']).includes("script-src 'self'"))
    assert.equal((await api.inject({ url: '/dashboard/app.js' })).statusCode, 200)
    const missing = await api.inject({ url: '/nothing-here' })
    assert.equal(missing.statusCode, 404)
    assert.match(String(missing.headers['content-type']), /application\/json/)
  })

  it('the real dashboard page is served by default', async (t) => {
    const api = await app(t)
    const res = await api.inject({ url: '/' })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/html/)
  })
})
