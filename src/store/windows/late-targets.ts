import { CATEGORIES, type Category, type Counts } from '../types.js'
import type { LateDelta } from './bucket-life.js'
import { addCounts } from './counts.js'
import { addRoomSlice, emptyRoomCounts, type RoomCounts } from './room-value.js'

/** One flush's late counts for one target bucket: the sum over the late seconds that reach it. */
export interface LateTarget {
  level: number
  bucket: number
  lists: Readonly<Record<Category, ReadonlyMap<string, number>>>
  rooms: ReadonlyMap<string, RoomCounts>
}

/**
 * The flush's late deltas (WindowWritePlan.late) summed per target bucket.
 * Late seconds share their ancestors (every second of a replayed hour
 * reaches the same 24-minute bucket), and a store merges a delta into a
 * stored value by read, add and trim (addToTrimmed): done per second, a
 * flush of a replay trimmed the same WINDOW_TOP-long list once for each of
 * its seconds, and a sharded store did so in each of its shards (the
 * worker's CPU on the day into the cluster: 60 % in those trims). Summed
 * first, each target is trimmed once per flush. That drops no more than
 * trimming per second: the err a trim adds is one trim's largest drop,
 * not a sum of several. A target only one second reaches keeps that
 * second's maps (read only).
 */
export function lateByTarget (late: readonly LateDelta[]): LateTarget[] {
  const reaching = new Map<string, { level: number, bucket: number, deltas: LateDelta[] }>()
  for (const delta of late) {
    for (const { level, bucket } of delta.targets) {
      const id = `${level}:${bucket}`
      const target = reaching.get(id)
      if (target === undefined) reaching.set(id, { level, bucket, deltas: [delta] })
      else target.deltas.push(delta)
    }
  }
  const targets: LateTarget[] = []
  for (const { level, bucket, deltas } of reaching.values()) {
    if (deltas.length === 1) {
      targets.push({ level, bucket, lists: deltas[0]!.lists, rooms: deltas[0]!.rooms })
      continue
    }
    const lists = { words: new Map(), nicks: new Map(), rooms: new Map(), emotes: new Map() } satisfies Record<Category, Counts>
    const rooms = new Map<string, RoomCounts>()
    for (const delta of deltas) {
      for (const category of CATEGORIES) addCounts(lists[category], delta.lists[category])
      for (const [room, counts] of delta.rooms) {
        let sum = rooms.get(room)
        if (sum === undefined) rooms.set(room, sum = emptyRoomCounts())
        addRoomSlice(sum, counts)
      }
    }
    targets.push({ level, bucket, lists, rooms })
  }
  return targets
}
