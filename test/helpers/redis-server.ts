import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A redis-server owned by one test, on a free loopback port, without
 * persistence of its own, so a test can stop it and start it again on the
 * SAME port (an outage the worker must ride out). stop() saves the data
 * first (SHUTDOWN SAVE), as a Redis restart with RDB would keep it;
 * pause() makes it hang instead (SIGSTOP).
 */
export interface TestRedisServer {
  readonly port: number
  /** redis://127.0.0.1:port */
  readonly url: string
  readonly running: boolean
  /** The server's data directory (dump.rdb, appendonlydir). */
  readonly dir: string
  /** Starts the server again on the same port and data directory; resolves when it answers PING. `args` replace the extra arguments given at first start. */
  start: (args?: string[]) => Promise<void>
  /** SIGKILL, as a crash: nothing is saved; resolves when the process is gone. */
  kill: () => Promise<void>
  /** SHUTDOWN SAVE and wait for the process to exit: clients get connection refused until start(). */
  stop: () => Promise<void>
  /** SIGSTOP: the server hangs (connections stay open, nothing is answered) until resume(). */
  pause: () => void
  /** SIGCONT after pause(). */
  resume: () => void
  /** The server's last output (warnings, a crash report), for assertion messages. */
  output: () => string
  /** Stops the server (if running) and removes its data directory. */
  close: () => Promise<void>
}

/** A TCP port nothing listens on right now. */
export async function freePort (): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Sends one command in RESP and resolves with the first reply line, or rejects when the connection fails. */
async function command (port: number, args: string[], timeoutMs = 1000): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const socket = new Socket()
    let reply = ''
    let settled = false
    const done = (err: Error | null, line?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err !== null) reject(err)
      else resolve(line ?? '')
    }
    const timer = setTimeout(() => done(new Error(`redis on port ${port} did not answer within ${timeoutMs} ms`)), timeoutMs)
    socket.once('error', (err) => done(err))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8')
      const end = reply.indexOf('\r\n')
      if (end !== -1) done(null, reply.slice(0, end))
    })
    // SHUTDOWN answers nothing: the connection just closes.
    socket.once('close', () => done(null, reply))
    socket.connect(port, '127.0.0.1', () => {
      socket.write(`*${args.length}\r\n` + args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join(''))
    })
  })
}

/**
 * Starts a test-owned redis-server on a free port. `args` are added to the
 * defaults (no RDB saves, no AOF) and win over them: `['--appendonly', 'yes']`,
 * `['--replicaof', '127.0.0.1', '6390']`, `['--requirepass', 'pw']`.
 */
export async function startRedisServer (args: string[] = []): Promise<TestRedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-stats-redis-'))
  const port = await freePort()
  let extraArgs = args
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()
  let output = ''

  const start = async (args?: string[]): Promise<void> => {
    if (child !== null) throw new Error(`redis-server on port ${port} is already running`)
    if (args !== undefined) extraArgs = args
    const started = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--dbfilename', 'dump.rdb', '--loglevel', 'warning', ...extraArgs
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    exited = new Promise<void>((resolve) => {
      started.on('exit', () => {
        if (child === started) child = null
        resolve()
      })
    })
    for (const stream of [started.stdout, started.stderr]) stream?.on('data', (chunk: Buffer) => { output = (output + chunk.toString('utf8')).slice(-5000) })
    const deadline = Date.now() + 15_000
    for (;;) {
      if (child !== started) throw new Error(`redis-server exited at start on port ${port}:\n${output}`)
      try {
        // LOADING is answered while the RDB is read: not ready yet.
        // A server with --requirepass answers NOAUTH: up all the same.
        const reply = await command(port, ['PING'], 500)
        if (reply === '+PONG' || reply.startsWith('-NOAUTH')) return
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}:\n${output}`)
      await sleep(25)
    }
  }

  const stop = async (): Promise<void> => {
    const stopped = child
    if (stopped === null) return
    const stopping = exited
    try {
      await command(port, ['SHUTDOWN', 'SAVE'], 10_000)
    } catch {
      // The connection may close before a reply: the exit below is what counts.
    }
    // Only this process, and only if it hangs: a later start() has a child of its own.
    const force = setTimeout(() => stopped.kill('SIGKILL'), 15_000)
    await stopping
    clearTimeout(force)
  }

  const kill = async (): Promise<void> => {
    if (child === null) return
    const stopping = exited
    child.kill('SIGKILL')
    await stopping
  }

  await start()
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    get running () { return child !== null },
    start,
    stop,
    kill,
    output: () => output,
    pause: () => { child?.kill('SIGSTOP') },
    resume: () => { child?.kill('SIGCONT') },
    close: async () => {
      if (child !== null) {
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
