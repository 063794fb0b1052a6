import { createConnection, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy between the worker and the chat interface that injects the
 * faults of docs/RELIABILITY.md#the-interface-drops-or-fails for real: it cuts a live stream in the middle of
 * an event, answers HTTP errors instead of the stream, and stops listening
 * so connections are refused. It records every connection (time, the
 * Last-Event-ID it asked for, what happened to it).
 */

export interface ProxyConnection {
  /** Date.now() at accept. */
  at: number
  /** The Last-Event-ID request header, or null when absent. */
  lastEventId: string | null
  outcome: 'proxied' | 'cut' | 'status'
  /** Upstream bytes forwarded to the client. */
  bytesDown: number
}

export interface CutPlan {
  /** Forward at least this many more upstream bytes of the connection first. */
  afterBytes: number
  /**
   * Then cut inside the next occurrence of this text (e.g. `event: privmsg`)
   * after `offsetInside` of its bytes, so the cut lands in a known place
   * of an event; without it the cut lands exactly after `afterBytes`.
   */
  inside?: string
  offsetInside?: number
}

export interface FaultProxy {
  readonly port: number
  /** http://127.0.0.1:port/ */
  readonly url: string
  readonly connections: ProxyConnection[]
  /** Arms a cut of the live connection (or of the next one to open). */
  cut: (plan: CutPlan) => void
  /** True until an armed cut has happened. */
  readonly cutPending: boolean
  /** The next `times` connections get an HTTP `status` answer instead of the stream. */
  answerStatus: (status: number, times: number) => void
  /** Stops listening: connections are refused (ECONNREFUSED) until accept(). Live connections stay. */
  refuse: () => Promise<void>
  /** Listens again on the same port. */
  accept: () => Promise<void>
  close: () => Promise<void>
}

const HEADER_END = Buffer.from('\r\n\r\n')

function lastEventIdOf (head: string): string | null {
  const match = /^last-event-id:[ \t]*(.*?)[ \t]*$/im.exec(head)
  return match === null ? null : match[1] ?? ''
}

/** Starts a proxy on a free loopback port forwarding to `target`. */
export async function startFaultProxy (target: { host: string, port: number }): Promise<FaultProxy> {
  const connections: ProxyConnection[] = []
  const sockets = new Set<Socket>()
  let cutPlan: CutPlan | null = null
  let status: { code: number, times: number } | null = null
  let server: Server
  let port = 0

  const answer = (client: Socket, record: ProxyConnection, code: number): void => {
    record.outcome = 'status'
    const body = `injected fault: HTTP ${code}\n`
    client.end(`HTTP/1.1 ${code} Injected Fault\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  }

  const onConnection = (client: Socket): void => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    const record: ProxyConnection = { at: Date.now(), lastEventId: null, outcome: 'proxied', bytesDown: 0 }
    connections.push(record)
    let head = Buffer.alloc(0)
    let upstream: Socket | null = null
    /** Bytes forwarded since the current cut plan applies to this connection. */
    let sincePlan = 0
    let plan: CutPlan | null = null

    const finishCut = (bytesToKeep: Buffer): void => {
      if (bytesToKeep.length > 0) client.write(bytesToKeep)
      record.bytesDown += bytesToKeep.length
      record.outcome = 'cut'
      cutPlan = null
      // Both ends go at once, as when a network path dies: no HTTP terminator reaches the client.
      client.destroy()
      upstream?.destroy()
    }

    const startProxying = (): void => {
      const socket = createConnection(target.port, target.host)
      upstream = socket
      sockets.add(socket)
      socket.on('close', () => {
        sockets.delete(socket)
        client.destroy()
      })
      socket.on('error', () => client.destroy())
      client.on('close', () => socket.destroy())
      socket.write(head)
      client.on('data', (chunk: Buffer) => socket.write(chunk))
      socket.on('data', (chunk: Buffer) => {
        if (cutPlan !== null && plan !== cutPlan) {
          plan = cutPlan
          sincePlan = 0
        }
        if (plan !== null && cutPlan === plan) {
          const before = sincePlan
          sincePlan += chunk.length
          if (sincePlan >= plan.afterBytes) {
            const from = Math.max(0, plan.afterBytes - before)
            if (plan.inside === undefined) {
              finishCut(chunk.subarray(0, from))
              return
            }
            const at = chunk.indexOf(plan.inside, from)
            if (at !== -1) {
              finishCut(chunk.subarray(0, at + (plan.offsetInside ?? 1)))
              return
            }
          }
        }
        record.bytesDown += chunk.length
        if (!client.write(chunk)) {
          socket.pause()
          client.once('drain', () => socket.resume())
        }
      })
    }

    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf(HEADER_END)
      if (end === -1) {
        if (head.length > 64 * 1024) client.destroy()
        return
      }
      client.off('data', onHead)
      record.lastEventId = lastEventIdOf(head.subarray(0, end).toString('latin1'))
      if (status !== null && status.times > 0) {
        status.times--
        answer(client, record, status.code)
        return
      }
      startProxying()
    }
    client.on('data', onHead)
  }

  const listen = async (): Promise<void> => {
    server = createServer(onConnection)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        const address = server.address()
        port = typeof address === 'object' && address !== null ? address.port : port
        resolve()
      })
    })
  }
  await listen()
  let listening = true

  return {
    get port () { return port },
    get url () { return `http://127.0.0.1:${port}/` },
    connections,
    get cutPending () { return cutPlan !== null },
    cut: (plan) => { cutPlan = plan },
    answerStatus: (code, times) => { status = { code, times } },
    refuse: async () => {
      if (!listening) return
      listening = false
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        // close() waits for open connections; the listening socket itself is gone at once.
        setImmediate(resolve)
      })
    },
    accept: async () => {
      if (listening) return
      await listen()
      listening = true
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      if (listening) await new Promise<void>((resolve) => server.close(() => resolve()))
      listening = false
    }
  }
}
