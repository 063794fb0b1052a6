// The live dashboard: one EventSource on /stats/stream, re-opened whenever the
// selection (window, filters, room) changes, and a render of each snapshot.
// Plain ES module, no build step; uPlot is served by the API from node_modules.
/* global location, history, matchMedia, getComputedStyle, ResizeObserver, MessageEvent, URLSearchParams, devicePixelRatio */
import uPlot from './vendor/uplot/uPlot.esm.js'

const LIMIT = 10
const MAX_ROOM_LENGTH = 100
const WINDOWS = ['all', '1m', '5m', '15m', '1h', '24h']
const WINDOW_LABELS = { all: 'all time', '1m': 'last minute', '5m': 'last 5 minutes', '15m': 'last 15 minutes', '1h': 'last hour', '24h': 'last 24 hours' }
/** Seconds a room's rate averages over once the room is older than that (window `all`: the last minute). */
const RATE_SECONDS = { all: 60, '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '24h': 86400 }
/** The dashboard's defaults; only values that differ go into the URL. */
const DEFAULTS = { window: 'all', stopwords: 'exclude', bots: 'exclude', room: null }
/** The stream sends a snapshot every second: this long without one means it is stuck. */
const STALL_MS = 6000
const RETRY_FIRST_MS = 500
const RETRY_MAX_MS = 8000
const CHART_MIN_HEIGHT = 150
const AXIS_FONT = '12px system-ui, sans-serif'
/** Trending is polled (it is not in the live stream): this often, and at once when the view changes. */
const TRENDING_POLL_MS = 5000
/** What the trending panel compares: the last 5 minutes against the last hour (the API's defaults). */
const TRENDING_WINDOW = '5m'
const TRENDING_BASELINE = '1h'

const $ = (id) => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`dashboard: #${id} is missing`)
  return element
}

const main = $('main')
const ui = {
  connection: $('connection'),
  connectionText: $('connection-text'),
  rate: $('stat-rate'),
  rateHint: $('stat-rate-hint'),
  total: $('stat-total'),
  failed: $('stat-failed'),
  uptime: $('stat-uptime'),
  started: $('stat-started'),
  worker: $('stat-worker'),
  chart: $('chart'),
  chartSummary: $('chart-summary'),
  filters: $('filters'),
  window: $('window'),
  stopwords: $('stopwords'),
  bots: $('bots'),
  topLists: $('top-lists'),
  topHeading: $('top-heading'),
  lists: { words: $('list-words'), nicks: $('list-nicks'), rooms: $('list-rooms'), emotes: $('list-emotes') },
  approx: { words: $('approx-words'), nicks: $('approx-nicks'), rooms: $('approx-rooms'), emotes: $('approx-emotes') },
  roomDetail: $('room-detail'),
  roomBack: $('room-back'),
  roomHeading: $('room-heading'),
  roomName: $('room-name'),
  roomMissing: $('room-missing'),
  roomMessages: $('room-messages'),
  roomWindow: $('room-window'),
  roomRate: $('room-rate'),
  roomRateHint: $('room-rate-hint'),
  roomModeration: $('room-moderation'),
  roomLists: { words: $('room-list-words'), nicks: $('room-list-nicks'), emotes: $('room-list-emotes') },
  roomApprox: { words: $('room-approx-words'), nicks: $('room-approx-nicks'), emotes: $('room-approx-emotes') },
  updatedAt: $('updated-at'),
  trending: $('trending'),
  trendingScope: $('trending-scope'),
  trendingLists: { words: $('trending-words'), emotes: $('trending-emotes') },
  trendingApprox: { words: $('trending-approx-words'), emotes: $('trending-approx-emotes') },
  roomCards: $('room-cards')
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
const clockSeconds = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
const clockMinutes = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const decimalFormats = [0, 1, 2].map((digits) => new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits }))

/** Rates read best with fewer decimals as they grow: 0.42, 7.35, 41.2, 412. */
function formatRate (value) {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
  return decimalFormats[digits].format(value)
}

