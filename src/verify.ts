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
  /**
   * Lists the store may hold only in part because the stream is broader than a bound
   * (a trimmed list, or a room's detail when rooms churn through the tracked set):
   * each is checked as a lower bound, never above the truth, not for equality.
   */
  bounded: number
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

/**
 * A list the store keeps only in part: at most `bound` members, each a member the
 * stream really has, counted at most as often as the stream says (a trimmed member
 * that comes back starts again from 0, so lower is honest; higher is double counting).
 */
function compareBoundedList (name: string, got: TopEntry[], want: Map<string, number>, bound: number): string[] {
  const out: string[] = []
  let wrong = 0
  const note = (line: string): void => { wrong++; if (out.length < SHOWN_PER_CHECK) out.push(line) }
  if (got.length > bound) note(`${name}: store holds ${got.length} members, above its bound of ${bound}`)
  got.forEach((entry, i) => {
    const truth = want.get(entry.value)
    if (truth === undefined) note(`${name} #${i + 1}: store has ${describeEntry(entry)}, which the stream never had`)
    else if (entry.count > truth) note(`${name} #${i + 1}: store has ${describeEntry(entry)}, above the stream's ${truth}`)
    const next = got[i + 1]
    if (next !== undefined && compareTopEntries(entry, next) > 0) note(`${name} #${i + 1}: out of order before ${describeEntry(next)}`)
  })
  if (wrong > SHOWN_PER_CHECK) out.push(`${name}: ${wrong - SHOWN_PER_CHECK} more differences`)
  return out
}

