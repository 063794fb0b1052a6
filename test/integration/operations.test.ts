import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { startSimulator } from '../../src/simulator/index.js'
import { eventually, freePort, startCli } from '../helpers/cli-process.js'

async function getJson (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: unknown, text: string }> {
  const response = await fetch(url, { headers })
  const text = await response.text()
  let body: unknown
  try { body = JSON.parse(text) } catch { body = null }
  return { status: response.status, body, text }
}

describe('operations', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  after(async () => { for (const cleanup of cleanups.reverse()) await cleanup() })

  it('a standalone worker serves /health/ready and /metrics on WORKER_PORT; ready only while connected', async () => {
    const simulator = await startSimulator({ seed: 3, rate: 2000, port: 0, host: '127.0.0.1' })
    cleanups.push(() => simulator.close())
    const port = await freePort()
    const worker = startCli(['worker'], {
      CHAT_INTERFACE_URL: simulator.url,
      SNAPSHOT_PATH: join(mkdtempSync(join(tmpdir(), 'chat-stats-ops-')), 'snapshot.json'),
      WORKER_PORT: String(port),
      NODE_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn'
    })
    cleanups.push(() => { worker.child.kill('SIGKILL') })
    const base = `http://127.0.0.1:${port}`
    const ready = await eventually(async () => {
      const answer = await getJson(`${base}/health/ready`)
      return answer.status === 200 ? answer.body : undefined
    }, 30_000, 'the worker to be ready')
    assert.deepEqual(ready, { status: 'ready', store: 'ok', worker: { connected: true, role: 'active', stalledForMs: null } })
    assert.equal((await getJson(`${base}/health/live`)).status, 200)
    const metrics = await eventually(async () => {
      const { text } = await getJson(`${base}/metrics`)
      // Both: the ingest counters are read at scrape time, so they can count events before the first flush ends.
      return /chat_stats_ingest_events_total\{outcome="message"\} [1-9]/.test(text) && /chat_stats_flush_duration_seconds_count [1-9]/.test(text) ? text : undefined
    }, 30_000, 'ingest metrics')
    assert.match(metrics, /chat_stats_stream_connected 1/)
    assert.match(metrics, /chat_stats_flush_duration_seconds_count [1-9]/)
    assert.match(metrics, /process_resident_memory_bytes/)
    // Only operations routes on this port.
    assert.equal((await getJson(`${base}/stats`)).status, 404)

    // The interface goes away: the worker is no longer ready.
    await simulator.close()
    await eventually(async () => (await getJson(`${base}/health/ready`)).status === 503 ? true : undefined, 30_000, 'not ready')
    worker.child.kill('SIGTERM')
    assert.equal(await worker.exited, 0)
  })

  it('no secret reaches the logs of a full run: start, reconnects, errors, admin requests', async () => {
    const redisPort = await freePort()
    const redisPassword = 'redis-pass-7f3a9c'
    const redisDir = mkdtempSync(join(tmpdir(), 'chat-stats-redis-'))
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir, '--requirepass', redisPassword], { stdio: 'ignore' })
    cleanups.push(() => { redis.kill('SIGKILL') })

    const interfaceKey = 'interface-key-4e8b21d0'
    const adminToken = 'admin-token-0123456789abcdef'
    const interfacePort = await freePort()
    const apiPort = await freePort()
    const app = startCli(['start'], {
      // The interface is down at first (connection refused), then ends its stream after 300 events (reconnects).
      CHAT_INTERFACE_URL: `http://user:${interfaceKey}@127.0.0.1:${interfacePort}/stream?key=${interfaceKey}&x=1`,
      REDIS_URL: `redis://:${redisPassword}@127.0.0.1:${redisPort}/0`,
      REDIS_NAMESPACE: 'secrets-test:',
      ADMIN_TOKEN: adminToken,
      NODE_HOST: '127.0.0.1',
      NODE_PORT: String(apiPort),
      LOG_LEVEL: 'debug'
    })
    cleanups.push(() => { app.child.kill('SIGKILL') })
    const base = `http://127.0.0.1:${apiPort}`
    await eventually(async () => (await getJson(`${base}/health/live`)).status === 200 ? true : undefined, 30_000, 'the API')
    await eventually(async () => /cannot connect to the chat interface/.test(app.output()) ? true : undefined, 30_000, 'a connection error in the logs')
    const simulator = await startSimulator({ seed: 5, rate: 0, count: 300, port: interfacePort, host: '127.0.0.1' })
    cleanups.push(() => simulator.close())
    await eventually(async () => /chat stream ended; reconnecting/.test(app.output()) ? true : undefined, 30_000, 'a reconnection in the logs')
    assert.equal((await getJson(`${base}/stats/failedMessages`, { authorization: 'Bearer wrong-token-wrong-token' })).status, 401)
    assert.equal((await getJson(`${base}/stats/failedMessages`, { authorization: `Bearer ${adminToken}` })).status, 200)
    assert.equal((await getJson(`${base}/stats/failedMessages?token=${adminToken}`)).status, 401)

    app.child.kill('SIGTERM')
    assert.equal(await app.exited, 0)
    const logs = app.output()
    assert.ok(logs.split('\n').length > 10, 'the run logged')
    for (const secret of [interfaceKey, redisPassword, adminToken]) assert.ok(!logs.includes(secret), `a log line contains ${secret}`)
  })
})