function formatDuration (ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  const d = Math.floor(seconds / 86400)
  const h = Math.floor((seconds % 86400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  if (d > 0) return `${d} d ${h} h`
  if (h > 0) return `${h} h ${m} min`
  if (m > 0) return `${m} min ${s} s`
  return `${s} s`
}

// ---------------------------------------------------------------- state & URL

/** The selection as kept in the URL fragment: `#window=5m&room=%23forsen`. */
function readState () {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''))
  const window = params.get('window')
  const stopwords = params.get('stopwords')
  const bots = params.get('bots')
  const room = params.get('room')
  return {
    window: WINDOWS.includes(window) ? window : DEFAULTS.window,
    stopwords: stopwords === 'include' || stopwords === 'exclude' ? stopwords : DEFAULTS.stopwords,
    bots: bots === 'include' || bots === 'exclude' ? bots : DEFAULTS.bots,
    // The API takes room names up to 100 characters; a longer one in a hand-edited URL would only fail the stream.
    room: room !== null && room !== '' && room.length <= MAX_ROOM_LENGTH ? room : null
  }
}

function fragmentFor (state) {
  const params = new URLSearchParams()
  for (const key of ['window', 'stopwords', 'bots', 'room']) {
    if (state[key] !== null && state[key] !== DEFAULTS[key]) params.set(key, state[key])
  }
  const text = params.toString()
  return text === '' ? '#' : `#${text}`
}

function streamQuery (state) {
  const params = new URLSearchParams({ window: state.window, limit: String(LIMIT), stopwords: state.stopwords, bots: state.bots })
  if (state.room !== null) params.set('room', state.room)
  return params.toString()
}

let state = readState()

// ---------------------------------------------------------------- connection

let source = null
let sourceQuery = ''
let retryTimer = null
let stallTimer = null
let retryDelay = RETRY_FIRST_MS
let connectionState = ''

/** Changes the status line only when the state changes, so screen readers hear each change once. */
function setConnection (next, text) {
  if (next === connectionState && ui.connectionText.textContent === text) return
  connectionState = next
  ui.connection.dataset.state = next
  ui.connectionText.textContent = text
}

function closeStream () {
  if (source !== null) source.close()
  source = null
  clearTimeout(retryTimer)
  clearTimeout(stallTimer)
  retryTimer = null
}

function armStallTimer () {
  clearTimeout(stallTimer)
  stallTimer = setTimeout(() => { dropped('no data for a while') }, STALL_MS)
}

/** The stream broke (server gone, refused, stalled): close it and retry with back-off. */
function dropped (why) {
  closeStream()
  const delay = Math.round(retryDelay * (0.8 + Math.random() * 0.4))
  retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS)
  // One steady text while retrying, so a screen reader announces the outage once, not every attempt.
  setConnection('disconnected', 'Disconnected — reconnecting…')
  ui.connection.title = `${why}; next attempt in ${Math.ceil(delay / 1000)} s`
  retryTimer = setTimeout(() => { openStream() }, delay)
}

/** `resuming`: the server ended a live stream on purpose; the status stays Live while the next one opens. */
function openStream (resuming = false) {
  closeStream()
  const query = streamQuery(state)
  const stream = new EventSource(`/stats/stream?${query}`)
  source = stream
  sourceQuery = query
  if (!resuming && connectionState !== 'disconnected') setConnection('connecting', 'Connecting…')
  armStallTimer()

  stream.addEventListener('stats', (event) => {
    if (stream !== source) return
    let snapshot
    try {
      snapshot = JSON.parse(event.data)
    } catch {
      return
    }
    retryDelay = RETRY_FIRST_MS
    armStallTimer()
    setConnection('live', 'Live')
    ui.connection.title = ''
    render(snapshot, query)
  })

  // The server ends every stream after its lifetime (STREAM_LIFETIME_MS) and says so first: come back at once, still live.
  stream.addEventListener('reconnect', () => {
    if (stream !== source) return
    openStream(true)
  })

  stream.addEventListener('error', (event) => {
    if (stream !== source) return
    // The API's own `event: error` (the store is unreachable) arrives here too, with data; the stream goes on.
    if (event instanceof MessageEvent && typeof event.data === 'string' && event.data !== '') {
      armStallTimer()
      let message = 'the store is not answering'
      try { message = JSON.parse(event.data).message ?? message } catch { /* keep the default */ }
      setConnection('degraded', `Connected, but the statistics are unavailable: ${message}`)
      return
    }
    // EventSource would retry on its own at a fixed pace but gives up on an HTTP error (429, 503): retry ourselves, always.
    dropped('the stream closed')
  })
}

