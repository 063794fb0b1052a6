import { readFileSync } from 'node:fs'

/**
 * The package version from package.json, found from src/ (tsx) or dist/src/
 * (built); 'unknown' when neither layout holds chat-stats' package.json.
 */
export function packageVersion (): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'chat-stats' && pkg.version !== undefined) return pkg.version
    } catch {
      // Not this layout: try the next one.
    }
  }
  return 'unknown'
}
