import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The live stream's slots: open streams, per client, distinct snapshots. */
    streamSlots: StreamSlots
  }
}

/** Live streams served at once; each costs a timer and (shared) store reads every second. */
export const MAX_STREAMS = 1000
/** Distinct snapshot parameter sets served at once: each is its own set of store reads every second. */
export const MAX_DISTINCT_SNAPSHOTS = 50

/** Why a live stream was refused a slot: all slots taken, the client's share taken, or too many distinct snapshots. */
export type SlotRefusal = 'total' | 'client' | 'snapshots'

export interface StreamSlotLimits {
  /** Streams served at once (MAX_STREAMS). */
  total: number
  /** Streams one client may hold (STREAMS_PER_CLIENT). */
  perClient: number
  /** Distinct snapshot parameter sets served at once: each costs its own store reads every second. */
  distinctSnapshots: number
}

/** An open stream's hold on its slot. */
export interface StreamSlot {
  /** Gives the slot back; idempotent. */
  release: () => void
}

/**
 * The live stream's capacity (README.md#limits-per-client: live streams are capped per
 * client): a slot is taken only when the total, the client's own share and
 * the number of distinct snapshots all allow it, so one client can neither
 * take every slot nor make the server compute a thousand different
 * snapshots a second.
 */
export class StreamSlots {
  private readonly byClient = new Map<string, number>()
  private readonly bySnapshot = new Map<string, number>()
  private count = 0

  constructor (readonly limits: StreamSlotLimits) {}

  /** Open streams. */
  get open (): number { return this.count }

  /** Distinct snapshot parameter sets being served. */
  get distinctSnapshots (): number { return this.bySnapshot.size }

  /** Streams `client` holds. */
  heldBy (client: string): number { return this.byClient.get(client) ?? 0 }

  /** A slot for `client` streaming the snapshot `snapshotKey`, or the limit that refuses it. */
  take (client: string, snapshotKey: string): StreamSlot | SlotRefusal {
    if (this.count >= this.limits.total) return 'total'
    if (this.heldBy(client) >= this.limits.perClient) return 'client'
    const sharers = this.bySnapshot.get(snapshotKey) ?? 0
    // A stream that shares a snapshot already computed costs nothing more: only new parameter sets count.
    if (sharers === 0 && this.bySnapshot.size >= this.limits.distinctSnapshots) return 'snapshots'
    this.count++
    this.byClient.set(client, this.heldBy(client) + 1)
    this.bySnapshot.set(snapshotKey, sharers + 1)
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        this.count--
        decrement(this.byClient, client)
        decrement(this.bySnapshot, snapshotKey)
      }
    }
  }
}

function decrement (counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1
  if (left <= 0) counts.delete(key)
  else counts.set(key, left)
}

/** Decorates the instance with `streamSlots`: MAX_STREAMS in all, STREAMS_PER_CLIENT each, MAX_DISTINCT_SNAPSHOTS parameter sets. */
export default fp(async (app) => {
  app.decorate('streamSlots', new StreamSlots({ total: MAX_STREAMS, perClient: app.config.STREAMS_PER_CLIENT, distinctSnapshots: MAX_DISTINCT_SNAPSHOTS }))
}, { name: 'stream-slots', dependencies: ['config'] })