// ---------------------------------------------------------------- chart

let chart = null
let chartData = [[], []]

function cssVar (name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim()
}

/** Width in CSS px of `text` drawn in the axis font. */
function textWidth (text) {
  const context = document.createElement('canvas').getContext('2d')
  context.font = AXIS_FONT
  return context.measureText(text).width
}

/**
 * The least room between two time ticks: the widest label this locale's
 * clock can print ("10:58:58 PM", "23:59:59") and a gap, so labels centred
 * on their ticks never touch, whatever the width or the span of the data.
 */
function timeLabelSpace () {
  const samples = [new Date(2000, 0, 1, 23, 58, 58), new Date(2000, 0, 1, 10, 58, 58), new Date(2000, 0, 1, 0, 0, 0)]
  return Math.ceil(Math.max(...samples.map((date) => textWidth(clockSeconds.format(date))))) + 16
}

/**
 * The boxes of the time labels as drawn (uPlot's ticks and texts for the x
 * axis), in CSS px: for anyone (a test) checking that none overlap.
 */
function recordTimeLabels (u) {
  const axis = u.axes[0]
  const splits = axis._splits ?? []
  const values = axis._values ?? []
  const boxes = []
  splits.forEach((split, i) => {
    const text = values[i]
    if (text === null || text === undefined || text === '') return
    const centre = u.valToPos(split, 'x')
    const width = textWidth(String(text))
    boxes.push({ text: String(text), left: u.bbox.left / devicePixelRatio + centre - width / 2, right: u.bbox.left / devicePixelRatio + centre + width / 2 })
  })
  ui.chart.dataset.timeLabels = JSON.stringify(boxes)
  ui.chart.dataset.width = String(u.width)
}

function createChart () {
  if (chart !== null) chart.destroy()
  const text = cssVar('--muted')
  const grid = cssVar('--grid')
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: AXIS_FONT }
  const timeAxis = {
    ...axis,
    space: timeLabelSpace(),
    incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300],
    values: (_u, splits, _axis, _space, increment) => splits.map((seconds) => (increment >= 60 ? clockMinutes : clockSeconds).format(seconds * 1000))
  }
  chart = new uPlot({
    ...chartSize(),
    legend: { show: false },
    // Room on the right for the last time label, which is centred on its tick.
    padding: [10, 40, 0, 0],
    cursor: { show: false },
    scales: {
      x: { time: true },
      y: { range: (_u, _min, max) => [0, max > 0 ? Math.ceil(max * 1.1) : 1] }
    },
    series: [
      {},
      { label: 'messages per second', stroke: cssVar('--accent'), fill: cssVar('--accent-fill'), width: 2, points: { show: false } }
    ],
    axes: [timeAxis, { ...axis, size: 56 }],
    hooks: { draw: [recordTimeLabels] }
  }, chartData, ui.chart)
}

