// Compares every count a worker left in Redis with the simulator's exact expected counts:
//   node --import tsx scripts/compare-redis.ts --seed 7 --count 200000 --namespace check7: [--url redis://127.0.0.1:6379]
// Prints a summary and the differences; exits 1 when there are any.
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { expectedCounts } from '../src/simulator/index.js'
import { differences, dumpRedisCounts } from '../test/helpers/dump.js'

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    count: { type: 'string' },
    namespace: { type: 'string' },
    url: { type: 'string', default: 'redis://127.0.0.1:6379' }
  }
})
if (values.seed === undefined || values.count === undefined || values.namespace === undefined) {
  console.error('usage: compare-redis.ts --seed S --count N --namespace NS [--url URL]')
  process.exit(2)
}
const expected = expectedCounts(Number(values.seed), Number(values.count))
const redis = new Redis(values.url)
const dump = await dumpRedisCounts(redis, values.namespace, expected.roomDetail.keys())
redis.disconnect()
const roomMembers = [...expected.roomDetail.values()].reduce((n, r) => n + r.words.size + r.nicks.size + r.emotes.size + r.events.size, 0)
console.log(JSON.stringify({
  compared: {
    messages: expected.messages,
    failed: expected.failed,
    lastEventId: expected.lastEventId,
    systemEventCommands: expected.events.size,
    words: expected.words.size,
    nicks: expected.nicks.size,
    rooms: expected.rooms.size,
    emotes: expected.emotes.size,
    roomDetailMembers: roomMembers
  }
}))
const diff = differences(dump, expected)
console.log(diff.length === 0 ? 'exact: every count equals the expected count' : diff.join('\n'))
process.exit(diff.length === 0 ? 0 : 1)
