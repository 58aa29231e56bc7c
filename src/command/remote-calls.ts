/**
 * What a person at a terminal sees while a remote call (roster serve, PowerDNS, a webhook
 * provider, an identity provider) is retried: one progress line on stderr, rewritten in place
 * and cleared when the call ends, instead of silence until --timeout. Only on a terminal, never in
 * a pipe or under --json. And Ctrl-C ends the command with one line saying what it was waiting
 * for, exit 130, unless the command stops on signals itself (a loop or a server finishing its
 * work): then the signal is left to it.
 */
import type {CallEvent} from '../lib/http/json-client.js'

/** The exit status of a process ended by SIGINT, as a shell reports it. */
const INTERRUPTED_EXIT = 130

/** Starts watching this command's remote calls and Ctrl-C; the function returned stops both. */
export async function watchRemoteCalls(o: {quiet: boolean}): Promise<() => void> {
  const {observeCalls} = await import('../lib/http/json-client.js')
  const active: string[] = []
  let lastRetry: Extract<CallEvent, {type: 'retry'}> | undefined
  let lineShown = false
  const clearLine = (): void => {
    if (lineShown) process.stderr.write('\r\x1b[K')
    lineShown = false
  }

  observeCalls((event) => {
    if (event.type === 'start') {
      active.push(event.where)
      return
    }
    if (event.type === 'end') {
      const i = active.lastIndexOf(event.where)
      if (i >= 0) active.splice(i, 1)
      if (lastRetry?.where === event.where) lastRetry = undefined
      clearLine()
      return
    }
    lastRetry = event
    if (o.quiet || !process.stderr.isTTY) return
    const line = `roster: ${event.error}; retrying for up to ${seconds(event.budgetMs)} (attempt ${event.attempt + 1}, ${seconds(event.elapsedMs)} so far; Ctrl-C stops)`
    const width = process.stderr.columns ?? 0
    process.stderr.write(`\r\x1b[K${width > 1 && line.length >= width ? `${line.slice(0, width - 2)}…` : line}`)
    lineShown = true
  })

  const onInterrupt = (): void => {
    // A command with its own handler (a loop, a server) stops gracefully on its own.
    if (process.listeners('SIGINT').some((l) => l !== onInterrupt)) return
    clearLine()
    const waiting = lastRetry
      ? ` while retrying: ${lastRetry.error}`
      : active.length > 0
        ? ` while waiting for ${active[active.length - 1]}`
        : ''
    process.stderr.write(`roster: interrupted${waiting}\n`)
    process.exit(INTERRUPTED_EXIT)
  }
  process.on('SIGINT', onInterrupt)

  return () => {
    process.off('SIGINT', onInterrupt)
    observeCalls(undefined)
    clearLine()
  }
}

/** `30s`, `2.5s`: a duration for the progress line. */
function seconds(ms: number): string {
  const s = ms / 1000
  return `${s >= 10 ? Math.round(s) : Math.round(s * 10) / 10}s`
}
