import { readFileSync } from 'node:fs'

/**
 * The chat-stats package version, read from package.json beside src/ (run
 * with tsx) or beside dist/src/ (built). 'unknown' when neither is found:
 * honest in `--version` and still a valid OpenAPI `info.version` string.
 */
export function packageVersion (): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'chat-stats' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // Not this layout: try the next one.
    }
  }
  return 'unknown'
}