/** Events by command of a room whose detail may have restarted: none above the stream's. */
function compareBoundedCounts (name: string, got: Record<string, number>, want: Map<string, number>): string[] {
  return Object.entries(got)
    .filter(([key, count]) => count > (want.get(key) ?? 0))
    .map(([key, count]) => `${name} ${key}: store has ${count}, above the stream's ${want.get(key) ?? 0}`)
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

/** The store's bounds (MAX_TRACKED_*): where the stream is broader, the store holds only part of it. */
export interface VerifyBounds {
  maxTrackedWords: number
  maxTrackedRooms: number
  maxTrackedPerRoom: number
}

const UNBOUNDED: VerifyBounds = { maxTrackedWords: Infinity, maxTrackedRooms: Infinity, maxTrackedPerRoom: Infinity }

/**
 * Reads every all-time count from `store` and compares it with `expected`:
 * totals, system events, the stream position, the four top lists in full and
 * every room's messages, events and lists. Exact where the stream fits the
 * bounds; where it is broader, the part the store keeps is checked as a lower bound.
 */
export async function verifyStore (store: StatsStore, expected: ExpectedCounts, bounds: VerifyBounds = UNBOUNDED): Promise<VerifyReport> {
  const differences: string[] = []
  const totals = await store.totals()
  if (totals.totalMessages !== expected.messages) differences.push(`messages: store has ${totals.totalMessages}, expected ${expected.messages}`)
  if (totals.failedMessages !== expected.failed) differences.push(`failed messages: store has ${totals.failedMessages}, expected ${expected.failed}`)
  differences.push(...compareCounts('system events', totals.events, expected.events))
  const position = await store.position()
  if ((position.lastEventId ?? '') !== expected.lastEventId) differences.push(`stream position: store is at event ${JSON.stringify(position.lastEventId)}, expected ${JSON.stringify(expected.lastEventId)}`)

  // Whole lists, one past the expected length so an extra member shows: the API bounds
  // `limit` to 100, the stores themselves take any positive limit.
  let bounded = 0
  for (const category of CATEGORIES) {
    const want = sortedEntries(expected[category])
    const got = await store.top(category, { window: 'all', limit: want.length + 1 })
    if (want.length <= bounds.maxTrackedWords) {
      differences.push(...compareLists(category, got.entries, want))
    } else {
      bounded++
      differences.push(...compareBoundedList(category, got.entries, expected[category], bounds.maxTrackedWords))
    }
  }
  // More rooms than the tracked set holds: rooms churn in and out, and a room let in again
  // keeps its detail from then on, so no tracked room's detail is sure to be whole.
  const roomsChurn = expected.roomDetail.size > bounds.maxTrackedRooms
  const roomsTrimmed = expected.rooms.size > bounds.maxTrackedWords
  let roomDetailMembers = 0
  for (const [room, want] of expected.roomDetail) {
    const got = await store.roomTotals(room, 'all')
    if (roomsTrimmed) {
      // The rooms list itself is trimmed: a room may be gone or have started again from 0.
      if (got === null) continue
      if (got.messages > want.messages) differences.push(`room ${room} messages: store has ${got.messages}, above the stream's ${want.messages}`)
    } else {
      if (got === null) {
        // A room the stream only named in system events (no message) has no all-time count; its
        // events are detail, which past MAX_TRACKED_ROOMS it may not have: nothing is missing.
        if (roomsChurn && want.messages === 0) continue
        differences.push(`room ${room}: missing from the store`)
        continue
      }
      if (got.messages !== want.messages) differences.push(`room ${room} messages: store has ${got.messages}, expected ${want.messages}`)
    }
    // Past MAX_TRACKED_ROOMS a room keeps only its count (docs/STORAGE.md#tracked-rooms): nothing more to compare.
    if (!got.tracked) continue
    if (roomsChurn) {
      bounded++
      differences.push(...compareBoundedCounts(`room ${room} events`, got.events, want.events))
    } else {
      differences.push(...compareCounts(`room ${room} events`, got.events, want.events))
    }
    roomDetailMembers += want.events.size
    for (const category of ROOM_CATEGORIES) {
      const wantList = sortedEntries(want[category])
      roomDetailMembers += wantList.length
      const gotList = (await store.roomTop(room, category, { window: 'all', limit: wantList.length + 1 })).entries
      if (!roomsChurn && wantList.length <= bounds.maxTrackedPerRoom) {
        differences.push(...compareLists(`room ${room} ${category}`, gotList, wantList))
      } else {
        if (!roomsChurn) bounded++
        differences.push(...compareBoundedList(`room ${room} ${category}`, gotList, want[category], bounds.maxTrackedPerRoom))
      }
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
    bounded,
    differences
  }
}

/** The simulator's exact counts for (seed, count), then verifyStore. */
export async function verifyAgainstSimulator (store: StatsStore, seed: number, count: number, bounds?: VerifyBounds): Promise<VerifyReport> {
  return await verifyStore(store, expectedCounts(seed, count), bounds)
}

/** The report as text for a terminal: one summary line, then each difference. */
export function formatVerifyReport (report: VerifyReport): string {
  const c = report.compared
  const what = `${c.messages.toLocaleString('en')} messages, ${c.failed.toLocaleString('en')} failed, ${c.systemEventCommands} system event commands, ` +
    `${c.words.toLocaleString('en')} words, ${c.nicks.toLocaleString('en')} nicks, ${c.rooms.toLocaleString('en')} rooms, ${c.emotes.toLocaleString('en')} emotes, ` +
    `${c.roomDetailMembers.toLocaleString('en')} room list entries`
  const partial = report.bounded === 0
    ? ''
    : `; ${report.bounded.toLocaleString('en')} list(s) broader than MAX_TRACKED_WORDS, MAX_TRACKED_ROOMS or MAX_TRACKED_PER_ROOM checked as kept in part: no member unknown to the stream, none above its count`
  if (report.differences.length === 0) {
    const verdict = report.bounded === 0 ? 'exact' : 'consistent'
    return `${verdict}: the store holds the simulator's counts for seed ${report.seed}, events 1..${report.count} (${what}${partial})\n`
  }
  return `DIFFERENT: ${report.differences.length} difference(s) from the simulator's counts for seed ${report.seed}, events 1..${report.count} (compared ${what}${partial})\n` +
    report.differences.map((line) => `  ${line}\n`).join('')
}
