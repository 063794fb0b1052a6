import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Position, StatsStore } from '../store/types.js'

export interface WorkerLeaseOptions {
  store: StatsStore
  /** LEASE_TTL_MS. */
  ttlMs: number
  logger: Logger
  onStoreError: (err: unknown) => void
  /** Another worker holds the lease: this one stands by. */
  onStandby: () => void
  /** True while this worker ingests (a recovery only matters then). */
  isActive: () => boolean
  /** True when `position` is one this worker committed or may have (its unconfirmed batch). */
  isOwnPosition: (position: Position) => boolean
  /** The lease was taken by another worker: drop what was not committed. */
  onLost: () => void
  /** The last sequence this worker committed: a store position below it means the store lost writes. */
  committedSequence: () => number
  /** The store went back (lost writes) while the lease had lapsed: see Worker.storeWentBack. */
  onStoreBehind: () => Promise<void>
}

/**
 * The worker lease: one active worker per namespace. Waits for it (standby
 * while another worker holds it), keeps it renewed, takes it back when it
 * lapsed with nobody else committing, and says when it is lost.
 */
export class WorkerLease {
  readonly token = randomUUID()
  private readonly options: WorkerLeaseOptions
  /** Set while the worker tries to take back a lease that lapsed under it. */
  private recovery: Promise<void> | null = null

  constructor (options: WorkerLeaseOptions) {
    this.options = options
  }

  /** Waits until the lease is held (true) or `stopping()` (false). */
  async acquire (stopping: () => boolean): Promise<boolean> {
    const { store, ttlMs, logger: log } = this.options
    let announced = false
    while (!stopping()) {
      try {
        if (await store.acquireLease(this.token, ttlMs)) return true
        if (!announced) log.info('another worker holds the lease for this namespace: standing by')
        announced = true
        this.options.onStandby()
      } catch (err) {
        this.options.onStoreError(err)
        log.warn({ err }, 'store unreachable while taking the lease; retrying')
      }
      await sleep(Math.max(100, Math.floor(ttlMs / 4)))
    }
    return false
  }

  /** Renews the lease every third of its TTL until the returned function is called. */
  keep (): () => void {
    const { store, ttlMs, logger: log } = this.options
    const timer = setInterval(() => {
      store.renewLease(this.token, ttlMs).then((held) => {
        if (!held) void this.recover()
      }, (err: unknown) => {
        this.options.onStoreError(err)
        log.warn({ err }, 'lease renewal failed; retrying')
      })
    }, Math.max(50, Math.floor(ttlMs / 3)))
    timer.unref()
    return () => clearInterval(timer)
  }

  /**
   * The lease lapsed under this worker: a renewal or a flush was refused.
   * Usually nobody else wanted it (a flush longer than LEASE_TTL_MS held up
   * the renewals): then take it back and carry on with the counts in memory,
   * provided the store's position shows that nothing else was committed in
   * between. A position below this worker's last commit means the store
   * itself went back (a restart from an older snapshot, which also loses
   * the lease): onStoreBehind. Otherwise another worker has taken over, and
   * onLost is called.
   */
  async recover (): Promise<void> {
    if (!this.options.isActive()) return
    const { store, ttlMs, logger: log } = this.options
    this.recovery ??= (async () => {
      try {
        if (await store.acquireLease(this.token, ttlMs)) {
          const position = await store.position()
          if (!this.options.isActive()) return
          if (this.options.isOwnPosition(position)) {
            log.warn({ sequence: position.sequence, leaseTtlMs: ttlMs }, 'the worker lease had lapsed (store slower than LEASE_TTL_MS?); took it back: nothing else was committed meanwhile')
            return
          }
          if (position.sequence < this.options.committedSequence()) {
            await this.options.onStoreBehind()
            return
          }
          log.warn({ sequence: position.sequence, lastEventId: position.lastEventId }, 'another worker committed while the lease had lapsed')
        }
      } catch (err) {
        // Cannot tell now: keep the counts; the next refused renewal or flush tries again.
        this.options.onStoreError(err)
        log.warn({ err }, 'store unreachable while taking back the lapsed lease; retrying')
        return
      }
      this.options.onLost()
    })().finally(() => { this.recovery = null })
    await this.recovery
  }

  /** Gives the lease up (on stop); a store that does not answer lets it expire instead. */
  async release (): Promise<void> {
    await this.options.store.releaseLease(this.token).catch(() => {})
  }
}
