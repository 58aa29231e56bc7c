/**
 * Loaded into each test file's process by `npm test` (`--import`). node:test's runner waits for a
 * file's process to exit by itself after its tests end; something the file started and never
 * closed (a server, a client, a child process, a timer) would keep it alive and hang the whole
 * run without a word. So once the file's tests and hooks have ended, the process has
 * `WATCHDOG_MS` to exit; if it is still alive then, it prints the file and what is keeping it
 * (process.getActiveResourcesInfo()) and exits 1, which the runner reports as a failure of that
 * file. The watchdog's own timer is unref'd: it never keeps a process alive.
 *
 * With ROSTER_TEST_TIMES=DIR, each file's process also writes DIR/<pid>.json when it exits: the
 * file, its wall time and the CPU time it and the processes it waited for (servers, the CLI) used,
 * for finding the files that make `npm test` slow (docs/development.md).
 */
import {appendFileSync, mkdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {after} from 'node:test'

const WATCHDOG_MS = 30_000

/** Set by node:test's runner in the process it starts for each file. */
const inFileProcess = process.env.NODE_TEST_CONTEXT === 'child-v8'
const file = process.argv[1] ?? '(unknown file)'

if (inFileProcess) {
  after(() => {
    // Registered before the file is loaded, this root hook runs before the file's own root
    // `after` hooks: the grace covers their closing servers too.
    setTimeout(() => {
      const active = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap')
      process.stderr.write(
        `${path.relative(process.cwd(), file)}: the process is still alive ${WATCHDOG_MS / 1000} s after its tests ended; ` +
          `something it started was never closed. Active resources: ${active.join(', ') || '(none reported)'}\n`,
      )
      process.exit(1)
    }, WATCHDOG_MS).unref()
  })

  const timesDir = process.env.ROSTER_TEST_TIMES
  if (timesDir) {
    process.once('exit', () => {
      // /proc/self/stat fields 14-17: utime, stime, cutime, cstime in clock ticks (100 a second).
      const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
      const ticks = (index: number) => Number(fields[index - 3]) * 10
      const line = {
        file: path.relative(process.cwd(), file),
        wallMs: Math.round(performance.now()),
        cpuMs: ticks(14) + ticks(15),
        childrenCpuMs: ticks(16) + ticks(17),
      }
      mkdirSync(timesDir, {recursive: true})
      appendFileSync(path.join(timesDir, `${process.pid}.json`), `${JSON.stringify(line)}\n`)
    })
  }
}
