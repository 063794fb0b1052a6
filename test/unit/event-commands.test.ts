import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { ConfigError, ConfigSchema, loadConfig } from '../../src/config.js'
import { fileSource } from '../../src/ingest/sources.js'
import { commandTooLong, DEFAULT_MAX_EVENT_COMMANDS, EventCommands, MAX_COMMAND_BYTES, tooManyCommands } from '../../src/model/event-commands.js'
import { decodePayload } from '../../src/model/payload.js'
import { expectedCounts, intendedCounts } from '../../src/simulator/index.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { RedisKeys, ROOM_EVENT_FIELD_PREFIX } from '../../src/store/redis/keys.js'
import { createRedisClient, RedisStore } from '../../src/store/redis/redis-store.js'
import { BackPressure } from '../../src/worker/back-pressure.js'
import { BatchBuilder } from '../../src/worker/batch-builder.js'
import { FlushPipeline } from '../../src/worker/flush-pipeline.js'
import { StreamPosition } from '../../src/worker/stream-position.js'
import { Worker } from '../../src/worker/worker.js'
import { createTestRedis, deleteKeysWithPrefix, randomPrefix, TEST_REDIS } from '../helpers/redis.js'

/**
 * MAX_EVENT_COMMANDS (docs/COUNTING.md#system-event-commands): the worker
 * counts at most that many distinct system-event commands; a system event
 * of a new one past the bound, or whose command is longer than
 * MAX_NAME_BYTES, is a failed message naming the setting. Known commands
 * always count, and the set is the store's across restarts.
 */

const event = (fields: { command?: string, room?: string, nick?: string, target?: string, body?: string, tags?: string }): string =>
  JSON.stringify({ command: '', room: '', nick: '', target: '', body: '', tags: '', ...fields })

const silent = pino({ level: 'silent' })

/** 1,000 distinct command-like strings, 4 to 15 characters, the same every run. */
function randomCommands (count: number, salt = ''): string[] {
  const out = new Set<string>()
  for (let i = 0; out.size < count; i++) out.add(createHash('sha1').update(`${salt}${i}`).digest('hex').slice(0, 4 + (i % 12)).toUpperCase())
  return [...out]
}

describe('MAX_EVENT_COMMANDS: the rule', () => {
  it('defaults to 12, commands of at most 16 bytes', () => {
    assert.equal(DEFAULT_MAX_EVENT_COMMANDS, 12)
    assert.equal(new EventCommands().max, 12)
    assert.equal(MAX_COMMAND_BYTES, 16)
  })

  it('takes in new commands up to the bound, refuses the next one naming the setting, and keeps counting known ones', () => {
    const commands = new EventCommands(8, ['CLEARCHAT'])
    for (let i = 1; i < 8; i++) assert.equal(commands.admit(`C${i}`), null)
    assert.equal(commands.size, 8)
    assert.equal(commands.admit('NEW'), tooManyCommands(8))
    assert.match(tooManyCommands(8), /MAX_EVENT_COMMANDS \(8\)/)
    assert.equal(commands.has('NEW'), false)
    assert.equal(commands.size, 8)
    // Known ones, loaded or taken in, still count once the set is full.
    assert.equal(commands.admit('CLEARCHAT'), null)
    assert.equal(commands.admit('C7'), null)
  })

  it('a store holding more than the bound (the setting lowered) keeps its commands and takes no new one', () => {
    const commands = new EventCommands(8, randomCommands(20))
    assert.equal(commands.admit(randomCommands(20)[19]!), null)
    assert.equal(commands.admit('NEW'), tooManyCommands(8))
  })

  it('reset forgets what was taken in and starts from the given commands', () => {
    const commands = new EventCommands(8)
    assert.equal(commands.admit('A'), null)
    commands.reset(['B'])
    assert.deepEqual([commands.has('A'), commands.has('B'), commands.size], [false, true, 1])
  })

  it('a system event whose command is longer than 16 bytes fails naming the field; chat messages are not touched', () => {
    assert.equal(decodePayload(event({ command: 'GLOBALUSERSTATE', room: '#a' })).ok, true)
    assert.equal(decodePayload(event({ command: 'C'.repeat(16), room: '#a' })).ok, true)
    assert.deepEqual(decodePayload(event({ command: 'C'.repeat(17), room: '#a' })), { ok: false, reason: commandTooLong(17) })
    assert.equal(commandTooLong(17), 'field "command" is 17 bytes, longer than MAX_COMMAND_BYTES (16 bytes, the longest system-event command counted)')
    // UTF-8 bytes; with a nick it is still a system event (not "", PRIVMSG or USERNOTICE).
    assert.equal(decodePayload(event({ command: 'é'.repeat(8), nick: 'ann' })).ok, true)
    assert.deepEqual(decodePayload(event({ command: 'é'.repeat(9), nick: 'ann' })), { ok: false, reason: commandTooLong(18) })
    // A fixed cap: MAX_NAME_BYTES does not move it.
    assert.deepEqual(decodePayload(event({ command: 'C'.repeat(40) }), 1024), { ok: false, reason: commandTooLong(40) })
    assert.equal(decodePayload(event({ command: 'PRIVMSG', nick: 'ann', room: '#a' })).ok, true)
  })
})