function renderChart (series, startedAt) {
  // The last point is the second being filled: leave it out, or the line always dips at the end.
  // Seconds before the first message ever counted are not "zero messages": a new store charts from its start.
  const firstSecond = startedAt === null ? Infinity : Math.floor(Date.parse(startedAt) / 1000) * 1000
  const complete = series.slice(0, -1).filter((point) => point.t >= firstSecond)
  chartData = [complete.map((point) => point.t / 1000), complete.map((point) => point.messages)]
  if (chart === null) createChart()
  else chart.setData(chartData)
  const last = complete.at(-1)
  ui.chart.dataset.points = String(complete.length)
  ui.chart.dataset.lastT = last === undefined ? '' : String(last.t)
  ui.chart.dataset.lastValue = last === undefined ? '' : String(last.messages)
  if (last === undefined) {
    ui.chartSummary.textContent = 'No data yet.'
    return
  }
  let peak = 0
  let sum = 0
  for (const point of complete) {
    peak = Math.max(peak, point.messages)
    sum += point.messages
  }
  ui.chartSummary.textContent = `Last second: ${integer.format(last.messages)}/s · peak ${integer.format(peak)}/s · mean ${formatRate(sum / complete.length)}/s over ${complete.length >= 90 ? `${Math.round(complete.length / 60)} min` : `${complete.length} s`}`
}

function chartSize () {
  return { width: Math.max(200, ui.chart.clientWidth), height: Math.max(CHART_MIN_HEIGHT, ui.chart.clientHeight) }
}

new ResizeObserver(() => { if (chart !== null) chart.setSize(chartSize()) }).observe(ui.chart)
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { if (chart !== null) createChart() })

// ---------------------------------------------------------------- top lists

/**
 * Renders a ranked bar list in place: rows are kept by value and moved only
 * when the order changes, and a focused row keeps its focus, so keyboard
 * users are not thrown out of the list every second.
 */
function renderBars (list, items, key, linkFor) {
  const focused = list.contains(document.activeElement) ? document.activeElement : null
  const existing = new Map()
  for (const row of list.querySelectorAll('li[data-value]')) existing.set(row.dataset.value, row)
  list.querySelector('li.empty')?.remove()

  const max = items.reduce((m, item) => Math.max(m, item.count), 0)
  let previous = null
  items.forEach((item, index) => {
    const value = item[key]
    let row = existing.get(value)
    if (row === undefined) row = createBarRow(value, linkFor)
    existing.delete(value)
    row.dataset.count = String(item.count)
    row.querySelector('.rank').textContent = String(index + 1)
    row.querySelector('.count').textContent = integer.format(item.count)
    row.querySelector('.fill').style.width = `${max > 0 ? (item.count / max) * 100 : 0}%`
    if (linkFor !== undefined) row.querySelector('a').href = linkFor(value)
    const expectedNext = previous === null ? list.firstElementChild : previous.nextElementSibling
    if (expectedNext !== row) list.insertBefore(row, expectedNext)
    previous = row
  })
  for (const row of existing.values()) row.remove()

  if (items.length === 0) {
    const empty = document.createElement('li')
    empty.className = 'empty'
    empty.textContent = state.window === 'all' ? 'Nothing counted yet.' : `Nothing in the ${WINDOW_LABELS[state.window]}.`
    list.append(empty)
  }
  if (focused !== null && focused !== document.activeElement && list.contains(focused)) focused.focus({ preventScroll: true })
}

function createBarRow (value, linkFor) {
  const row = document.createElement('li')
  row.dataset.value = value
  const rank = document.createElement('span')
  rank.className = 'rank'
  rank.setAttribute('aria-hidden', 'true')
  const label = document.createElement(linkFor === undefined ? 'span' : 'a')
  label.className = 'label'
  label.textContent = value
  label.title = value
  const count = document.createElement('span')
  count.className = 'count'
  const bar = document.createElement('span')
  bar.className = 'bar'
  bar.setAttribute('aria-hidden', 'true')
  const fill = document.createElement('span')
  fill.className = 'fill'
  bar.append(fill)
  row.append(bar, rank, label, count)
  return row
}

const roomLink = (room) => fragmentFor({ ...state, room })

