/**
 * Pods for metrics-proxy's merge without a network: each answers its body in the pieces and the
 * order a test scripts (one piece per turn of the event loop, none while paused), and records
 * what the merge did to it. The client is a real Writable, fast or slow to drain.
 */
import {Writable} from 'node:stream'

import {mergePods, type MergeResult, type PodControl, type PodSink} from '../../src/lib/metrics-proxy/merge.js'

export interface ScriptedPod {
  pod: string
  namespace: string
  /** The body's pieces (a Buffer may cut a character in two). */
  chunks: Array<string | Buffer>
  /** Answers only once this settles. */
  after?: Promise<unknown>
  /** Never answers. */
  silent?: boolean
  /** Answers this status instead of 200. */
  status?: number
  /** Sends only this many pieces, then nothing, never ending. */
  stallAfter?: number
  /** Called once it has sent its last piece. */
  onSent?: () => void
}

export interface PodLog {
  pauses: number
  resumes: number
  aborted: boolean
}

export interface MergeRun {
  text: string
  result: MergeResult<ScriptedPod>
  logs: Map<string, PodLog>
}

/** A client that takes `bytesPerTurn` bytes a turn of the event loop (Infinity: at once), with a small buffer. */
export function slowClient(bytesPerTurn: number): {out: Writable; text: () => string} {
  const received: Buffer[] = []
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, callback) {
      received.push(Buffer.from(chunk)) // a copy: the merge uses the buffer again once this returns
      if (!Number.isFinite(bytesPerTurn)) return callback()
      let turns = Math.ceil(chunk.length / bytesPerTurn)
      const next = (): void => (--turns <= 0 ? callback() : void setImmediate(next))
      setImmediate(next)
    },
  })
  return {out, text: () => Buffer.concat(received).toString('utf8')}
}

export async function runMerge(
  pods: ScriptedPod[],
  o: {timeoutMs?: number; concurrency?: number; readAheadBytes?: number; bytesPerTurn?: number} = {},
): Promise<MergeRun> {
  const logs = new Map<string, PodLog>()
  const client = slowClient(o.bytesPerTurn ?? Infinity)
  const result = await mergePods({
    pods,
    out: client.out,
    timeoutMs: o.timeoutMs ?? 5000,
    concurrency: o.concurrency ?? 32,
    readAheadBytes: o.readAheadBytes,
    open: (pod, sink) => {
      const {control, log} = play(pod, sink)
      logs.set(pod.pod, log)
      return control
    },
  })
  return {text: client.text(), result, logs}
}

function play(pod: ScriptedPod, sink: PodSink): {control: PodControl; log: PodLog} {
  let paused = false
  let aborted = false
  let next = 0
  let wake: (() => void) | undefined
  const log: PodLog = {pauses: 0, resumes: 0, aborted: false}
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
  void (async () => {
    await pod.after
    await turn()
    if (pod.silent || aborted) return
    if (pod.status !== undefined && pod.status !== 200) return sink.fail(`HTTP ${pod.status}`)
    sink.answered()
    const last = Math.min(pod.chunks.length, pod.stallAfter ?? Infinity)
    while (next < last) {
      await turn()
      while (paused && !aborted) await new Promise<void>((resolve) => (wake = resolve))
      if (aborted) return
      const piece = pod.chunks[next++]!
      sink.data(typeof piece === 'string' ? Buffer.from(piece) : piece)
    }
    pod.onSent?.()
    if (next === pod.chunks.length) {
      await turn()
      if (!aborted) sink.end()
    }
  })()
  return {
    log,
    control: {
      pause: () => {
        paused = true
        log.pauses++
      },
      resume: () => {
        paused = false
        log.resumes++
        wake?.()
      },
      abort: () => {
        aborted = true
        log.aborted = true
        wake?.()
      },
    },
  }
}

/** Splits `text` into pieces of `size` bytes (characters may be cut). */
export function pieces(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text)
  const out: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

/**
 * The families of an exposition in the order their lines come, each once; throws when a
 * family's lines are not together (HELP/TYPE and samples, histogram suffixes included).
 */
export function familiesInOrder(text: string): string[] {
  const order: string[] = []
  const types = new Map<string, string>()
  let current = ''
  for (const line of text.split('\n')) {
    if (line === '') continue
    let family: string
    const comment = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
    if (comment) {
      family = comment[2]!
      if (comment[1] === 'TYPE') types.set(family, comment[3]!)
    } else {
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]
      const base = name.replace(/_(bucket|sum|count)$/, '')
      family = base !== name && ['histogram', 'summary'].includes(types.get(base) ?? '') ? base : name
    }
    if (family === current) continue
    if (order.includes(family)) throw new Error(`family ${family} comes back after ${current}`)
    order.push(family)
    current = family
  }
  return order
}