describe('MAX_EVENT_COMMANDS: the batch builder', () => {
  it('counts 8 distinct commands, fails the rest into the failed log, and counts known ones after the set is full', () => {
    const builder = new BatchBuilder(() => 1_700_000_000_000, 64, new EventCommands(8))
    const commands = randomCommands(20)
    commands.forEach((command, i) => builder.addEvent(event({ command, target: '#a' }), String(i + 1)))
    builder.addEvent(event({ command: commands[0]!, target: '#a' }), '21')
    builder.addEvent(event({ target: '#a' }), '22')
    builder.addEvent(event({ command: 'X'.repeat(65), target: '#a' }), '23')
    const batch = builder.take(1)
    const slice = batch.slices[0]!
    assert.deepEqual([...slice.events.keys()].sort(), commands.slice(0, 8).sort())
    assert.equal(slice.events.get(commands[0]!), 2)
    assert.deepEqual([...slice.roomDetail.get('#a')!.events.keys()].sort(), commands.slice(0, 8).sort())
    // 12 new commands past the bound, PRIVMSG (an empty command) new past it too, and the long one.
    assert.equal(batch.failedCount, 14)
    assert.deepEqual(batch.failedLog.map((f) => f.reason), [...Array(13).fill(tooManyCommands(8)), commandTooLong(65)])
    assert.equal(batch.lastEventId, '23')
    assert.deepEqual({ ...builder.tally }, { messages: 0, system: 9, failed: 14, skipped: 0 })
  })

  it('an over-long command takes no place in the set', () => {
    const commands = new EventCommands(8)
    const builder = new BatchBuilder(() => 1_700_000_000_000, 64, commands)
    builder.addEvent(event({ command: 'X'.repeat(65) }), '1')
    assert.equal(commands.size, 0)
  })
})

for (const countingThread of [false, true]) {
  describe(`MAX_EVENT_COMMANDS: the flush pipeline, counting ${countingThread ? 'in a thread of its own' : 'in the worker\'s thread'}`, () => {
    it('a dropped batch leaves no command in the set: start() loads the store\'s', async (t) => {
      const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 100, snapshotPath: null })
      await store.open()
      t.after(async () => { await store.close() })
      let active = true
      const pipeline = new FlushPipeline({
        store,
        leaseToken: 'test',
        logger: silent,
        clock: Date.now,
        flushIntervalMs: 60_000,
        maxEventCommands: 8,
        countingThread,
        isActive: () => active,
        onLeaseRefused: async () => {},
        onStoreBehind: async () => {}
      })
      t.after(async () => { await pipeline.counting.close() })
      const backPressure = new BackPressure({ maxPendingUpdates: 1_000_000, logger: silent, pendingUpdates: () => pipeline.pendingUpdates, countingUpdates: () => pipeline.counting.pendingUpdates, flushNow: () => {} })
      assert.equal(await store.acquireLease('test', 60_000), true)
      const plan = { from: await store.position(), commitPoints: [] }
      pipeline.start(plan.from, 0, Object.keys((await store.totals()).events), new StreamPosition(plan, silent), backPressure)
      t.after(() => { active = false; pipeline.stop() })
      // Eight commands fill the set: a ninth new one fails.
      for (let i = 1; i <= 9; i++) pipeline.counting.addEvent(event({ command: `C${i}` }), '')
      pipeline.dropUncommitted()
      // The store never got them: on becoming active again the set is the store's (empty), and 8 new ones count.
      pipeline.start(plan.from, 0, Object.keys((await store.totals()).events), new StreamPosition(plan, silent), backPressure)
      for (let i = 1; i <= 8; i++) pipeline.counting.addEvent(event({ command: `D${i}` }), '')
      assert.equal(await pipeline.flush(), true)
      assert.deepEqual(Object.keys((await store.totals()).events).sort(), ['D1', 'D2', 'D3', 'D4', 'D5', 'D6', 'D7', 'D8'])
      // The tally goes on over the drop: 8 + 8 system events, and C9 the one failure.
      assert.deepEqual({ ...pipeline.counting.tally }, { messages: 0, system: 16, failed: 1, skipped: 0 })
    })
  })
}