/**
 * Marks a list as approximate, "≈ ±N" by its title, when the API says its
 * counts may be up to N below the true ones (X-Stats-Max-Error: window
 * buckets that kept only their top entries); hidden while the list is exact.
 */
function renderApproximation (marker, maxError) {
  const bound = Number.isFinite(maxError) && maxError > 0 ? maxError : 0
  marker.hidden = bound === 0
  marker.dataset.maxError = String(bound)
  marker.textContent = bound === 0 ? '' : `≈ ±${integer.format(bound)}`
  marker.title = bound === 0 ? '' : `Approximate: each count may be up to ${integer.format(bound)} below the true count`
}

// ---------------------------------------------------------------- snapshot

function renderStats (stats, at) {
  ui.rate.dataset.value = String(stats.messagesPerSecond)
  ui.rate.textContent = formatRate(stats.messagesPerSecond)
  ui.rateHint.textContent = `mean over the last ${stats.windowSeconds} s`
  ui.total.dataset.value = String(stats.totalMessages)
  ui.total.textContent = integer.format(stats.totalMessages)
  ui.failed.dataset.value = String(stats.failedMessages)
  ui.failed.textContent = integer.format(stats.failedMessages)
  if (stats.startedAt === null) {
    ui.uptime.textContent = '–'
    ui.started.textContent = 'nothing counted yet'
  } else {
    const started = Date.parse(stats.startedAt)
    ui.uptime.textContent = formatDuration(at - started)
    ui.started.textContent = `since ${new Date(started).toLocaleString()}`
  }
}

function renderWorker (worker) {
  if (worker === null || worker === undefined) {
    ui.worker.dataset.state = 'separate'
    ui.worker.textContent = 'separate process'
  } else if (!worker.connected) {
    ui.worker.dataset.state = 'disconnected'
    ui.worker.textContent = worker.role === 'standby' ? 'standby (another worker is active)' : 'not connected to the chat'
  } else {
    ui.worker.dataset.state = 'connected'
    ui.worker.textContent = `connected (${worker.role})`
  }
}

/** What a room's rate is the mean over: the window, or the time since the room was first seen when that is shorter (docs/API.md#message-rates). */
function roomRateHint (room, at) {
  const firstSeen = room.firstSeenAt === null || room.firstSeenAt === undefined ? NaN : Date.parse(room.firstSeenAt)
  if (Number.isFinite(firstSeen) && at - firstSeen < (RATE_SECONDS[room.window] ?? Infinity) * 1000) {
    return `mean since ${new Date(firstSeen).toLocaleTimeString()}, when the room was first seen`
  }
  return room.window === 'all' ? 'over the last minute' : `mean over the ${WINDOW_LABELS[room.window] ?? room.window}`
}

function renderRoom (room, maxError, at) {
  const wanted = state.room
  if (room === undefined || room === null) {
    for (const marker of Object.values(ui.roomApprox)) renderApproximation(marker, 0)
    ui.roomMissing.hidden = room !== null
    for (const element of [ui.roomMessages, ui.roomRate]) {
      element.textContent = room === null ? '0' : '–'
      element.dataset.value = room === null ? '0' : ''
    }
    ui.roomModeration.textContent = '–'
    for (const list of Object.values(ui.roomLists)) renderBars(list, [], 'value')
    return
  }
  if (room.room !== wanted) return
  ui.roomMissing.hidden = true
  ui.roomMessages.dataset.value = String(room.messages)
  ui.roomMessages.textContent = integer.format(room.messages)
  ui.roomWindow.textContent = WINDOW_LABELS[room.window] ?? room.window
  ui.roomRate.dataset.value = String(room.messagesPerSecond)
  ui.roomRate.textContent = formatRate(room.messagesPerSecond)
  ui.roomRateHint.textContent = roomRateHint(room, at)
  const moderation = Object.entries(room.moderation).map(([command, count]) => `${command} ${integer.format(count)}`)
  ui.roomModeration.textContent = moderation.length === 0 ? 'none' : moderation.join(' · ')
  renderBars(ui.roomLists.words, room.words, 'word')
  renderBars(ui.roomLists.nicks, room.nicks, 'nick')
  renderBars(ui.roomLists.emotes, room.emotes, 'emote')
  for (const [key, marker] of Object.entries(ui.roomApprox)) renderApproximation(marker, maxError?.[key])
}

