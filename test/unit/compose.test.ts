import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { ConfigSchema } from '../../src/config.js'

// No Docker engine runs on our machines: check what can be checked without one.
const ROOT = join(import.meta.dirname, '../..')
const TSX = import.meta.resolve('tsx')

interface Service {
  command?: string[]
  environment?: Record<string, string>
  profiles?: string[]
  healthcheck?: { test: string[] }
  volumes?: string[]
  ports?: string[]
  build?: string
  image?: string
}
// Compose resolves YAML merge keys (<<: *app), so the test does too.
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>, volumes: Record<string, unknown> }

function helpOf (command: string): string {
  const result = spawnSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), command, '--help'], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(result.status, 0, result.stderr)
  return result.stdout
}

describe('docker-compose.yml', () => {
  it('has redis, worker, api and the simulator behind a profile', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['api', 'redis', 'simulator', 'worker'])
    assert.deepEqual(compose.services.simulator?.profiles, ['simulator'])
    for (const name of ['redis', 'worker', 'api']) assert.equal(compose.services[name]?.profiles, undefined, `${name} runs by default`)
  })

  it('persists Redis with RDB every 60 s on a volume, with a healthcheck', () => {
    const redis = compose.services.redis!
    assert.ok(redis.command?.join(' ').includes('--save 60 1'))
    assert.ok(redis.command?.join(' ').includes('--appendonly yes --appendfsync everysec'), 'AOF everysec bounds what a Redis crash loses to 1 s')
    assert.ok(redis.volumes?.some((v) => v.startsWith('redis-data:')))
    assert.ok('redis-data' in compose.volumes)
    assert.deepEqual(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping'])
  })

  it('runs real chat-stats commands with real flags', () => {
    for (const name of ['worker', 'api', 'simulator']) {
      const [command, ...args] = compose.services[name]!.command!
      assert.ok(command !== undefined)
      const help = helpOf(command)
      for (const flag of args.filter((a) => a.startsWith('--'))) assert.ok(help.includes(flag), `${name}: ${command} has no ${flag}`)
    }
  })

  it('sets only variables of the configuration schema', () => {
    const known = new Set(Object.keys(ConfigSchema.properties))
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === 'redis') continue
      for (const variable of Object.keys(service.environment ?? {})) assert.ok(known.has(variable), `${name}: ${variable} is not a config variable`)
    }
  })

  it('points the app at the redis service and checks the API with /health/ready', () => {
    for (const name of ['worker', 'api']) assert.equal(compose.services[name]?.environment?.REDIS_HOST, 'redis')
    // One image, built once (issue 14, item 12): only api builds it; every app service runs it.
    assert.deepEqual(Object.entries(compose.services).filter(([, s]) => s.build !== undefined).map(([n]) => n), ['api'])
    for (const name of ['worker', 'api', 'simulator']) assert.equal(compose.services[name]?.image, 'chat-stats:local')
    assert.ok(compose.services.api?.healthcheck?.test.join(' ').includes('/health/ready'))
    assert.ok(compose.services.api?.ports?.some((p) => p.endsWith(':3000')))
  })
})

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  it('is multi-stage, installs production dependencies only, and runs as a non-root user', () => {
    assert.equal((dockerfile.match(/^FROM /gm) ?? []).length, 2)
    assert.match(dockerfile, /npm ci --omit=dev/)
    assert.match(dockerfile, /^USER node$/m)
    assert.match(dockerfile, /ENTRYPOINT \["node", "dist\/src\/cli\.js"\]/)
  })

  it('runs the Node major that engines asks for, and .dockerignore lets in only what it copies (issue 14, items 11 and 12)', () => {
    const majors = [...dockerfile.matchAll(/^FROM node:(\d+)-/gm)].map((m) => m[1])
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
    assert.deepEqual(majors, [engines.replace(/^>=\s*/, ''), engines.replace(/^>=\s*/, '')])
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'))
    assert.equal(ignore[0], '*')
    const allowed = ignore.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, ''))
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? '').split(' '))
    for (const path of copied) assert.ok(allowed.some((a) => path === a || path.startsWith(`${a}/`) || a.startsWith(`${path}/`)), `${path} is copied but ignored`)
  })
})
