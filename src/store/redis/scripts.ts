import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** A Lua script of lua/, sent by EVALSHA (loaded by SCRIPT LOAD at open and again after a NOSCRIPT). */
export interface LuaScript {
  name: string
  source: string
  sha: string
  /** Fixed number of KEYS, from the `-<n>.lua` file name; null when the caller passes a variable number. */
  numberOfKeys: number | null
}

function loadScript (file: string): LuaScript {
  const source = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8')
  const match = /^(.*?)(?:-(\d+))?\.lua$/.exec(file)
  if (match === null) throw new Error(`bad Lua script name ${file}`)
  return {
    name: match[1]!,
    source,
    sha: createHash('sha1').update(source).digest('hex'),
    numberOfKeys: match[2] === undefined ? null : Number(match[2])
  }
}

export const SCRIPTS = {
  applyBatch: loadScript('apply-batch.lua'),
  rollup: loadScript('rollup.lua'),
  top: loadScript('top.lua'),
  roomTotals: loadScript('room-totals.lua'),
  leaseAcquire: loadScript('lease-acquire-1.lua'),
  leaseRenew: loadScript('lease-renew-1.lua'),
  leaseRelease: loadScript('lease-release-1.lua')
} as const
