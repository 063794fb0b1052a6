// Copies the non-TypeScript files the compiled service reads at run time
// (Lua scripts, dashboard assets) next to the compiled JavaScript in dist/.
import { cpSync, existsSync } from 'node:fs'

const assets = ['src/store/redis/lua', 'src/dashboard']
for (const dir of assets) {
  if (existsSync(dir)) cpSync(dir, `dist/${dir}`, { recursive: true, filter: (path) => !path.endsWith('.ts') })
}
