// Runs the compiled test files (.test-build/, made by scripts/build-tests.mjs) with Node's test
// runner, N processes at a time (default 6), longest first: each integration file in a process of
// its own, the unit files a few to a process.
//
//   node scripts/run-tests.mjs [--concurrency N] [--timeout MS] [--write-durations] DIR...
//
// `node --test FILES` sorts its files by name, so a file that waits a minute (a token rotation)
// could start last and end the run a minute later than the rest. Here the files start in the order
// of their wall times in test/durations.json, longest first (files it does not know first of all:
// new files are assumed long), which packs a CPU-bound run on few cores tightly. The durations only
// order the files: stale figures make the run slower, never wrong. `--write-durations` rewrites
// them from this run.
//
// The unit files (test/unit/) run a few to a process, in batches of about BATCH_MS of their recorded
// wall time: most take a few milliseconds after their process's start-up, which would otherwise be
// most of their cost. A batch is a generated file that imports its members in turn, so their tests
// run one after another as in a file of their own, and are reported under their own files. The
// price is the one mocha and `vitest --no-isolate` ask: a unit test puts back what it changes in the
// process (environment variables, signal handlers, timers), since another file runs after it; and
// a unit file keeps its hooks inside a describe, since a top-level one (beforeEach, afterEach…) is
// the process's and would run around every test of the batch. Every member's top level runs
// before the batch's first test.
//
// Each file's process loads test/support/file-watchdog.ts (a file that does not end by itself
// fails) and shares the run's cache directory (test/support/cli.ts); the spec reporter prints the results and test/support/file-report.ts then checks that no
// result was lost (and, with ROSTER_TEST_TIMES=N, lists where the CPU went).
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import {run} from 'node:test'
import {spec} from 'node:test/reporters'
import {parseArgs} from 'node:util'

const BUILD = '.test-build'
const DURATIONS = 'test/durations.json'
const BATCHED = 'test/unit/'
const BATCHES = path.join(BUILD, 'batches')
const BATCH_MS = 4000

const {values, positionals} = parseArgs({
  allowPositionals: true,
  options: {
    // Six on two cores: many files spend most of their wall waiting (a token rotation, Prometheus's
    // ticks, expiries), so fewer leave the cores idle, and more cost more CPU than they save
    // (docs/benchmarks.md has the figures).
    concurrency: {type: 'string', default: '6'},
    timeout: {type: 'string', default: '300000'},
    'write-durations': {type: 'boolean', default: false},
  },
})
const fail = (message) => {
  process.stderr.write(`run-tests: ${message}\n`)
  process.exit(2)
}
const positive = (name) => {
  const n = Number(values[name])
  if (!Number.isInteger(n) || n < 1) fail(`--${name}: expected a positive whole number, got '${values[name]}'`)
  return n
}
const concurrency = positive('concurrency')
const timeout = positive('timeout')
if (positionals.length === 0) fail('name the test directories to run, e.g. test/unit test/integration')
for (const dir of positionals)
  if (!existsSync(path.join(BUILD, dir))) fail(`${path.join(BUILD, dir)} does not exist: run npm run pretest first`)

// Imported for its effect in this process: it makes the directory the files' records go to.
const watchdog = path.resolve(BUILD, 'test/support/file-watchdog.js')
const {readRecords} = await import(watchdog)
const {default: fileReport} = await import(path.resolve(BUILD, 'test/support/file-report.js'))
// One cache directory (bin/run.js's code cache) for every file of the run: test/support/cli.ts.
const {TEST_CACHE_VARIABLE} = await import(path.resolve(BUILD, 'test/support/cli.js'))
const cacheHome = mkdtempSync(path.join(tmpdir(), 'roster-test-cache-'))
process.env[TEST_CACHE_VARIABLE] = cacheHome
// And Node's compile cache for the files' own processes (not the roster processes they start, whose
// environment isolatedEnv makes): each of them loads the same test support and dist/ modules, which
// V8 would otherwise compile again in every file.
process.env.NODE_COMPILE_CACHE = path.join(cacheHome, 'node')
process.once('exit', () => rmSync(cacheHome, {recursive: true, force: true}))

