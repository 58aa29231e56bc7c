/**
 * How every long-running command stops: `serve`, `kube metrics-proxy`, `node-status` serving or
 * watching, `kube discover`, and the loops of `sd export` and `dns sync`.
 *
 * The first SIGTERM or SIGINT aborts the signal `work` was given; `work` then drains (finishes
 * the pass, the apply or the requests in flight, and closes what it opened) and returns, and the
 * command exits 0: a stop asked for is a success, as systemd and Kubernetes expect. A failure,
 * before or while draining, is thrown as it is and keeps its exit code. Signals that come while
 * it drains are reported and otherwise ignored, so that a second Ctrl-C or SIGTERM cannot cut a
 * write in half; SIGKILL ends a process that does not drain.
 */

export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']

export interface RunUntilSignalOptions {
  /** Told of every signal; `first` is false for those that come while draining. */
  onSignal?: (signal: NodeJS.Signals, first: boolean) => void
  /** Stops it as a signal would, when it resolves (tests, and callers with their own stop). */
  stop?: Promise<unknown>
}

/** Runs `work` until SIGTERM or SIGINT (see the file comment); returns what it returns. */
export async function runUntilSignal<T>(work: (signal: AbortSignal) => Promise<T>, options: RunUntilSignalOptions = {}): Promise<T> {
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    const first = !controller.signal.aborted
    options.onSignal?.(signal, first)
    if (first) controller.abort(signal)
  }
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal)
  void options.stop?.then(() => {
    if (!controller.signal.aborted) controller.abort('stop')
  })
  try {
    return await work(controller.signal)
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal)
  }
}

/** Resolves when `signal` is aborted (at once if it already is). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), {once: true}))
}
