// Prints the README's configuration table from the one config schema, so the two cannot drift
// (test/unit/readme.test.ts checks that README.md holds exactly this table).
import { ConfigSchema } from '../src/config.js'

export function configTable (): string {
  const required = new Set<string>(ConfigSchema.required ?? [])
  const rows = Object.entries(ConfigSchema.properties).map(([name, schema]) => {
    const s = schema as { description?: string, default?: unknown }
    const fallback = s.default === undefined ? (required.has(name) ? 'required' : 'unset') : `\`${String(s.default)}\``
    return `| \`${name}\` | ${fallback} | ${s.description ?? ''} |`
  })
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(configTable())