describe('MAX_EVENT_COMMANDS: the worker into the embedded store', () => {
  it('1,000 random commands leave MAX_EVENT_COMMANDS in the store and the rest failed; after a restart new ones are still refused, known ones counted', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-event-commands-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const snapshotPath = join(dir, 'store.snapshot.json')
    const commands = randomCommands(1000)
    const first = join(dir, 'first.ndjson')
    writeFileSync(first, [event({ nick: 'ann', room: '#a', body: 'hello' }), ...commands.map((command, i) => event({ command, target: i % 2 === 0 ? '#a' : '#b' }))].join('\n') + '\n')
    const openStore = async (): Promise<MemoryStore> => {
      const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 100, snapshotPath })
      await store.open()
      return store
    }
    let store = await openStore()
    await new Worker({ store, source: fileSource(first), logger: silent, flushIntervalMs: 20, append: true }).run()
    let totals = await store.totals()
    const counted = commands.slice(0, DEFAULT_MAX_EVENT_COMMANDS)
    assert.deepEqual(Object.keys(totals.events).sort(), [...counted].sort())
    assert.equal(totals.totalMessages, 1)
    assert.equal(totals.failedMessages, 1000 - DEFAULT_MAX_EVENT_COMMANDS)
    const failed = await store.failedMessages(1000)
    assert.equal(failed.length, 1000 - DEFAULT_MAX_EVENT_COMMANDS)
    assert.ok(failed.every((f) => f.reason === tooManyCommands(DEFAULT_MAX_EVENT_COMMANDS)))
    const roomA = await store.roomTotals('#a', 'all')
    assert.ok(roomA !== null && roomA.tracked)
    assert.deepEqual(Object.keys(roomA.events).sort(), counted.filter((_, i) => i % 2 === 0).sort())
    await store.close()

    // A new process: the store from its snapshot, a new worker. New commands fail, known ones count.
    store = await openStore()
    t.after(async () => { await store.close() })
    const second = join(dir, 'second.ndjson')
    const fresh = randomCommands(10, 'fresh')
    writeFileSync(second, [...fresh.map((command) => event({ command, target: '#a' })), event({ command: counted[0]!, target: '#a' }), event({ command: counted.at(-1)!, target: '#b' })].join('\n') + '\n')
    await new Worker({ store, source: fileSource(second), logger: silent, flushIntervalMs: 20, append: true }).run()
    totals = await store.totals()
    assert.deepEqual(Object.keys(totals.events).sort(), [...counted].sort())
    assert.equal(totals.events[counted[0]!], 2)
    assert.equal(totals.events[counted.at(-1)!], 2)
    assert.equal(totals.failedMessages, 1000 - DEFAULT_MAX_EVENT_COMMANDS + 10)
  })

  it('takes its bound from the maxEventCommands option (MAX_EVENT_COMMANDS)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-event-commands-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const path = join(dir, 'capture.ndjson')
    const commands = randomCommands(30)
    writeFileSync(path, commands.map((command) => event({ command })).join('\n') + '\n')
    const store = new MemoryStore({ maxTrackedWords: 1000, maxTrackedPerRoom: 100, snapshotPath: null })
    await store.open()
    t.after(async () => { await store.close() })
    await new Worker({ store, source: fileSource(path), logger: silent, flushIntervalMs: 20, append: true, maxEventCommands: 8 }).run()
    const totals = await store.totals()
    assert.deepEqual(Object.keys(totals.events).sort(), commands.slice(0, 8).sort())
    assert.equal(totals.failedMessages, 22)
  })
})

