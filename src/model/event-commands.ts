/**
 * The bound on system-event commands (docs/COUNTING.md#system-event-commands):
 * system events are counted per command, and each distinct command is a
 * field of the stream-wide events hash and of every tracked room's hash, so
 * the worker counts at most MAX_EVENT_COMMANDS distinct ones. Those it holds
 * are the store's (the lease holder is the only writer): loaded from
 * `Totals.events` on becoming active, grown as new commands are counted.
 */

/**
 * MAX_EVENT_COMMANDS's default. Twitch sends about 15 commands, about 8 of
 * them aimed at a room (CLEARCHAT, CLEARMSG, NOTICE, ROOMSTATE, USERNOTICE,
 * HOSTTARGET, USERSTATE, a PRIVMSG without nick); 12 leaves room for a few
 * more. It is kept low because every tracked room's window value in every
 * live bucket may carry each command: the memory formula's largest line
 * grows by MAX_EVENT_COMMANDS × (16 + MAX_COMMAND_BYTES) bytes of text a
 * value, 6 MiB of the embedded worst case per command
 * (ARCHITECTURE.md#memory-bounds); 12 keeps that case under 1 GiB.
 */
export const DEFAULT_MAX_EVENT_COMMANDS = 12

/**
 * The longest system-event command counted, in UTF-8 bytes. IRC commands are
 * a word or a 3-digit numeric (RFC 1459 §2.3.1); the longest known are
 * Twitch's GLOBALUSERSTATE (15) and IRCv3's AUTHENTICATE (12). A fixed cap
 * rather than MAX_NAME_BYTES: a command may be in every tracked room's
 * values, so its size multiplies by MAX_EVENT_COMMANDS there, and raising
 * MAX_NAME_BYTES for long nicks should not raise it.
 */
export const MAX_COMMAND_BYTES = 16

/** The failure reason of a system event whose command is longer than MAX_COMMAND_BYTES. */
export const commandTooLong = (bytes: number): string =>
  `field "command" is ${bytes} bytes, longer than MAX_COMMAND_BYTES (${MAX_COMMAND_BYTES} bytes, the longest system-event command counted)`

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
