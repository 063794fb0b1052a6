import { selectLowest } from '../memory/bounded-counts.js'

/** The outcome of one flush for the tracked rooms; see TrackedRooms.plan. */
export interface TrackedRoomsPlan {
  /** Rooms that enter the set with this flush (their all-time detail starts now). */
  admitted: string[]
  /** Rooms tracked before this flush that leave it: delete ALL their detail in the same atomic step. */
  evicted: string[]
  /** Whether a room is tracked after this flush (write its detail only then). */
  isTracked: (room: string) => boolean
  /** Room -> score after this flush, for rooms whose score changed (a Redis writer sends these as ZADD). */
  scores: Map<string, number>
  /** @internal */
  readonly next: Map<string, number>
  /** @internal */
  readonly generation: number
}

/**
 * Which rooms keep drill-down detail (docs/STORAGE.md#tracked-rooms: at most
 * MAX_TRACKED_ROOMS). Pure: the writer holds it in memory (loaded at open).
 *
 * Each tracked room has a score: its all-time messages. A room that is not
 * tracked and appears in a flush enters with its all-time count (given by
 * the store; its count in this flush when unknown); when the set is then
 * over the bound, the lowest scores leave, equal scores lowest value first
 * in code-point order (what Redis's ZREMRANGEBYRANK 0 n removes), the
 * newcomer included. A room that leaves has all its detail deleted, so if
 * it comes back it starts clean.
 */
export class TrackedRooms {
  private scores = new Map<string, number>()
  private generation = 0

  constructor (private readonly maxRooms: number) {
    if (!Number.isSafeInteger(maxRooms) || maxRooms < 1) throw new RangeError(`TrackedRooms: maxRooms must be a positive integer, got ${String(maxRooms)}`)
  }

  /** Replaces the set (at open, from the store); over the bound, the lowest leave at once. */
  load (entries: Iterable<[string, number]>): void {
    this.scores = new Map(entries)
    for (const { value } of selectLowest(this.scores, this.scores.size - this.maxRooms)) this.scores.delete(value)
    this.generation++
  }

  has (room: string): boolean {
    return this.scores.has(room)
  }

  get size (): number {
    return this.scores.size
  }

  /** Tracked rooms and their scores (a copy). */
  entries (): Array<[string, number]> {
    return [...this.scores]
  }

  /**
   * The flush's effect; nothing changes until commit(plan).
   * @param messages messages per room in this flush (rooms with only system events: 0)
   * @param allTime a room's all-time messages after this flush, when the store knows it (the rooms list); undefined otherwise
   */
  plan (messages: ReadonlyMap<string, number>, allTime: (room: string) => number | undefined = () => undefined): TrackedRoomsPlan {
    const next = new Map(this.scores)
    const changed = new Map<string, number>()
    const admitted: string[] = []
    for (const [room, n] of messages) {
      const old = next.get(room)
      let score: number
      if (old === undefined) {
        score = allTime(room) ?? n
        admitted.push(room)
      } else {
        if (n === 0) continue
        score = old + n
      }
      next.set(room, score)
      changed.set(room, score)
    }
    const evicted: string[] = []
    const leaving = selectLowest(next, next.size - this.maxRooms)
    const admittedNow = new Set(admitted)
    for (const { value } of leaving) {
      next.delete(value)
      changed.delete(value)
      if (admittedNow.has(value)) admittedNow.delete(value)
      else evicted.push(value)
    }
    return {
      admitted: admitted.filter((room) => admittedNow.has(room)),
      evicted,
      isTracked: (room) => next.has(room),
      scores: changed,
      next,
      generation: this.generation
    }
  }

  /** Makes a written plan the current set. Throws when the set changed since the plan was made. */
  commit (plan: TrackedRoomsPlan): void {
    if (plan.generation !== this.generation) throw new Error('TrackedRooms: this plan is stale (the set changed since it was made)')
    this.scores = plan.next
    this.generation++
  }
}
