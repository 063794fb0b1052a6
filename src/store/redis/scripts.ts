import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resultCodesLua } from './result-codes.js'

/** A Lua script of lua/, with its includes resolved. */
export interface LuaScript {
  name: string
  source: string
  sha: string
  /** Fixed number of KEYS, from the `-<n>.lua` file name; null when the caller passes a variable number. */
  numberOfKeys: number | null
}

/** `--- @include "name"` on a line of its own: replaced by lua/includes/<name>.lua, each at most once per script. */
const INCLUDE = /^--- @include "([\w-]+)"[ \t]*$/gm

function readLua (path: string): string {
  return readFileSync(new URL(`./lua/${path}`, import.meta.url), 'utf8')
}

/** `source` with its includes (and theirs) expanded in place, as BullMQ's loader does. */
export function expandIncludes (source: string, included = new Set<string>(), read: (path: string) => string = readLua): string {
  return source.replace(INCLUDE, (_line, name: string) => {
    if (included.has(name)) return `-- (${name} included above)`
    included.add(name)
    return expandIncludes(read(`includes/${name}.lua`), included, read).trimEnd()
  })
}

/** Loads lua/<file> with its includes, after the named result codes (result-codes.ts). */
export function loadScript (file: string): LuaScript {
  const match = /^(.*?)(?:-(\d+))?\.lua$/.exec(file)
  if (match === null) throw new Error(`bad Lua script name ${file}`)
  const source = `${resultCodesLua()}\n${expandIncludes(readLua(file))}`
  return {
    name: match[1]!,
    source,
    sha: createHash('sha1').update(source).digest('hex'),
    numberOfKeys: match[2] === undefined ? null : Number(match[2])
  }
}

/** The write script, sent by script-runner.ts (its arguments are large, prepared in one buffer). */
export const WRITE_SCRIPTS = {
  applyBatch: loadScript('apply-batch.lua')
} as const

/** The read and lease scripts, registered on the client with ioredis defineCommand (read-commands.ts). */
export const COMMAND_SCRIPTS = {
  top: loadScript('top-1.lua'),
  leaseAcquire: loadScript('lease-acquire-1.lua'),
  leaseRenew: loadScript('lease-renew-1.lua'),
  leaseRelease: loadScript('lease-release-1.lua')
} as const
