/**
 * The console's code is evaluated by `roster serve` only: dist/roster.cjs bundles every command,
 * and each module's top level runs when something first imports it. V8's coverage of the bundle
 * (NODE_V8_COVERAGE) says whether the console module's top level ran: never for another command,
 * and, as the control, once `roster serve` has answered a console page.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import Module from 'node:module'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, ROOT, isolatedEnv} from '../support/cli.js'
import {http, startServe} from '../support/serve-server.js'

const BUNDLE = path.join(ROOT, 'dist', 'roster.cjs')

interface Coverage {
  result: {url: string; functions: {ranges: {startOffset: number; endOffset: number; count: number}[]}[]}[]
}

/** Where the console module's page table is in the script V8 compiles (bin/run.js wraps the bundle as a CommonJS module). */
function consoleOffset(): number {
  const source = readFileSync(BUNDLE, 'latin1')
  const marker = /\["\/tokens",/g
  const found = [...source.matchAll(marker)]
  assert.equal(found.length, 1, "the console's page table is in the bundle once")
  const wrapper = (Module as unknown as {wrapper: string[]}).wrapper[0]!
  return wrapper.length + found[0]!.index
}

/** How often the innermost code around `offset` in dist/roster.cjs ran, from the coverage files in `dir`. */
function timesRun(dir: string, offset: number): number {
  let best: {span: number; count: number} | undefined
  for (const name of readdirSync(dir)) {
    const coverage = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Coverage
    for (const script of coverage.result) {
      if (!script.url.endsWith('/dist/roster.cjs')) continue
      for (const fn of script.functions)
        for (const r of fn.ranges)
          if (r.startOffset <= offset && offset < r.endOffset && (!best || r.endOffset - r.startOffset < best.span))
            best = {span: r.endOffset - r.startOffset, count: r.count}
    }
  }
  assert.ok(best, 'the coverage covers dist/roster.cjs')
  return best.count
}

describe("the console's code loads with roster serve only", () => {
  let work: string
  let offset: number

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'roster-console-startup-'))
    offset = consoleOffset()
  })
  after(() => rmSync(work, {recursive: true, force: true}))

  for (const args of [['--version'], ['server', 'list'], ['service', 'list', '-o', 'json'], ['token', 'list']]) {
    it(`roster ${args.join(' ')} never evaluates it`, () => {
      const coverage = mkdtempSync(path.join(work, 'coverage-'))
      const env = isolatedEnv({NODE_V8_COVERAGE: coverage, ROSTER_REGISTRY: `sqlite:${path.join(work, 'registry.db')}`})
      const run = spawnSync(process.execPath, [BIN, ...args], {env: env as NodeJS.ProcessEnv, encoding: 'utf8'})
      assert.equal(run.status, 0, run.stderr)
      assert.equal(timesRun(coverage, offset), 0)
    })
  }

  it('roster serve evaluates it (the control: the check sees the module when it runs)', async () => {
    const coverage = mkdtempSync(path.join(work, 'coverage-'))
    const env = isolatedEnv({NODE_V8_COVERAGE: coverage})
    const serve = await startServe({registry: `sqlite:${path.join(work, 'serve.db')}`, args: ['--auth', 'none'], env})
    try {
      assert.equal((await http(`${serve.url}/ui/servers`)).status, 200)
    } finally {
      assert.equal(await serve.stop(), 0)
    }
    assert.ok(timesRun(coverage, offset) > 0)
  })
})
