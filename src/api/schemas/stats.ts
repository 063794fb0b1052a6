import { Type, type Static } from 'typebox'
import { Bots, Limit, Stopwords, TopWindow } from './common.js'

const EXAMPLE_TIME = '2022-01-03T20:22:21.776Z'

export const DEFAULT_RATE_WINDOW_SECONDS = 10
export const MAX_RATE_WINDOW_SECONDS = 3600

export const StatsQuery = Type.Object({
  window: Type.Optional(Type.Integer({
    minimum: 1, maximum: MAX_RATE_WINDOW_SECONDS, default: DEFAULT_RATE_WINDOW_SECONDS,
    description: `Complete seconds messagesPerSecond averages over, 1..${MAX_RATE_WINDOW_SECONDS}`
  }))
})

const EventCounts = Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
  description: 'System events (CLEARCHAT, CLEARMSG, NOTICE, USERNOTICE without a nick, ...) by command; an empty command is reported as PRIVMSG'
})

export const StatsBody = Type.Object({
  messagesPerSecond: Type.Number({ description: 'Mean chat messages per second over the last `windowSeconds` complete seconds, or over the complete seconds since the first message when there are fewer' }),
  lastSecond: Type.Integer({ description: 'Chat messages in the last complete second' }),
  windowSeconds: Type.Integer({ description: 'The averaging window used, in seconds' }),
  totalMessages: Type.Integer({ description: 'Chat messages counted since the store was created' }),
  failedMessages: Type.Integer({ description: 'Lines or events that could not be read' }),
  events: EventCounts,
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'ISO 8601 time of the first write to the store; null while it is empty' }),
  lastMessageAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'ISO 8601 arrival time of the last chat message; null when none yet' }),
  storeRollbacks: Type.Integer({ minimum: 0, description: 'Times the worker found the store behind what it had committed (Redis lost writes). With event ids the stream was replayed and counts stay exact' }),
  messagesLost: Type.Integer({ minimum: 0, description: 'Messages those rollbacks lost for good (a stream without event ids cannot be replayed): totalMessages is short by this many' })
}, {
  description: 'Global counters and the current message rate',
  examples: [{
    messagesPerSecond: 412.3,
    lastSecond: 398,
    windowSeconds: 10,
    totalMessages: 1_284_112,
    failedMessages: 12,
    events: { CLEARCHAT: 311, CLEARMSG: 42, USERNOTICE: 18 },
    startedAt: '2022-01-03T19:00:00.000Z',
    lastMessageAt: EXAMPLE_TIME,
    storeRollbacks: 0,
    messagesLost: 0
  }]
})
export type StatsBody = Static<typeof StatsBody>

/** The JSON key of each category's value in a top-list entry. */
export const TOP_KEYS = { words: 'word', nicks: 'nick', rooms: 'room', emotes: 'emote' } as const
export type TopKey = typeof TOP_KEYS[keyof typeof TOP_KEYS]

const TOP_EXAMPLES: Record<TopKey, string[]> = {
  word: ['lul', 'kekw', 'gg'],
  nick: ['scropion77', 'gustavop0ferraz', 'dashh_u'],
  room: ['#forsen', '#sanmery_', '#yulayabgu'],
  emote: ['LUL', 'Kappa', 'PogChamp']
}

function topListSchema<K extends TopKey> (key: K, what: string) {
  const examples = TOP_EXAMPLES[key]
  return Type.Array(Type.Object({
    [key]: Type.String({ description: `The ${key}` }),
    count: Type.Integer({ minimum: 1, description: what })
  } as { [P in K]: ReturnType<typeof Type.String> } & { count: ReturnType<typeof Type.Integer> }), {
    description: 'Sorted by count descending, ties by value ascending in code-point order',
    examples: [examples.map((value, i) => ({ [key]: value, count: 900 - 300 * i }))]
  })
}

export const WordList = topListSchema('word', 'Occurrences of the word in chat messages')
export const NickList = topListSchema('nick', 'Chat messages sent by the nick')
export const RoomList = topListSchema('room', 'Chat messages in the room')
export const EmoteList = topListSchema('emote', 'Occurrences of the emote in chat messages')
export const TOP_LIST_SCHEMAS = { words: WordList, nicks: NickList, rooms: RoomList, emotes: EmoteList } as const

const TopBase = { limit: Limit, window: TopWindow }
export const WordsQuery = Type.Object({ ...TopBase, stopwords: Stopwords })
export const NicksQuery = Type.Object({ ...TopBase, bots: Bots })
export const PlainTopQuery = Type.Object(TopBase)
export const TOP_QUERY_SCHEMAS = { words: WordsQuery, nicks: NicksQuery, rooms: PlainTopQuery, emotes: PlainTopQuery } as const

export const MAX_ROOM_LENGTH = 100

export const RoomName = Type.String({
  minLength: 1, maxLength: MAX_ROOM_LENGTH,
  description: 'The room as counted, `#` included (URL-encode it: `%23forsen`)',
  examples: ['#forsen']
})

export const RoomParams = Type.Object({ room: RoomName })
export const RoomQuery = Type.Object({ ...TopBase, stopwords: Stopwords, bots: Bots })

const ModerationCounts = Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
  description: 'Moderation and other system events aimed at the room, by command; CLEARCHAT and CLEARMSG always present'
})

