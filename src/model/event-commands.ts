/**
 * The bound on system-event commands (docs/COUNTING.md#system-event-commands):
 * system events are counted per command, and each distinct command is a
 * field of the stream-wide events hash and of every tracked room's hash, so
 * the worker counts at most MAX_EVENT_COMMANDS distinct ones. Those it holds
 * are the store's (the lease holder is the only writer): loaded from
 * `Totals.events` on becoming active, grown as new commands are counted.
 */

/** MAX_EVENT_COMMANDS's default: Twitch sends about 15 commands; 64 leaves room for several times that. */
export const DEFAULT_MAX_EVENT_COMMANDS = 64

/** The failure reason of a system event whose command is new once MAX_EVENT_COMMANDS are counted. */
export const tooManyCommands = (max: number): string =>
  `new system-event command, and MAX_EVENT_COMMANDS (${max}) distinct commands are already counted`

/** The commands counted so far: a known command always counts, a new one only while fewer than `max` are known. */
export class EventCommands {
  private known = new Set<string>()

  constructor (readonly max: number = DEFAULT_MAX_EVENT_COMMANDS, known: Iterable<string> = []) {
    this.reset(known)
  }

  /**
   * Starts again from the store's commands (on becoming active, after
   * uncommitted counts were dropped): whatever this set took in that never
   * reached the store is forgotten. It may hold more than `max` when the
   * setting was lowered: those keep counting, no new one does.
   */
  reset (known: Iterable<string>): void {
    this.known = new Set(known)
  }

  /** Commands known. */
  get size (): number {
    return this.known.size
  }

  has (command: string): boolean {
    return this.known.has(command)
  }

  /** Null when `command` counts (known, or new and taken in), else the failure reason. */
  admit (command: string): string | null {
    if (this.known.has(command)) return null
    if (this.known.size >= this.max) return tooManyCommands(this.max)
    this.known.add(command)
    return null
  }
}