function render (snapshot, query) {
  renderStats(snapshot.stats, snapshot.at)
  renderWorker(snapshot.worker)
  renderChart(snapshot.series, snapshot.stats.startedAt)
  renderBars(ui.lists.words, snapshot.top.words, 'word')
  renderBars(ui.lists.nicks, snapshot.top.nicks, 'nick')
  renderBars(ui.lists.rooms, snapshot.top.rooms, 'room', roomLink)
  renderBars(ui.lists.emotes, snapshot.top.emotes, 'emote')
  for (const [key, marker] of Object.entries(ui.approx)) renderApproximation(marker, snapshot.maxError?.[key])
  if (state.room !== null) renderRoom(snapshot.room, snapshot.maxError?.room, snapshot.at)
  const at = new Date(snapshot.at)
  ui.updatedAt.dateTime = at.toISOString()
  ui.updatedAt.textContent = at.toLocaleTimeString()
  // What the page shows, for anyone (a test, a curious user) comparing it with the API.
  main.dataset.snapshotAt = String(snapshot.at)
  main.dataset.query = query
}

// ---------------------------------------------------------------- trending

let trendingTimer = null
let trendingRound = 0

function trendingQuery (kind, room) {
  const params = new URLSearchParams({ kind, window: TRENDING_WINDOW, baseline: TRENDING_BASELINE, limit: String(LIMIT) })
  if (room !== null) params.set('room', room)
  return params.toString()
}

async function fetchTrending (kind, room) {
  const query = trendingQuery(kind, room)
  try {
    const response = await fetch(`/stats/trending?${query}`)
    // A room not seen yet has nothing trending.
    if (response.status === 404) return { kind, query, items: [], maxError: 0 }
    if (!response.ok) return { kind, query, items: null, maxError: 0 }
    return { kind, query, items: await response.json(), maxError: Number(response.headers.get('x-stats-max-error')) }
  } catch {
    return { kind, query, items: null, maxError: 0 }
  }
}

/** One row per member: the bar is its score against the first's, the number its score ("×4.2"), the title its counts. */
function renderTrendingList ({ kind, query, items, maxError }) {
  const list = ui.trendingLists[kind]
  const key = kind === 'words' ? 'word' : 'emote'
  list.dataset.query = query
  list.dataset.state = items === null ? 'unavailable' : 'ok'
  renderApproximation(ui.trendingApprox[kind], items === null ? 0 : maxError)
  if (items === null) {
    // Keep what was shown; say it is not fresh.
    list.title = 'Trending is unavailable right now'
    return
  }
  list.title = ''
  const top = items.reduce((m, item) => Math.max(m, item.score), 0)
  const rows = items.map((item, index) => {
    const row = createBarRow(item[key])
    row.dataset.score = String(item.score)
    row.dataset.count = String(item.count)
    row.dataset.baseline = String(item.baseline)
    row.title = `${integer.format(item.count)} in the last 5 minutes, ${integer.format(item.baseline)} in the last hour`
    row.querySelector('.rank').textContent = String(index + 1)
    row.querySelector('.count').textContent = `×${decimalFormats[1].format(item.score)}`
    row.querySelector('.fill').style.width = `${top > 0 ? (item.score / top) * 100 : 0}%`
    return row
  })
  if (rows.length === 0) {
    const empty = document.createElement('li')
    empty.className = 'empty'
    empty.textContent = kind === 'words' ? 'No word is rising right now.' : 'No emote is rising right now.'
    rows.push(empty)
  }
  list.replaceChildren(...rows)
}

