import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ResultCode, resultCodesLua } from '../../src/store/redis/result-codes.js'
import { COMMAND_SCRIPTS, expandIncludes, WRITE_SCRIPTS } from '../../src/store/redis/scripts.js'

describe('Lua script loading', () => {
  it('expands includes in place, each once, nested ones too', () => {
    const files: Record<string, string> = {
      'includes/a.lua': 'local a = 1\n--- @include "b"\n',
      'includes/b.lua': 'local b = 2\n'
    }
    const read = (path: string): string => {
      const text = files[path]
      assert.ok(text !== undefined, `reads ${path}`)
      return text
    }
    const out = expandIncludes('--- @include "a"\n--- @include "b"\nreturn a + b\n', new Set(), read)
    assert.equal(out, 'local a = 1\nlocal b = 2\n-- (b included above)\nreturn a + b\n')
  })

  it('gives every script the named result codes and leaves no include unexpanded', () => {
    for (const script of [...Object.values(WRITE_SCRIPTS), ...Object.values(COMMAND_SCRIPTS)]) {
      assert.ok(script.source.startsWith(`${resultCodesLua()}\n`), script.name)
      assert.doesNotMatch(script.source, /--- @include/, script.name)
      assert.match(script.source, /^--\[\[\n[\w-]+: /m, `${script.name} opens with its header`)
    }
    assert.equal(resultCodesLua(), `local Result = { Duplicate = ${ResultCode.Duplicate}, Applied = ${ResultCode.Applied}, LeaseLost = ${ResultCode.LeaseLost}, Behind = ${ResultCode.Behind} }`)
  })

  it('writes result codes by name in the scripts, never as bare numbers', () => {
    assert.match(WRITE_SCRIPTS.applyBatch.source, /local function addToSortedSet/, 'the increments include is expanded into the flush')
    for (const script of [...Object.values(WRITE_SCRIPTS), ...Object.values(COMMAND_SCRIPTS)]) assert.doesNotMatch(script.source, /return -\d/, script.name)
  })
})
