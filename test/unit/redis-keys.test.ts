import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { CATEGORIES, ROOM_CATEGORIES } from '../../src/store/types.js'
import { LEVELS } from '../../src/store/windows/levels.js'

/** Every key the store can build for the given rooms, with what it stands for. */
function allKeys (keys: RedisKeys, rooms: string[]): Map<string, string> {
  const out = new Map<string, string>()
  const add = (key: string, what: string): void => {
    assert.ok(!out.has(key), `${key} is built for both ${out.get(key)} and ${what}`)
    out.set(key, what)
  }
  add(keys.lease, 'lease')
  add(keys.position, 'position')
  add(keys.totals, 'totals')
  add(keys.events, 'events')
  add(keys.failedLog, 'failed')
  add(keys.tracked, 'tracked')
  add(keys.windows, 'windows')
  add(keys.secondSeries(7), 'sec 7')
  add(keys.minuteSeries(7), 'min 7')
  for (const category of CATEGORIES) {
    add(keys.top(category), `top ${category}`)
    for (const level of LEVELS) add(keys.windowValue(level.index, category, 7), `win ${level.index} ${category}`)
  }
  for (const level of LEVELS) add(keys.roomWindowValues(level.index, 7), `rwin ${level.index}`)
  for (const room of rooms) {
    add(keys.room(room), `room ${room}`)
    for (const category of ROOM_CATEGORIES) add(keys.roomTop(room, category), `rtop ${category} ${room}`)
  }
  return out
}

describe('RedisKeys', () => {
  it('builds every key under the namespace', () => {
    const keys = new RedisKeys('chat-stats:')
    for (const key of allKeys(keys, ['#forsen']).keys()) assert.ok(key.startsWith('chat-stats:'), key)
    assert.equal(keys.top('words'), 'chat-stats:top:words')
    assert.equal(keys.roomTop('#forsen', 'emotes'), 'chat-stats:rtop:emotes:#forsen')
    assert.equal(keys.windowValue(4, 'nicks', 1206180), 'chat-stats:win:4:nicks:1206180')
    assert.equal(keys.roomWindowValues(0, 1736942400), 'chat-stats:rwin:0:1736942400')
  })

  it('never builds one key for two things, whatever the room names', () => {
    // Room names that look like other keys' tails.
    const rooms = ['a', 'words:a', 'a:words', '0:7:a', 'top:words', '7', '', ':', 'm', '#a:b', 'words', 'racked']
    const keys = new RedisKeys('ns:')
    const built = allKeys(keys, rooms)
    assert.equal(built.size, 9 + 4 * (1 + LEVELS.length) + LEVELS.length + rooms.length * (1 + 3))
  })

  it('refuses an empty namespace', () => {
    assert.throws(() => new RedisKeys(''), TypeError)
  })
})

describe('the key layout documents', () => {
  /** `key pattern -> type` of a markdown key table (rows starting with `| \`{ns}`, optionally inside a comment's ` * `). */
  function keyTable (text: string): Map<string, string> {
    const rows = new Map<string, string>()
    for (const line of text.split('\n')) {
      const match = /^(?: \* )?\| `(\{ns\}[^`]+)` +\| (\w+) +\|/.exec(line)
      if (match !== null) rows.set(match[1]!, match[2]!)
    }
    return rows
  }

  it('ARCHITECTURE.md lists the keys of keys.ts, each with the same type', () => {
    const source = keyTable(readFileSync(new URL('../../src/store/redis/keys.ts', import.meta.url), 'utf8'))
    const architecture = keyTable(readFileSync(new URL('../../ARCHITECTURE.md', import.meta.url), 'utf8'))
    assert.ok(source.size >= 15, `keys.ts documents its keys (${source.size} rows)`)
    assert.deepEqual([...architecture].sort(), [...source].sort())
  })

  it('keys.ts documents every kind of key it builds', () => {
    const documented = [...keyTable(readFileSync(new URL('../../src/store/redis/keys.ts', import.meta.url), 'utf8')).keys()]
      .map((pattern) => pattern.slice('{ns}'.length).split(':')[0]!)
    const keys = new RedisKeys('ns:')
    for (const key of allKeys(keys, ['#a']).keys()) {
      const kind = key.slice('ns:'.length).split(':')[0]!
      assert.ok(documented.includes(kind), `${key}: its kind ${kind} is in the key table`)
    }
  })
})
