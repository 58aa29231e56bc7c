/**
 * The fenced code blocks of the documentation (README.md and docs/*.md), for the tests that run
 * what the docs show: each block with its file, the line its fence opens on, the words of its
 * info string (```sh walkthrough → ['sh', 'walkthrough']) and its text, indentation removed (a
 * block inside a list item is indented).
 */
import {readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'

import {ROOT} from './cli.js'

export interface DocBlock {
  /** Relative to the repository: `docs/tokens.md`. */
  file: string
  /** 1-based line of the opening fence. */
  line: number
  info: string[]
  text: string
}

/** README.md and every docs/*.md, relative to the repository. */
export function docFiles(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
  return ['README.md', ...docs.map((name) => `docs/${name}`)]
}

export function docBlocks(file: string): DocBlock[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n')
  const blocks: DocBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(.*)$/.exec(lines[i]!)
    if (!open) continue
    const [, indent, fence, info] = open as unknown as [string, string, string, string]
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]!); j++) {
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!.trimStart())
    }
    blocks.push({file, line: i + 1, info: info.trim().split(/\s+/).filter(Boolean), text: body.join('\n')})
    i = j
  }
  return blocks
}

/** Every block of every doc file whose info string has `word` (`walkthrough`) or whose first word is it (`yaml`). */
export function docBlocksWith(word: string): DocBlock[] {
  return docFiles().flatMap((file) => docBlocks(file).filter((b) => b.info.includes(word)))
}
