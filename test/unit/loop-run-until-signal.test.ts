/** The one stop-on-signal helper: real signals sent to this process. */
import assert from 'node:assert/strict'
import {after, describe, it} from 'node:test'

import {runUntilSignal, untilAborted} from '../../src/lib/loop/run-until-signal.js'

describe('runUntilSignal', () => {
  // A signal handler does not keep the event loop alive; a server or a timer does, in a command.
  const alive = setInterval(() => undefined, 1000)
  after(() => clearInterval(alive))
  const before = {term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT')}
  it('aborts on SIGTERM, lets the work drain and returns its result; a second signal is only reported', async () => {
    const seen: string[] = []
    const result = runUntilSignal(
      async (signal) => {
        await untilAborted(signal)
        seen.push(`aborted by ${String(signal.reason)}`)
        process.kill(process.pid, 'SIGINT')
        await new Promise((resolve) => setTimeout(resolve, 50))
        return 'drained'
      },
      {onSignal: (signal, first) => seen.push(`${signal} ${first ? 'first' : 'while draining'}`)},
    )
    await new Promise((resolve) => setImmediate(resolve))
    process.kill(process.pid, 'SIGTERM')
    assert.equal(await result, 'drained')
    assert.deepEqual(seen, ['SIGTERM first', 'aborted by SIGTERM', 'SIGINT while draining'])
    assert.equal(process.listenerCount('SIGTERM'), before.term)
    assert.equal(process.listenerCount('SIGINT'), before.int)
  })

  it('throws what the work throws, and removes its handlers', async () => {
    await assert.rejects(
      runUntilSignal(async () => {
        throw new Error('failed')
      }),
      /failed/,
    )
    assert.equal(process.listenerCount('SIGTERM'), before.term)
  })

  it('stops when `stop` resolves, as a signal would', async () => {
    const stopped = await runUntilSignal(
      async (signal) => {
        await untilAborted(signal)
        return signal.aborted
      },
      {stop: Promise.resolve()},
    )
    assert.equal(stopped, true)
  })
})
