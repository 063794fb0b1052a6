// Copies the non-TypeScript files the compiled service reads at run time
// (Lua scripts, dashboard assets) next to the compiled JavaScript in dist/.
import { chmodSync, cpSync, existsSync, writeFileSync } from 'node:fs'

const assets = ['src/store/redis/lua', 'src/dashboard']
for (const dir of assets) {
  if (existsSync(dir)) cpSync(dir, `dist/${dir}`, { recursive: true, filter: (path) => !path.endsWith('.ts') })
}

// The package's bin (package.json "bin"): npm makes it executable when it installs or links the
// package, but tsc writes it 0644, so a build after that link (npx keeps its link to a checkout,
// and a new checkout at the same path is built anew) would leave `npx chat-stats` unable to run it.
chmodSync('dist/src/cli.js', 0o755)

// Marks the end of a complete build for build-if-stale.mjs.
writeFileSync('dist/.build-stamp', new Date().toISOString() + '\n')
