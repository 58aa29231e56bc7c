/**
 * A node:test reporter for `npm test`, beside the spec reporter: it prints nothing while the run
 * goes, and at its end checks that the runner reported at least as many tests as the test files'
 * processes say they ran (test/support/file-watchdog.ts's records). Fewer means results were lost
 * between a file's process and the runner (as `--test-force-exit` did), and a lost result may be a
 * failure: the run then fails, saying so.
 *
 * With ROSTER_TEST_TIMES=N it also prints the N files that took the most CPU time (their own and
 * their servers' and CLI processes'), with their wall time: where to look when `npm test` is slow.
 */
// Imported for its value and for its effect: node:test does not run --import modules in the
// runner's own process, so this import is what makes the records directory there.
import {type FileRecord, RECORDS_VARIABLE, readRecords} from './file-watchdog.js'

interface TestEvent {
  type: string
  data: {details?: {type?: string}}
}

export default async function* fileReport(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  let reported = 0
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    // Skipped tests count too: a root afterEach (file-watchdog.ts) also runs for a test that
    // skips itself while running (t.skip()), so the files' count includes those.
    if (event.data.details?.type === 'suite') continue
    reported++
  }
  if (!process.env[RECORDS_VARIABLE]) {
    yield `file-report: ${RECORDS_VARIABLE} is not set: load test/support/file-watchdog.js with --import\n`
    process.exitCode = 1
    return
  }
  const records = readRecords()
  const ran = records.reduce((sum, r) => sum + r.tests, 0)
  if (reported < ran) {
    yield `file-report: the runner reported ${reported} tests that ran, but the ${records.length} test files' processes ran ${ran}: results were lost, and one may have been a failure\n`
    process.exitCode = 1
  } else {
    yield `file-report: ${records.length} test files ran ${ran} tests; the runner reported them all\n`
  }
  const top = Number(process.env.ROSTER_TEST_TIMES ?? 0)
  if (top > 0) {
    const cpu = (r: FileRecord) => r.cpuMs + r.childrenCpuMs
    const s = (ms: number) => (ms / 1000).toFixed(1).padStart(6)
    yield `\n   cpu    own  child   wall  tests  file (the ${top} of ${records.length} that took the most CPU; all: ${s(records.reduce((sum, r) => sum + cpu(r), 0)).trim()} s)\n`
    for (const r of records.sort((a, b) => cpu(b) - cpu(a)).slice(0, top)) {
      yield `${s(cpu(r))} ${s(r.cpuMs)} ${s(r.childrenCpuMs)} ${s(r.wallMs)} ${String(r.tests).padStart(6)}  ${r.file}\n`
    }
  }
}
