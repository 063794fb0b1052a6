/**
 * Decoding a privmsg payload and deciding what it counts as (docs/COUNTING.md#what-counts).
 * Pure functions: no I/O, no clock.
 */
import { commandTooLong, MAX_COMMAND_BYTES } from './event-commands.js'
import { bytesOver, DEFAULT_MAX_NAME_BYTES } from './names.js'

export interface ChatPayload {
  command: string
  room: string
  nick: string
  target: string
  body: string
  tags: string
}

const FIELDS = ['command', 'room', 'nick', 'target', 'body', 'tags'] as const

/** Why a line or event could not be read; the catalogue of failed-message reasons. */
export const FailureReason = {
  invalidJson: 'invalid JSON',
  notObject: 'JSON is not an object',
  wrongFieldType: (field: string) => `field "${field}" is not a string`,
  tooLarge: (maxBytes: number) => `event larger than MAX_EVENT_BYTES (${maxBytes} bytes)`,
  nameTooLong: (field: string, bytes: number, maxBytes: number) => `field "${field}" is ${bytes} bytes, longer than MAX_NAME_BYTES (${maxBytes} bytes)`,
  invalidUtf8: 'invalid UTF-8',
  unrecognizedLine: 'unrecognized line'
} as const

export type DecodeResult =
  | { ok: true, payload: ChatPayload }
  | { ok: false, reason: string }

/**
 * Parses the data of a privmsg event. Unknown fields are ignored; a missing
 * field is "". A chat message whose nick or room is longer than
 * `maxNameBytes` (MAX_NAME_BYTES) of UTF-8 fails (nameFailure).
 */
export function decodePayload (data: string, maxNameBytes = DEFAULT_MAX_NAME_BYTES): DecodeResult {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return { ok: false, reason: FailureReason.invalidJson }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: FailureReason.notObject }
  }
  const record = value as Record<string, unknown>
  const payload: ChatPayload = { command: '', room: '', nick: '', target: '', body: '', tags: '' }
  for (const field of FIELDS) {
    const fieldValue = record[field]
    if (fieldValue === undefined) continue
    if (typeof fieldValue !== 'string') return { ok: false, reason: FailureReason.wrongFieldType(field) }
    payload[field] = fieldValue
  }
  const failure = nameFailure(payload, maxNameBytes)
  return failure === null ? { ok: true, payload } : { ok: false, reason: failure }
}

/**
 * decodePayload for the hot path: fills `into` (reused from event to event)
 * and returns whether it is a chat message (isChatMessage: true) or a system
 * event (false), or returns the failure reason, leaving `into` undefined.
 * Same rules and reasons as decodePayload, without its allocations, and the
 * caller need not classify the payload again.
 */
export function decodePayloadInto (data: string, into: ChatPayload, maxNameBytes = DEFAULT_MAX_NAME_BYTES): boolean | string {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return FailureReason.invalidJson
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return FailureReason.notObject
  const record = value as Record<string, unknown>
  const { command, room, nick, target, body, tags } = record
  if (command !== undefined && typeof command !== 'string') return FailureReason.wrongFieldType('command')
  if (room !== undefined && typeof room !== 'string') return FailureReason.wrongFieldType('room')
  if (nick !== undefined && typeof nick !== 'string') return FailureReason.wrongFieldType('nick')
  if (target !== undefined && typeof target !== 'string') return FailureReason.wrongFieldType('target')
  if (body !== undefined && typeof body !== 'string') return FailureReason.wrongFieldType('body')
  if (tags !== undefined && typeof tags !== 'string') return FailureReason.wrongFieldType('tags')
  into.command = command ?? ''
  into.room = room ?? ''
  into.nick = nick ?? ''
  into.target = target ?? ''
  into.body = body ?? ''
  into.tags = tags ?? ''
  const chat = isChatMessage(into)
  return namesFailure(into, chat, maxNameBytes) ?? chat
}

/**
 * The failure reason when `payload` is a chat message whose nick, or whose
 * room (the field roomOf takes it from), is longer than `maxNameBytes` of
 * UTF-8 (docs/COUNTING.md#long-names), or a system event whose command is
 * longer than MAX_COMMAND_BYTES (docs/COUNTING.md#system-event-commands),
 * else null. A system event's other names are never list members or hash
 * fields, so they are not checked.
 */
export function nameFailure (payload: ChatPayload, maxNameBytes: number): string | null {
  return namesFailure(payload, isChatMessage(payload), maxNameBytes)
}

/** nameFailure for a payload already classified (`chat`: isChatMessage). */
function namesFailure (payload: ChatPayload, chat: boolean, maxNameBytes: number): string | null {
  if (!chat) {
    const commandBytes = bytesOver(payload.command, MAX_COMMAND_BYTES)
    return commandBytes === 0 ? null : commandTooLong(commandBytes)
  }
  const nickBytes = bytesOver(payload.nick, maxNameBytes)
  if (nickBytes !== 0) return FailureReason.nameTooLong('nick', nickBytes, maxNameBytes)
  const field = payload.room !== '' ? 'room' : 'target'
  const roomBytes = bytesOver(payload[field], maxNameBytes)
  if (roomBytes !== 0) return FailureReason.nameTooLong(field, roomBytes, maxNameBytes)
  return null
}

/**
 * The counting rule (docs/COUNTING.md#what-counts): a chat message is a
 * payload whose command is "", PRIVMSG or USERNOTICE and whose nick is not
 * empty; anything else is a system event, counted per command.
 */
export function isChatMessage (payload: ChatPayload): boolean {
  const command = payload.command
  return payload.nick !== '' && (command === '' || command === 'PRIVMSG' || command === 'USERNOTICE')
}

/** The room a payload is about: `room`, or `target` when `room` is empty ("" when both are). */
export function roomOf (payload: ChatPayload): string {
  return payload.room !== '' ? payload.room : payload.target
}

/** The command a system event is counted under: an empty command is reported as PRIVMSG. */
export function systemCommand (payload: ChatPayload): string {
  return payload.command === '' ? 'PRIVMSG' : payload.command
}

export type Classified =
  | { kind: 'chat', nick: string, room: string, body: string, tags: string }
  | { kind: 'system', command: string, room: string }

/** What a payload counts as, by isChatMessage; the allocation-free hot path uses the same three rules. */
export function classifyPayload (payload: ChatPayload): Classified {
  const room = roomOf(payload)
  if (isChatMessage(payload)) return { kind: 'chat', nick: payload.nick, room, body: payload.body, tags: payload.tags }
  return { kind: 'system', command: systemCommand(payload), room }
}

/** Cuts raw text for the failed-message log at 2 KiB of UTF-8 without splitting a character. */
export const MAX_FAILED_RAW_BYTES = 2048
export function cutRaw (raw: string): string {
  if (raw.length * 3 <= MAX_FAILED_RAW_BYTES) return raw
  const bytes = Buffer.from(raw.slice(0, MAX_FAILED_RAW_BYTES), 'utf8')
  if (bytes.length <= MAX_FAILED_RAW_BYTES) return bytes.toString('utf8')
  let end = MAX_FAILED_RAW_BYTES
  // Back up to the start of a UTF-8 sequence.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString('utf8')
}
