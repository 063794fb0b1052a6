import { LeaseLostError, StoreUnavailableError } from '../types.js'

/** Server replies that mean "Redis cannot serve now", not "the command is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM)\b/

/**
 * The store's error for anything a Redis call threw: the store's own errors
 * as they are, a reply error that says the command is wrong as it is (a bug
 * to see), everything else (connection lost, timeout, a server that cannot
 * serve now) as StoreUnavailableError, so the API answers 503.
 */
export function toStoreError (err: unknown): Error {
  if (err instanceof StoreUnavailableError || err instanceof LeaseLostError) return err
  const error = err instanceof Error ? err : new Error(String(err))
  if (error.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(error.message)) return error
  return new StoreUnavailableError(`Redis is unavailable: ${error.message}`, { cause: error })
}

/** Runs `work`, rejecting with StoreUnavailableError when it takes longer than `ms`. */
export async function withTimeout<T> (ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`Redis did not answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The results of a pipeline or MULTI, throwing the first error. */
export function replies (results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new StoreUnavailableError('Redis aborted the transaction')
  return results.map(([err, value]) => {
    if (err !== null) throw err
    return value
  })
}
