import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'

/**
 * The repository explains itself: code, tests and docs point only to documents
 * it holds (README.md, ARCHITECTURE.md, BENCHMARKS.md, docs/), and every such
 * pointer leads to a file and heading that exist.
 */

const ROOT = resolve(import.meta.dirname, '../..')
const THIS_FILE = relative(ROOT, import.meta.filename)
const TEXT_FILE = /\.(ts|js|mjs|cjs|lua|html|css|json|md|sh|sse|txt|ya?ml)$/

/** Repository-relative paths of the text files under `dir`, skipping installed and built files. */
function filesUnder (dir: string): string[] {
  const base = join(ROOT, dir)
  if (!existsSync(base)) return []
  return readdirSync(base, { recursive: true, encoding: 'utf8' })
    .filter((path) => !/(^|\/)(node_modules|dist)\//.test(path) && TEXT_FILE.test(path))
    .map((path) => join(dir, path))
    .filter((path) => statSync(join(ROOT, path)).isFile())
}

const rootMarkdown = readdirSync(ROOT).filter((name) => name.endsWith('.md'))
const docsMarkdown = filesUnder('docs').filter((path) => path.endsWith('.md'))
const codeFiles = ['src', 'test', 'bench', 'scripts'].flatMap(filesUnder)

/** Ways the code and docs have cited the product specification, which is not in the repository. */
const EXTERNAL_CITATIONS: Array<[string, RegExp]> = [
  ['SPEC as a word', /\bSPEC\b/],
  ['spec section / spec §', /\bspec\b[\s*/#]*(sections?|§)/i],
  ['"the spec"', /\bthe spec\b/i],
  ['SPEC.md', /\bSPEC\.md\b/i],
  ['a file outside the repository', /\/work\/(notes|shared)\//]
]

/** The places in `text` matching `pattern`, as `path:line: text`. */
function occurrences (path: string, text: string, pattern: RegExp): string[] {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g')
  const found: string[] = []
  for (const match of text.matchAll(global)) {
    const line = text.slice(0, match.index).split('\n').length
    found.push(`${path}:${line}: ${text.split('\n')[line - 1]?.trim().slice(0, 120) ?? ''}`)
  }
  return found
}

/** The text of a markdown file with its fenced code blocks blanked (line numbers kept). */
function withoutCodeBlocks (markdown: string): string {
  let fenced = false
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced
      return ''
    }
    return fenced ? '' : line
  }).join('\n')
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug (heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

const anchorCache = new Map<string, Set<string>>()

/** The anchors of a markdown file's headings, numbered as GitHub numbers repeats (`x`, `x-1`, ...). */
function anchorsOf (path: string): Set<string> {
  let anchors = anchorCache.get(path)
  if (anchors !== undefined) return anchors
  anchors = new Set()
  const seen = new Map<string, number>()
  for (const line of withoutCodeBlocks(readFileSync(join(ROOT, path), 'utf8')).split('\n')) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading === null) continue
    const base = slug(heading[1] ?? '')
    const repeats = seen.get(base) ?? 0
    seen.set(base, repeats + 1)
    anchors.add(repeats === 0 ? base : `${base}-${repeats}`)
  }
  anchorCache.set(path, anchors)
  return anchors
}

/** Why a pointer to `target` (a repository-relative path, maybe with `#anchor`) leads nowhere, or null. */
function brokenTarget (target: string): string | null {
  const [path = '', anchor] = target.split('#')
  if (!existsSync(join(ROOT, path))) return `no file ${path}`
  if (anchor === undefined || anchor === '') return null
  if (!path.endsWith('.md')) return null
  return anchorsOf(path).has(anchor.toLowerCase()) ? null : `no heading #${anchor} in ${path}`
}

describe('the repository explains itself', () => {
  it('finds the files it checks', () => {
    assert.ok(rootMarkdown.includes('README.md') && rootMarkdown.includes('ARCHITECTURE.md'), 'root markdown')
    assert.ok(docsMarkdown.includes(join('docs', 'COUNTING.md')), 'docs/*.md')
    assert.ok(codeFiles.includes(join('src', 'model', 'payload.ts')) && codeFiles.includes(THIS_FILE), 'src and test')
  })

  it('cites no document outside the repository (the rules are in docs/)', () => {
    // One line per place, with the first reason that found it.
    const found = new Map<string, string>()
    for (const path of [...codeFiles, ...rootMarkdown, ...docsMarkdown]) {
      if (path === THIS_FILE) continue
      const text = readFileSync(join(ROOT, path), 'utf8')
      for (const [what, pattern] of EXTERNAL_CITATIONS) {
        for (const place of occurrences(path, text, pattern)) if (!found.has(place)) found.set(place, what)
      }
    }
    const list = [...found].map(([place, what]) => `${place}  [${what}]`)
    assert.deepEqual(list, [], `point to README.md, ARCHITECTURE.md or docs/ instead:\n${list.join('\n')}`)
  })

  it('links from the docs to files and headings that exist', () => {
    const broken: string[] = []
    for (const path of [...rootMarkdown, ...docsMarkdown]) {
      const text = withoutCodeBlocks(readFileSync(join(ROOT, path), 'utf8'))
      for (const match of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const link = match[1] ?? ''
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue // http:, https:, mailto:
        const target = link.startsWith('#')
          ? `${path}${link}`
          : relative(ROOT, resolve(ROOT, dirname(path), decodeURI(link)))
        const why = brokenTarget(target)
        if (why !== null) broken.push(`${path}:${text.slice(0, match.index).split('\n').length}: (${link}) ${why}`)
      }
    }
    assert.deepEqual(broken, [], broken.join('\n'))
  })

  it('points from code and tests to docs files and headings that exist', () => {
    const broken: string[] = []
    const pointer = /(?<![\w/.-])((?:docs\/[\w.-]+|README|ARCHITECTURE|BENCHMARKS)\.md)(#[\w-]+)?/g
    for (const path of codeFiles) {
      if (path === THIS_FILE) continue
      const text = readFileSync(join(ROOT, path), 'utf8')
      for (const match of text.matchAll(pointer)) {
        const why = brokenTarget(`${match[1] ?? ''}${match[2] ?? ''}`)
        if (why !== null) broken.push(`${path}:${text.slice(0, match.index).split('\n').length}: ${match[0]} ${why}`)
      }
    }
    assert.deepEqual(broken, [], broken.join('\n'))
  })
})
