import { expectedCounts, type ExpectedCounts } from './simulator/index.js'
import { compareTopEntries } from './store/top-order.js'
import { CATEGORIES, ROOM_CATEGORIES, type StatsStore, type TopEntry } from './store/types.js'

/**
 * `chat-stats verify`: compares what a store holds with the simulator's exact
 * counts for a seed and an event count. It reads through the StatsStore
 * contract only, so one check serves Redis, a cluster and the embedded store.
 */

/** What one verification compared and what differed. */
export interface VerifyReport {
  seed: number
  count: number
  /** How many values were compared, by kind, for the summary line. */
  compared: { messages: number, failed: number, systemEventCommands: number, words: number, nicks: number, rooms: number, emotes: number, roomDetailMembers: number }
  /** One line per difference; empty when the store holds exactly the expected counts. */
  differences: string[]
}

/** Differences listed per check at most, so a wrong store does not print a million lines. */
const SHOWN_PER_CHECK = 5

function describeEntry (entry: TopEntry | undefined): string {
  return entry === undefined ? 'nothing' : `${JSON.stringify(entry.value)} ${entry.count}`
}

/** Compares two full top lists in order; the first few mismatches, or none. */
function compareLists (name: string, got: TopEntry[], want: TopEntry[]): string[] {
  const out: string[] = []
  let wrong = 0
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const a = got[i]
    const b = want[i]
    if (a?.value === b?.value && a?.count === b?.count) continue
    wrong++
    if (out.length < SHOWN_PER_CHECK) out.push(`${name} #${i + 1}: store has ${describeEntry(a)}, expected ${describeEntry(b)}`)
  }
  if (wrong > SHOWN_PER_CHECK) out.push(`${name}: ${wrong - SHOWN_PER_CHECK} more positions differ`)
  return out
}

function compareCounts (name: string, got: Record<string, number>, want: Map<string, number>): string[] {
  const keys = new Set([...Object.keys(got), ...want.keys()])
  const out: string[] = []
  for (const key of [...keys].sort()) {
    if ((got[key] ?? 0) !== (want.get(key) ?? 0)) out.push(`${name} ${key}: store has ${got[key] ?? 0}, expected ${want.get(key) ?? 0}`)
  }
  return out
}

function sortedEntries (counts: Map<string, number>): TopEntry[] {
  return [...counts].map(([value, count]) => ({ value, count })).sort(compareTopEntries)
}

/**
 * Reads every all-time count from `store` and compares it with `expected`:
 * totals, system events, the stream position, the four top lists in full and
 * every room's messages, events and lists.
 */
export async function verifyStore (store: StatsStore, expected: ExpectedCounts): Promise<VerifyReport> {
  const differences: string[] = []
  const totals = await store.totals()
  if (totals.totalMessages !== expected.messages) differences.push(`messages: store has ${totals.totalMessages}, expected ${expected.messages}`)
  if (totals.failedMessages !== expected.failed) differences.push(`failed messages: store has ${totals.failedMessages}, expected ${expected.failed}`)
  differences.push(...compareCounts('system events', totals.events, expected.events))
  const position = await store.position()
  if ((position.lastEventId ?? '') !== expected.lastEventId) differences.push(`stream position: store is at event ${JSON.stringify(position.lastEventId)}, expected ${JSON.stringify(expected.lastEventId)}`)

  // Whole lists, one past the expected length so an extra member shows: the API bounds
  // `limit` to 100, the stores themselves take any positive limit.
  for (const category of CATEGORIES) {
    const want = sortedEntries(expected[category])
    const got = await store.top(category, { window: 'all', limit: want.length + 1 })
    differences.push(...compareLists(category, got.entries, want))
  }
  let roomDetailMembers = 0
  for (const [room, want] of expected.roomDetail) {
    const got = await store.roomTotals(room, 'all')
    if (got === null) { differences.push(`room ${room}: missing from the store`); continue }
    if (got.messages !== want.messages) differences.push(`room ${room} messages: store has ${got.messages}, expected ${want.messages}`)
    // Past MAX_TRACKED_ROOMS a room keeps only its count (docs/STORAGE.md#tracked-rooms): nothing more to compare.
    if (!got.tracked) continue
    differences.push(...compareCounts(`room ${room} events`, got.events, want.events))
    roomDetailMembers += want.events.size
    for (const category of ROOM_CATEGORIES) {
      const wantList = sortedEntries(want[category])
      roomDetailMembers += wantList.length
      differences.push(...compareLists(`room ${room} ${category}`, (await store.roomTop(room, category, { window: 'all', limit: wantList.length + 1 })).entries, wantList))
    }
  }
  return {
    seed: expected.seed,
    count: expected.count,
    compared: {
      messages: expected.messages,
      failed: expected.failed,
      systemEventCommands: expected.events.size,
      words: expected.words.size,
      nicks: expected.nicks.size,
      rooms: expected.rooms.size,
      emotes: expected.emotes.size,
      roomDetailMembers
    },
    differences
  }
}

/** The simulator's exact counts for (seed, count), then verifyStore. */
export async function verifyAgainstSimulator (store: StatsStore, seed: number, count: number): Promise<VerifyReport> {
  return await verifyStore(store, expectedCounts(seed, count))
}

/** The report as text for a terminal: one summary line, then each difference. */
export function formatVerifyReport (report: VerifyReport): string {
  const c = report.compared
  const what = `${c.messages.toLocaleString('en')} messages, ${c.failed.toLocaleString('en')} failed, ${c.systemEventCommands} system event commands, ` +
    `${c.words.toLocaleString('en')} words, ${c.nicks.toLocaleString('en')} nicks, ${c.rooms.toLocaleString('en')} rooms, ${c.emotes.toLocaleString('en')} emotes, ` +
    `${c.roomDetailMembers.toLocaleString('en')} room list entries`
  if (report.differences.length === 0) return `exact: the store holds the simulator's counts for seed ${report.seed}, events 1..${report.count} (${what})\n`
  return `DIFFERENT: ${report.differences.length} difference(s) from the simulator's counts for seed ${report.seed}, events 1..${report.count} (compared ${what})\n` +
    report.differences.map((line) => `  ${line}\n`).join('')
}
