/**
 * npm test's count guard (test/support/file-report.ts with file-watchdog.ts): a run of a file
 * whose tests pass, skip themselves while running and are skipped outright is reported whole,
 * and exits 0. Runs `node --test` on a file written here, with the two support modules compiled
 * by esbuild as scripts/build-tests.mjs does (a reporter is loaded by plain node, without tsx).
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, it} from 'node:test'

import {build} from 'esbuild'

import {ROOT} from '../support/cli.js'

const support = path.join(ROOT, 'test', 'support')
const dir = mkdtempSync(path.join(tmpdir(), 'roster-file-report-'))
after(() => rmSync(dir, {recursive: true, force: true}))

it('counts tests that skip themselves while running: the runner reported them all, exit 0', async () => {
  const file = path.join(dir, 'skips.test.mjs')
  writeFileSync(
    file,
    [
      "import {it} from 'node:test'",
      "it('runs', () => {})",
      "it('skips while running', (t) => t.skip('a tool is missing'))",
      "it('is skipped', {skip: true}, () => {})",
    ].join('\n'),
  )
  await build({
    entryPoints: ['file-watchdog.ts', 'file-report.ts'].map((name) => path.join(support, name)),
    outdir: dir,
    format: 'esm',
    platform: 'node',
    logLevel: 'warning',
  })
  const env = {...process.env}
  delete env.NODE_TEST_CONTEXT
  delete env.ROSTER_TEST_RECORDS
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      path.join(dir, 'file-watchdog.js'),
      '--test',
      `--test-reporter=${path.join(dir, 'file-report.js')}`,
      '--test-reporter-destination=stdout',
      file,
    ],
    {encoding: 'utf8', env},
  )
  assert.equal(result.status, 0, result.stdout + result.stderr)
  // Node 24 runs the files' afterEach for a test that skips itself (2 counted), Node 22 does not (1):
  // either way the runner reported at least as many, and the run passes.
  assert.match(result.stdout, /^file-report: 1 test files ran [12] tests; the runner reported them all$/m)
})
