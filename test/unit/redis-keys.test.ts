import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RedisKeys } from '../../src/store/redis/keys.js'
import { CATEGORIES, ROOM_CATEGORIES } from '../../src/store/types.js'
import { WINDOW_SPECS } from '../../src/store/windows.js'

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
  add(keys.secondSeries(7), 'sec 7')
  add(keys.minuteSeries(7), 'min 7')
  for (const category of CATEGORIES) {
    add(keys.top(category), `top ${category}`)
    for (const spec of WINDOW_SPECS) {
      add(keys.windowBucket(spec, category, 7), `win ${spec.name} ${category}`)
      add(keys.windowCache(spec, category, 7), `cache ${spec.name} ${category}`)
    }
  }
  for (const room of rooms) {
    add(keys.room(room), `room ${room}`)
    for (const spec of WINDOW_SPECS) add(keys.roomWindowBucket(spec, 7, room), `rwin ${spec.name} ${room}`)
    for (const category of ROOM_CATEGORIES) {
      add(keys.roomTop(room, category), `rtop ${category} ${room}`)
      for (const spec of WINDOW_SPECS) {
        add(keys.roomTopBucket(spec, category, 7, room), `rwtop ${spec.name} ${category} ${room}`)
        add(keys.roomWindowCache(spec, category, 7, room), `rcache ${spec.name} ${category} ${room}`)
      }
    }
  }
  return out
}

describe('RedisKeys', () => {
  it('builds every key under the namespace', () => {
    const keys = new RedisKeys('chat-stats:')
    for (const key of allKeys(keys, ['#forsen']).keys()) assert.ok(key.startsWith('chat-stats:'), key)
    assert.equal(keys.top('words'), 'chat-stats:top:words')
    assert.equal(keys.roomTop('#forsen', 'emotes'), 'chat-stats:rtop:emotes:#forsen')
    assert.equal(keys.windowBucket(WINDOW_SPECS[4]!, 'nicks', 1206180), 'chat-stats:win:24h:nicks:1206180')
  })

  it('never builds one key for two things, whatever the room names', () => {
    // Room names that look like other keys' tails.
    const rooms = ['a', 'words:a', 'a:words', '1m:7:a', 'top:words', '7', '', ':', 'm', '#a:b', 'words']
    const keys = new RedisKeys('ns:')
    const built = allKeys(keys, rooms)
    assert.equal(built.size, 7 + 4 * 11 + rooms.length * (1 + 5 + 3 * 11))
  })

  it('refuses an empty namespace', () => {
    assert.throws(() => new RedisKeys(''), TypeError)
  })
})