/** Source path (test/unit/x.test.ts) of a compiled file, the key of test/durations.json. */
const sourceOf = (file) => path.relative(BUILD, file).replace(/\.js$/, '.ts')

let durations = {}
try {
  durations = JSON.parse(readFileSync(DURATIONS, 'utf8'))
} catch (error) {
  if (error.code !== 'ENOENT') throw new Error(`${DURATIONS}: ${error.message}`)
}
const found = positionals
  .flatMap((dir) =>
    readdirSync(path.join(BUILD, dir))
      .filter((name) => name.endsWith('.test.js'))
      .map((name) => path.join(BUILD, dir, name)),
  )
  .map((file) => ({file: path.resolve(file), ms: durations[sourceOf(file)] ?? Infinity}))
  .sort((a, b) => b.ms - a.ms || a.file.localeCompare(b.file))

// Longest first, each unit file into the first batch it fits in (a file of BATCH_MS or more, or one
// the durations do not know, alone).
rmSync(BATCHES, {recursive: true, force: true})
const batches = []
const alone = []
for (const entry of found) {
  if (!sourceOf(entry.file).startsWith(BATCHED) || !(entry.ms < BATCH_MS)) alone.push(entry)
  else {
    const batch = batches.find((b) => b.ms + entry.ms <= BATCH_MS)
    if (batch) {
      batch.members.push(entry.file)
      batch.ms += entry.ms
    } else batches.push({members: [entry.file], ms: entry.ms})
  }
}
if (batches.length > 0) mkdirSync(BATCHES)
const batchFiles = batches.map((batch, i) => {
  if (batch.members.length === 1) return {file: batch.members[0], ms: batch.ms}
  const file = path.resolve(BATCHES, `unit-${i + 1}.test.js`)
  const imports = batch.members.map((member) => `import ${JSON.stringify(path.relative(BATCHES, member))}\n`)
  writeFileSync(file, `// ${batch.members.length} unit files in one process: scripts/run-tests.mjs\n${imports.join('')}`)
  return {file, ms: batch.ms}
})
const files = [...alone, ...batchFiles].sort((a, b) => b.ms - a.ms || a.file.localeCompare(b.file)).map(({file}) => file)

const stream = run({
  files,
  concurrency,
  timeout,
  execArgv: ['--import', watchdog],
})
// As `node --test` does: a failed test (or file) fails the run, a failed `todo` test does not.
stream.on('test:fail', (event) => {
  if (!event.todo) process.exitCode = 1
})
// A batched file's wall time: its top-level tests' (events name the file that declared the test).
const batchedMs = {}
const timeBatched = (event) => {
  const source = event.file && sourceOf(event.file)
  if (event.nesting === 0 && source?.startsWith(BATCHED)) batchedMs[source] = (batchedMs[source] ?? 0) + (event.details.duration_ms ?? 0)
}
stream.on('test:pass', timeBatched)
stream.on('test:fail', timeBatched)
const forSpec = new PassThrough({objectMode: true})
const forReport = new PassThrough({objectMode: true})
stream.pipe(forSpec)
stream.pipe(forReport)
const report = (async () => {
  let text = ''
  for await (const chunk of fileReport(forReport)) text += chunk
  return text
})()
await new Promise((resolve, reject) => forSpec.compose(spec).on('end', resolve).on('error', reject).pipe(process.stdout, {end: false}))
process.stdout.write(await report)

if (values['write-durations']) {
  const measured = Object.fromEntries(
    [...readRecords().map((r) => [sourceOf(r.file), r.wallMs]), ...Object.entries(batchedMs)].map(([file, ms]) => [
      file,
      Math.round(ms / 100) * 100,
    ]),
  )
  // Files of other suites keep their figures; files since removed lose theirs.
  const kept = Object.entries({...durations, ...measured}).filter(([file]) => existsSync(file))
  writeFileSync(DURATIONS, `${JSON.stringify(Object.fromEntries(kept.sort(([a], [b]) => a.localeCompare(b))), null, 2)}\n`)
  process.stdout.write(`wrote ${Object.keys(measured).length} files' wall times to ${DURATIONS}\n`)
}
