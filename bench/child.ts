import { type ChildProcess, fork } from 'node:child_process'
import type { FromParent, ToParent } from './children/ipc.js'

/** A bench child process (bench/children/*.ts, run through tsx) and its messages. */
export class Child {
  private readonly received: ToParent[] = []
  private readonly listeners = new Map<string, (message: ToParent) => void>()
  private readonly waiters = new Set<() => void>()
  private failure: Error | null = null

  private constructor (readonly name: string, private readonly process: ChildProcess) {
    process.on('message', (message: ToParent) => {
      const listener = this.listeners.get(message.type)
      if (message.type === 'error') this.failure = new Error(`${name}: ${String(message.message)}`)
      else if (listener !== undefined) listener(message)
      else this.received.push(message)
      this.wake()
    })
    process.on('exit', (code, signal) => {
      this.failure ??= new Error(`${name} exited (code ${String(code)}, signal ${String(signal)})`)
      this.wake()
    })
  }

  /** Forks `bench/children/<name>.ts`; `nodeOptions` go before the script (e.g. --cpu-prof). */
  static start (name: string, nodeOptions: string[] = []): Child {
    const path = new URL(`./children/${name}.ts`, import.meta.url)
    return new Child(name, fork(path, [], { execArgv: ['--import', 'tsx', ...nodeOptions], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  }

  /** The child's process id (for its CPU time in /proc). */
  get pid (): number | undefined { return this.process.pid }

  send (message: FromParent): void {
    this.process.send(message)
  }

  /** Hands every message of `type` to `listener` as it arrives, instead of queueing it for next(). */
  on (type: string, listener: (message: ToParent) => void): void {
    this.listeners.set(type, listener)
  }

  /** The next message of `type` (in order of arrival); rejects when the child fails or `timeoutMs` passes. */
  async next (type: string, timeoutMs: number): Promise<ToParent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const at = this.received.findIndex((m) => m.type === type)
      if (at !== -1) return this.received.splice(at, 1)[0]!
      if (this.failure !== null) throw this.failure
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.name}: no '${type}' within ${Math.round(timeoutMs / 1000)} s`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.add(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Ends the child (disconnecting makes it exit; a stuck one is killed). */
  async stop (): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()))
    this.failure ??= new Error(`${this.name} was stopped`)
    if (this.process.connected) this.process.disconnect()
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  private wake (): void {
    for (const wake of this.waiters) wake()
    this.waiters.clear()
  }
}
