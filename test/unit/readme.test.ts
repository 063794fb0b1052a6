import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { configTable } from '../../scripts/config-table.js'

const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8')

describe('README.md', () => {
  it('starts with the two commands', () => {
    const top = readme.slice(0, 1500)
    assert.ok(top.includes('npm install && npm start'))
    assert.ok(top.includes('npm test'))
    assert.ok(top.includes('http://localhost:3000'))
  })

  it('holds the configuration table generated from the config schema', () => {
    const start = readme.indexOf('-->', readme.indexOf('<!-- config-table:start')) + 3
    const end = readme.indexOf('<!-- config-table:end -->')
    assert.equal(readme.slice(start, end).trim(), configTable())
  })
})
