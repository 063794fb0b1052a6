// `npm start` runs this first: it builds only when a source file is newer than the last
// build (npm install already built via `prepare`), so the service starts in about a second.
// The build runs in its own process group, and SIGTERM/SIGINT reach all of it: npm forwards
// them to this process only, and killing it alone would leave tsc building as an orphan.
import { spawn } from 'node:child_process'
import process from 'node:process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

// Written by copy-assets.mjs at the end of every build.
const stamp = 'dist/.build-stamp'
function newestMtime (dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

let built
try { built = statSync(stamp).mtimeMs } catch { built = 0 }
const sources = Math.max(newestMtime('src'), statSync('package.json').mtimeMs, statSync('tsconfig.json').mtimeMs)
if (sources > built) {
  const build = spawn('npm', ['run', 'build'], { stdio: 'inherit', detached: true })
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => { try { process.kill(-build.pid, signal) } catch { /* already gone */ } })
  }
  build.on('exit', (code, signal) => { process.exit(code ?? (signal === null ? 1 : 128 + 15)) })
}