describe('MAX_EVENT_COMMANDS: the worker into Redis', () => {
  it('the events hash and a room\'s e:<COMMAND> fields stop at the bound, across a restart of the worker', async (t) => {
    const namespace = randomPrefix('event-commands')
    const admin = createTestRedis()
    t.after(async () => { await deleteKeysWithPrefix(admin, namespace); admin.disconnect() })
    const dir = mkdtempSync(join(tmpdir(), 'chat-stats-event-commands-'))
    t.after(() => { rmSync(dir, { recursive: true, force: true }) })
    const run = async (lines: string[]): Promise<void> => {
      const path = join(dir, 'capture.ndjson')
      writeFileSync(path, lines.join('\n') + '\n')
      const store = new RedisStore({ redis: createRedisClient({ ...TEST_REDIS, commandTimeoutMs: 10_000 }), namespace, maxTrackedWords: 1000, maxTrackedPerRoom: 100, maxTrackedRooms: 10 })
      await store.open()
      try {
        await new Worker({ store, source: fileSource(path), logger: silent, flushIntervalMs: 20, append: true, maxEventCommands: 16 }).run()
      } finally {
        await store.close()
      }
    }
    const keys = new RedisKeys(namespace)
    const roomCommands = async (): Promise<string[]> => (await admin.hkeys(keys.room('#a'))).filter((f) => f.startsWith(ROOM_EVENT_FIELD_PREFIX)).map((f) => f.slice(ROOM_EVENT_FIELD_PREFIX.length)).sort()
    const commands = randomCommands(200)
    await run([event({ nick: 'ann', room: '#a', body: 'hello' }), ...commands.map((command) => event({ command, target: '#a' }))])
    assert.deepEqual((await admin.hkeys(keys.events)).sort(), commands.slice(0, 16).sort())
    assert.deepEqual(await roomCommands(), commands.slice(0, 16).sort())
    assert.equal(await admin.hget(keys.totals, 'failed'), '184')

    await run([...randomCommands(5, 'fresh').map((command) => event({ command, target: '#a' })), event({ command: commands[15]!, target: '#a' })])
    assert.deepEqual((await admin.hkeys(keys.events)).sort(), commands.slice(0, 16).sort())
    assert.deepEqual(await roomCommands(), commands.slice(0, 16).sort())
    assert.equal(await admin.hget(keys.events, commands[15]!), '2')
    assert.equal(await admin.hget(keys.totals, 'failed'), '189')
  })
})

describe('MAX_EVENT_COMMANDS: configuration and the simulator', () => {
  it('refuses values out of 8..10,000, fractional or not numbers, naming the variable', () => {
    for (const bad of ['0', '-1', '7', '10001', '64.5', 'abc', '1e9']) {
      assert.throws(() => loadConfig({ MAX_EVENT_COMMANDS: bad }, null), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err))
        assert.equal(err.variable, 'MAX_EVENT_COMMANDS')
        assert.match(err.message, /Distinct system-event commands counted/)
        return true
      }, bad)
    }
  })

  it('accepts its range, default 12', () => {
    assert.equal(loadConfig({}, null).MAX_EVENT_COMMANDS, 12)
    assert.equal(loadConfig({ MAX_EVENT_COMMANDS: '8' }, null).MAX_EVENT_COMMANDS, 8)
    assert.equal(loadConfig({ MAX_EVENT_COMMANDS: '10000' }, null).MAX_EVENT_COMMANDS, 10_000)
    const schema = ConfigSchema.properties.MAX_EVENT_COMMANDS as { minimum?: number, maximum?: number, default?: number }
    assert.deepEqual([schema.minimum, schema.maximum, schema.default], [8, 10_000, DEFAULT_MAX_EVENT_COMMANDS])
  })

  it('the simulator sends fewer commands than the least value, so its expected counts are the same at any setting', () => {
    const intended = intendedCounts(1, 20_000)
    assert.ok(intended.events.size > 0 && intended.events.size <= 8, `simulator commands: ${[...intended.events.keys()].join(', ')}`)
    const atLeast = expectedCounts(1, 20_000, undefined, undefined, 8)
    assert.deepEqual(atLeast.events, expectedCounts(1, 20_000).events)
    assert.equal(atLeast.failed, intended.failed)
    // The option is applied: a bound below the simulator's commands fails the rest.
    const below = expectedCounts(1, 20_000, undefined, undefined, 2)
    assert.equal(below.events.size, 2)
    assert.ok(below.failed > intended.failed)
  })
})
