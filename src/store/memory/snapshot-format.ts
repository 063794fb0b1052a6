/** The snapshot file's format name and versions, shared by its writer (snapshot.ts) and reader (snapshot-reader.ts). */
export const SNAPSHOT_FORMAT = 'chat-stats-memory-snapshot'
export const SNAPSHOT_VERSION = 3
/** Versions this build reads (1 is migrated; 2 has no rooms' first-seen times: they load as unknown). */
export const READABLE_VERSIONS = [1, 2, 3]