export const RoomBody = Type.Object({
  room: Type.String({ description: 'The room' }),
  window: Type.String({ description: 'The window counted' }),
  messages: Type.Integer({ description: 'Chat messages in the room within the window' }),
  messagesPerSecond: Type.Number({ description: 'messages / window seconds, or / the seconds since `firstSeenAt` (at least 1) when that is shorter; for window `all`, the rate over the last minute (or since `firstSeenAt`). When `firstSeenAt` is null: / the seconds since the stream started when that is shorter and the room has no older message' }),
  firstSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'ISO 8601 start of the first event second of the room\'s drill-down detail (since it last entered the tracked rooms: a room that left them and came back counts from its return, as its windows do); null when unknown (a room without detail, or tracked before the store kept this)' }),
  words: WordList,
  nicks: NickList,
  emotes: EmoteList,
  moderation: ModerationCounts
}, {
  description: 'One room\'s drill-down',
  examples: [{
    room: '#forsen',
    window: '5m',
    messages: 5230,
    messagesPerSecond: 17.43,
    firstSeenAt: '2022-01-03T19:00:04.000Z',
    words: [{ word: 'lul', count: 412 }],
    nicks: [{ nick: 'dashh_u', count: 31 }],
    emotes: [{ emote: 'LUL', count: 280 }],
    moderation: { CLEARCHAT: 4, CLEARMSG: 1 }
  }]
})
export type RoomBody = Static<typeof RoomBody>

export const MAX_SECOND_SERIES_WINDOW = 86_400
export const MAX_MINUTE_SERIES_WINDOW = 7 * 86_400
export const DEFAULT_SERIES_WINDOW = 300

export const TimeseriesQuery = Type.Object({
  resolution: Type.Optional(Type.Enum(['1s', '1m'], { default: '1s', description: 'Interval length: 1s or 1m' })),
  window: Type.Optional(Type.Integer({
    minimum: 1, maximum: MAX_MINUTE_SERIES_WINDOW, default: DEFAULT_SERIES_WINDOW,
    description: `Seconds covered, up to now; at most ${MAX_SECOND_SERIES_WINDOW} at 1s and ${MAX_MINUTE_SERIES_WINDOW} (7 days) at 1m`
  }))
})

export const Timeseries = Type.Array(Type.Object({
  t: Type.Integer({ description: 'Start of the interval, epoch milliseconds' }),
  messages: Type.Integer({ minimum: 0, description: 'Chat messages that arrived in the interval' })
}), {
  description: 'One point per interval, oldest first, zero-filled; the last point is the interval being filled',
  examples: [[{ t: 1641241339000, messages: 402 }, { t: 1641241340000, messages: 388 }, { t: 1641241341000, messages: 97 }]]
})

export const DEFAULT_FAILED_LIMIT = 100
export const MAX_FAILED_LIMIT = 1000

export const FailedQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_FAILED_LIMIT, default: DEFAULT_FAILED_LIMIT, description: `How many, newest first, 1..${MAX_FAILED_LIMIT}` }))
})

export const FailedList = Type.Array(Type.Object({
  raw: Type.String({ description: 'The raw text as received, cut at 2 KiB' }),
  reason: Type.String({ description: 'Why it could not be read' }),
  at: Type.String({ format: 'date-time', description: 'ISO 8601 arrival time' })
}), {
  description: 'The most recent failed messages, newest first',
  examples: [[{ raw: '{"command":"","room":"#forsen","nick":', reason: 'invalid JSON', at: EXAMPLE_TIME }]]
})

export const StreamQuery = Type.Object({
  ...TopBase,
  stopwords: Stopwords,
  bots: Bots,
  room: Type.Optional(Type.String({
    minLength: 1, maxLength: MAX_ROOM_LENGTH, description: 'Adds this room\'s drill-down (same window and limit) to every snapshot; `#` URL-encoded as %23'
  })),
  rateWindow: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_RATE_WINDOW_SECONDS, default: DEFAULT_RATE_WINDOW_SECONDS, description: 'The `window` of the embedded GET /stats body' }))
})

const ListMaxError = Type.Integer({ minimum: 0, description: 'The X-Stats-Max-Error of this list: the most by which any of its counts can be below the true count; 0 = exact' })

/** How far from exact each of a room's lists can be. */
export const RoomListErrors = Type.Object({ words: ListMaxError, nicks: ListMaxError, emotes: ListMaxError })
export type RoomListErrors = Static<typeof RoomListErrors>

/** Documents the JSON in each `event: stats` of the stream. */
export const StreamSnapshot = Type.Object({
  stats: StatsBody,
  top: Type.Object({ words: WordList, nicks: NickList, rooms: RoomList, emotes: EmoteList }),
  maxError: Type.Object({
    words: ListMaxError,
    nicks: ListMaxError,
    rooms: ListMaxError,
    emotes: ListMaxError,
    room: Type.Optional(Type.Union([RoomListErrors, Type.Null()], { description: 'The room\'s lists, present when ?room= is given; null while the room is unknown' }))
  }, { description: 'How far from exact each list can be, as X-Stats-Max-Error says for GET /stats/<list> and GET /stats/rooms/:room' }),
  series: Timeseries,
  room: Type.Optional(Type.Union([RoomBody, Type.Null()], { description: 'Present when ?room= is given; null while the room is unknown' })),
  worker: Type.Union([Type.Object({ connected: Type.Boolean(), role: Type.String() }), Type.Null()], { description: 'The in-process worker, or null when the API runs alone' }),
  at: Type.Integer({ description: 'When the snapshot was taken, epoch ms' })
})
export type StreamSnapshot = Static<typeof StreamSnapshot>

