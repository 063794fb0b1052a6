import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** The chat message every event of startStreamWithoutIds carries. */
export const MESSAGE_WITHOUT_ID = JSON.stringify({ command: '', room: '#r', nick: 'n', target: '', body: 'hello there', tags: '' })

/** An SSE interface without `id:` lines: `count` chat messages, `perTick` every 20 ms. Nothing can be replayed. */
export async function startStreamWithoutIds (count: number, perTick: number): Promise<{ url: string, sent: () => number, close: () => Promise<void> }> {
  let sent = 0
  const line = `data: ${MESSAGE_WITHOUT_ID}\n\n`
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    const timer = setInterval(() => {
      const n = Math.min(perTick, count - sent)
      if (n > 0) { response.write(line.repeat(n)); sent += n }
    }, 20)
    response.on('close', () => clearInterval(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    sent: () => sent,
    close: async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) }
  }
}
