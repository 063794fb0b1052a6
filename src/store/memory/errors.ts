/** The snapshot file exists but is not a complete, valid snapshot; it is left untouched. */
export class SnapshotCorruptError extends Error {
  readonly code = 'CS_SNAPSHOT_CORRUPT'
  constructor (readonly path: string, readonly reason: string) {
    super(`snapshot ${path} is corrupt: ${reason}; the embedded store will not start and will not overwrite it (move it away to start empty, or restore a backup)`)
    this.name = 'SnapshotCorruptError'
  }
}

/** The snapshot file exists but cannot be read (permissions, a directory, an I/O error). */
export class SnapshotUnreadableError extends Error {
  readonly code = 'CS_SNAPSHOT_UNREADABLE'
  constructor (readonly path: string, reason: string, options?: ErrorOptions) {
    super(`snapshot ${path} cannot be read: ${reason}`, options)
    this.name = 'SnapshotUnreadableError'
  }
}

/** Writing a snapshot failed; the previous snapshot file, if any, is intact. */
export class SnapshotWriteError extends Error {
  readonly code = 'CS_SNAPSHOT_WRITE'
  constructor (readonly path: string, reason: string, options?: ErrorOptions) {
    super(`cannot write snapshot ${path}: ${reason}`, options)
    this.name = 'SnapshotWriteError'
  }
}

export { InvalidBatchError } from '../batch-validation.js'
