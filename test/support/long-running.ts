/**
 * A long-running child process for tests and benchmarks (an exporter, a watch loop, a container):
 * its output collected, a wait for a line of it, and SIGTERM to stop it. Waits are bounds for a
 * loaded machine, not timing checks: a process that exits first fails the wait at once, with
 * what it printed.
 */
import {spawn, type ChildProcess} from 'node:child_process'

export interface LongRunning {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** The exit code (128 + the signal's number is not kept: 128 for any signal). */
  exited: Promise<number>
  /** Resolves with the first match of `pattern` in stderr (or stdout with `stream`); rejects when the process exits first. */
  waitFor(pattern: RegExp, options?: {stream?: 'stdout' | 'stderr'; timeoutMs?: number}): Promise<RegExpExecArray>
  /** Sends `signal` (SIGTERM) unless the process has exited; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>
}

export function startLongRunning(command: string, args: string[], options: {env?: NodeJS.ProcessEnv; cwd?: string} = {}): LongRunning {
  const child = spawn(command, args, {env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  const listeners = new Set<() => void>()
  const changed = () => {
    for (const listener of listeners) listener()
  }
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((out += d), changed()))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((err += d), changed()))
  let done = false
  const exited = new Promise<number>((resolve) => {
    child.on('error', (error) => {
      err += `\n${command}: ${error.message}`
      done = true
      changed()
      resolve(127)
    })
    child.on('close', (code, signal) => {
      done = true
      changed()
      resolve(code ?? (signal ? 128 : 1))
    })
  })
  const running: LongRunning = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, {stream = 'stderr', timeoutMs = 120_000} = {}) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`${command} printed nothing matching ${pattern} within ${timeoutMs} ms:\n${out}\n${err}`)),
          timeoutMs,
        )
        const check = () => {
          const match = pattern.exec(stream === 'stderr' ? err : out)
          if (match) finish(undefined, match)
          else if (done) finish(new Error(`${command} exited before printing ${pattern}:\n${out}\n${err}`))
        }
        const finish = (error?: Error, match?: RegExpExecArray) => {
          clearTimeout(timer)
          listeners.delete(check)
          if (error) reject(error)
          else resolve(match!)
        }
        listeners.add(check)
        check()
      })
    },
    async stop(signal = 'SIGTERM') {
      if (!done) child.kill(signal)
      return exited
    },
  }
  return running
}
