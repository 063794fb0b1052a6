// `npm start` runs this first: it builds only when a source file is newer than the last
// build (npm install already built via `prepare`), so the service starts in about a second.
import { execSync } from 'node:child_process'
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
if (sources > built) execSync('npm run build', { stdio: 'inherit' })
