/**
 * Loaded by `npm test` (`--import`) into the runner and into each test file's process.
 *
 * The watchdog. node:test's runner waits for a file's process to exit by itself after its tests
 * end; something the file started and never closed (a server, a client, a child process, a timer)
 * would keep it alive and hang the whole run without a word. So once the file's tests and hooks
 * have ended, the process has `WATCHDOG_MS` to exit; if it is still alive then, it prints the file
 * and what is keeping it (process.getActiveResourcesInfo()) and exits 1, which the runner reports
 * as a failure of that file. The watchdog's own timer is unref'd: it never keeps a process alive.
 *
 * The record. Each file's process counts the tests that ran in it (a root `afterEach`, which runs
 * after every test, nested ones too, but not after a skipped one) and, when it exits, writes that
 * count with its wall time and CPU time (its own and that of the processes it waited for: servers,
 * the CLI) to a directory the runner's process made (`RECORDS_VARIABLE`). test/support/file-report.ts,
 * a reporter, checks there that the runner reported at least as many tests as the files ran.
 */
import {appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, afterEach} from 'node:test'

const WATCHDOG_MS = 30_000

/** The directory of the file processes' records, made by the runner's process, inherited by the files'. */
export const RECORDS_VARIABLE = 'ROSTER_TEST_RECORDS'

/** One file process's record: a JSON line of DIR/<pid>.json. */
export interface FileRecord {
  file: string
  /** Tests that ran, nested ones and those that skipped themselves while running included. */
  tests: number
  wallMs: number
  /** When the process started (ms since the epoch): with wallMs, the run's timeline. */
  startMs: number
  cpuMs: number
  childrenCpuMs: number
}

/** The records the files' processes have written so far (in the runner's process, once they ended). */
export function readRecords(): FileRecord[] {
  const dir = process.env[RECORDS_VARIABLE]
  if (!dir) throw new Error(`${RECORDS_VARIABLE} is not set: load test/support/file-watchdog.js with --import`)
  return readdirSync(dir).flatMap((name) =>
    readFileSync(path.join(dir, name), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as FileRecord),
  )
}

if (process.env.NODE_TEST_CONTEXT === 'child-v8') {
  // Set by node:test's runner in the process it starts for each file.
  const file = path.relative(process.cwd(), process.argv[1] ?? '(unknown file)')
  let tests = 0
  afterEach(() => {
    tests++
  })
  after(() => {
    // Registered before the file is loaded, this root hook runs before the file's own root
    // `after` hooks: the grace covers their closing servers too.
    setTimeout(() => {
      const active = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap')
      process.stderr.write(
        `${file}: the process is still alive ${WATCHDOG_MS / 1000} s after its tests ended; ` +
          `something it started was never closed. Active resources: ${active.join(', ') || '(none reported)'}\n`,
      )
      process.exit(1)
    }, WATCHDOG_MS).unref()
  })

  const records = process.env[RECORDS_VARIABLE]
  if (records) {
    process.once('exit', () => {
      // /proc/self/stat fields 14-17: utime, stime, cutime, cstime in clock ticks (100 a second).
      const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
      const ms = (field: number) => Number(fields[field - 3]) * 10
      const record: FileRecord = {
        file,
        tests,
        wallMs: Math.round(performance.now()),
        startMs: Math.round(performance.timeOrigin),
        cpuMs: ms(14) + ms(15),
        childrenCpuMs: ms(16) + ms(17),
      }
      mkdirSync(records, {recursive: true})
      appendFileSync(path.join(records, `${process.pid}.json`), `${JSON.stringify(record)}\n`)
    })
  }
} else if (process.env[RECORDS_VARIABLE] === undefined) {
  // The runner's process: the directory its file processes write to, removed when it exits.
  const records = mkdtempSync(path.join(tmpdir(), 'roster-test-records-'))
  process.env[RECORDS_VARIABLE] = records
  process.once('exit', () => rmSync(records, {recursive: true, force: true}))
}
