import http from 'node:http'
import { type FromParent, onParentMessage, sendToParent } from './ipc.js'

/**
 * Live-stream clients for the fan-out figure: N SSE connections to the
 * API, each counting the `stats` events it receives. A process of its own,
 * so reading a thousand streams does not run on the API's event loop.
 */

const MARK = 'event: stats\n'

interface Client { events: number, request: http.ClientRequest }
const clients: Client[] = []
let bytes = 0

async function open (url: string, count: number): Promise<{ open: number, statuses: Record<string, number> }> {
  const statuses: Record<string, number> = {}
  // In batches, so the listen backlog never overflows.
  for (let start = 0; start < count; start += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - start) }, async () => await new Promise<void>((resolve) => {
      const request = http.get(url, { agent: false }, (response) => {
        statuses[response.statusCode ?? 0] = (statuses[response.statusCode ?? 0] ?? 0) + 1
        if (response.statusCode !== 200) {
          response.resume()
          resolve()
          return
        }
        const client: Client = { events: 0, request }
        clients.push(client)
        let tail = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          bytes += Buffer.byteLength(chunk)
          // A mark may straddle two chunks: keep the end of the last one.
          const text = tail + chunk
          let at = text.indexOf(MARK)
          while (at !== -1) {
            client.events++
            at = text.indexOf(MARK, at + MARK.length)
          }
          tail = text.slice(-(MARK.length - 1))
        })
        response.on('error', () => {})
        resolve()
      })
      request.on('error', (err) => {
        statuses[err.message] = (statuses[err.message] ?? 0) + 1
        resolve()
      })
    })))
  }
  return { open: clients.length, statuses }
}

onParentMessage(async (message: FromParent) => {
  if (message.type === 'open-streams') {
    const result = await open(message.url, message.clients)
    sendToParent({ type: 'streams-open', ...result })
  } else if (message.type === 'stream-stats') {
    const events = clients.map((c) => c.events)
    sendToParent({ type: 'stream-stats', clients: clients.length, events: events.reduce((a, b) => a + b, 0), minEvents: Math.min(...events), bytes })
    for (const client of clients) client.events = 0
    bytes = 0
  } else if (message.type === 'stop') {
    for (const client of clients) client.request.destroy()
    process.exit(0)
  }
})