/** Reads both trending lists for the current view, renders them, and comes back in TRENDING_POLL_MS. */
async function refreshTrending () {
  clearTimeout(trendingTimer)
  const round = ++trendingRound
  const room = state.room
  const results = await Promise.all([fetchTrending('words', room), fetchTrending('emotes', room)])
  // The view changed meanwhile: a newer round renders.
  if (round !== trendingRound) return
  for (const result of results) renderTrendingList(result)
  ui.trending.dataset.room = room ?? ''
  ui.trending.dataset.rounds = String(Number(ui.trending.dataset.rounds ?? '0') + 1)
  trendingTimer = setTimeout(() => { refreshTrending() }, TRENDING_POLL_MS)
}

/** The panel sits above the top lists, or in a room under its cards, and says whose trends it shows. */
function placeTrending () {
  const inRoom = state.room !== null
  ui.trendingScope.textContent = inRoom ? `in ${state.room}` : 'across all rooms'
  if (inRoom) ui.roomCards.after(ui.trending)
  else ui.topLists.before(ui.trending)
}

// ---------------------------------------------------------------- views

function clearRoomView () {
  ui.roomMessages.textContent = '–'
  ui.roomMessages.dataset.value = ''
  ui.roomRate.textContent = '–'
  ui.roomRate.dataset.value = ''
  ui.roomModeration.textContent = '–'
  ui.roomMissing.hidden = true
  for (const list of Object.values(ui.roomLists)) list.replaceChildren()
  for (const marker of Object.values(ui.roomApprox)) renderApproximation(marker, 0)
}

/** Shows the overview or a room's drill-down for the current state. */
function applyView (previousRoom, moveFocus) {
  ui.window.value = state.window
  ui.stopwords.checked = state.stopwords === 'exclude'
  ui.bots.checked = state.bots === 'exclude'
  const inRoom = state.room !== null
  ui.topLists.hidden = inRoom
  ui.roomDetail.hidden = !inRoom
  ui.roomBack.href = fragmentFor({ ...state, room: null })
  document.title = inRoom ? `${state.room} · chat-stats` : 'chat-stats: live dashboard'
  for (const link of ui.lists.rooms.querySelectorAll('a')) link.href = roomLink(link.closest('li').dataset.value)
  if (inRoom && state.room !== previousRoom) {
    ui.roomName.textContent = state.room
    clearRoomView()
  }
  placeTrending()
  if (state.room !== previousRoom) {
    for (const list of Object.values(ui.trendingLists)) list.replaceChildren()
    refreshTrending()
  }
  if (!moveFocus) return
  if (inRoom) {
    ui.roomHeading.focus()
  } else if (previousRoom !== null) {
    // Back to the list: land on the room just left, when it is still listed.
    const row = [...ui.lists.rooms.querySelectorAll('li[data-value]')].find((li) => li.dataset.value === previousRoom)
    const link = row?.querySelector('a')
    if (link !== undefined && link !== null) link.focus()
    else ui.topHeading.focus()
  }
}

window.addEventListener('hashchange', () => {
  const previous = state
  state = readState()
  applyView(previous.room, true)
  if (streamQuery(state) !== sourceQuery) openStream()
})

ui.filters.addEventListener('change', () => {
  state = {
    ...state,
    window: WINDOWS.includes(ui.window.value) ? ui.window.value : DEFAULTS.window,
    stopwords: ui.stopwords.checked ? 'exclude' : 'include',
    bots: ui.bots.checked ? 'exclude' : 'include'
  }
  // Filters replace the history entry; only room changes add one, so Back leaves a room.
  history.replaceState(null, '', fragmentFor(state))
  applyView(state.room, false)
  openStream()
})
ui.filters.addEventListener('submit', (event) => { event.preventDefault() })

applyView(null, false)
openStream()
// The first view has no previous room to differ from when it is the overview.
if (state.room === null) refreshTrending()
