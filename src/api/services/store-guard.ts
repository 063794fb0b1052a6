import { recordStoreError, type StoreOperation } from '../../metrics.js'
import { ApiError, Errors } from '../errors.js'

/**
 * Runs `work` against the store within `timeoutMs`: a store that fails
 * answers a 503 `storeUnavailable` (its message hidden, the cause kept for
 * the log), one that is too slow a 503 `storeTimeout`, and either is counted
 * in the store-error metric. So no route can hang or leak a store error.
 */
export async function guardStoreCall<T> (work: () => Promise<T>, timeoutMs: number, operation: StoreOperation = 'read'): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Errors.storeTimeout(timeoutMs)), timeoutMs)
  })
  try {
    return await Promise.race([work(), timeout])
  } catch (err) {
    recordStoreError(operation)
    if (err instanceof ApiError) throw err
    throw Errors.storeUnavailable(err)
  } finally {
    clearTimeout(timer)
  }
}
