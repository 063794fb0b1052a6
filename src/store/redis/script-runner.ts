import type { RedisClient } from './clients.js'
import { masters } from './clients.js'
import { PreparedCommand, respCommand } from './resp.js'
import type { LuaScript } from './scripts.js'

/**
 * Runs the write scripts, whose arguments are large (a flush: tens of
 * thousands of keys and one packed sections argument), as one prepared
 * EVALSHA (resp.ts). The read and lease scripts go through ioredis
 * defineCommand instead (read-commands.ts).
 */

/** SCRIPT LOAD of `scripts` on every master (a cluster has a script cache per master). */
export async function loadScripts (redis: RedisClient, scripts: readonly LuaScript[]): Promise<void> {
  await Promise.all(masters(redis).flatMap((server) => scripts.map((script) => server.script('LOAD', script.source))))
}

/**
 * EVALSHA; when Redis lost the script (restart, SCRIPT FLUSH, a master that
 * joined a cluster later) EVAL with its source, which also caches it there.
 * EVAL goes to the same slot's master: SCRIPT LOAD could not be aimed at it.
 */
export async function evalPrepared (redis: RedisClient, script: LuaScript, keys: string[], args: Array<string | Buffer>): Promise<unknown> {
  if (script.numberOfKeys !== null && keys.length !== script.numberOfKeys) throw new Error(`${script.name} takes ${script.numberOfKeys} keys`)
  const send = async (name: 'evalsha' | 'eval', body: string): Promise<unknown> => {
    const payload = respCommand(([name, body, String(keys.length)] as Array<string | Buffer>).concat(keys, args))
    return await redis.sendCommand(new PreparedCommand(name, payload, keys[0]))
  }
  try {
    return await send('evalsha', script.sha)
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
    return await send('eval', script.source)
  }
}
