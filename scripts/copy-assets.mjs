// Copies the non-TypeScript files the compiled service reads at run time
// (Lua scripts, dashboard assets) next to the compiled JavaScript in dist/.
import { cpSync, existsSync, writeFileSync } from 'node:fs'

const assets = ['src/store/redis/lua', 'src/dashboard']
for (const dir of assets) {
  if (existsSync(dir)) cpSync(dir, `dist/${dir}`, { recursive: true, filter: (path) => !path.endsWith('.ts') })
}

// Marks the end of a complete build for build-if-stale.mjs.
writeFileSync('dist/.build-stamp', new Date().toISOString() + '\n')
