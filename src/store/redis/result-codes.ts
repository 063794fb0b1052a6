/**
 * What the store's Lua scripts answer, by name. The loader (scripts.ts)
 * hands this same table to every script as the Lua table `Result`, so a
 * code is written once, here, and compared by name on both sides.
 */
export enum ResultCode {
  /** Nothing written: the batch's sequence is not above the committed one. */
  Duplicate = 0,
  /** Written. */
  Applied = 1,
  /** Nothing written: the lease is held by another token. */
  LeaseLost = -1,
  /** Nothing written: the committed sequence is below the batch's previous one (the store lost writes). */
  Behind = -2
}

/** The Lua source of the `Result` table (prepended to every script by the loader). */
export function resultCodesLua (): string {
  const entries = Object.entries(ResultCode).filter(([, code]) => typeof code === 'number').map(([name, code]) => `${name} = ${String(code)}`)
  return `local Result = { ${entries.join(', ')} }`
}
