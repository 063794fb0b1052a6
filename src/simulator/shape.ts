import type { Random, Zipf } from './prng.js'

/**
 * What a simulator profile chooses: the pools an event draws its room, nick
 * and rare words from, and the clock behind its `tmi-sent-ts`. The event
 * mix, the body grammar and the tags are the same for every profile
 * (generator.ts), so every profile counts by the same rules.
 */
export interface StreamShape {
  /** Room names with their `#`, most popular first. */
  rooms: readonly string[]
  /** The popularity law over `rooms`. */
  roomZipf: Zipf
  /** Twitch's numeric room-id of each room. */
  roomIds: readonly number[]
  /** `;room-id=<id>` of each room, ready to copy into tags. */
  roomIdTags: readonly string[]
  /** How many people chat in each room. */
  chattersInRoom: readonly number[]
  /** Login names the rooms' chatters are taken from (bots excluded). */
  nicks: readonly string[]
  /**
   * A word from outside the vocabulary for the next word token, or null to
   * type a vocabulary word. Null (no draw at all) keeps a profile's streams
   * exactly those of the vocabulary alone.
   */
  rareWord: ((random: Random) => string | null) | null
  /** The `tmi-sent-ts` (epoch ms) of event `index`; `roomRank` is -1 for a ping, which has no room. */
  sentTs: (random: Random, index: number, roomRank: number) => number
}
