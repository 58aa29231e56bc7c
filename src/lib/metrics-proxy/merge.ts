/**
 * The merged answer of many pods, written while their answers arrive, with each metric family's
 * lines together as the text format requires.
 *
 * Why together: Prometheus' own parser ingests a family split in two places, but since it took
 * a series' type from the last TYPE line (model/textparse family.go), a sample that follows
 * another family's TYPE line loses its type where that matters: classic histograms converted to
 * native ones, type-and-unit labels, metadata records. Python's parser (client_python, used by
 * the Datadog agent) turns such a sample into an untyped family of its own; promtool (Go's
 * expfmt) accepts a split family but refuses a second HELP or TYPE. So a family is written once,
 * whole, and its HELP and TYPE once, before its samples.
 *
 * How, without holding the pods' answers: one family at a time is open (the cursor). Every pod's
 * lines of the open family are written as they arrive; a pod whose next line belongs to another
 * family waits there (it is parked). When no pod can add to the open family (every pod has ended,
 * failed or is parked), the family most parked pods wait at opens next, and so on. Pods of one
 * exporter list their families in the same order, so this writes each family once. Pods that
 * disagree on the order cost a family split in two (counted: `split`), never a lost sample.
 *
 * Memory: what pods sent and the merge has not written waits as received bytes, at most
 * `readAheadBytes` in all before a parked pod (or any pod while the client is not reading) is
 * paused: TCP then holds the rest at the pod. Each write to the client is at most a flush's worth,
 * and none is made while it does not drain. So memory is bounded by the read-ahead, the pods'
 * partly read chunks and the client's socket, never by the pods' whole answers — except where
 * a pod's whole answer fits in the one chunk a socket read hands over (up to 64 KiB): a pod
 * paused then still holds its later families, which must wait for every pod's lines of the
 * earlier ones. With many small answers, what is held at the peak is about the raw answers.
 *
 * Time: the answer comes within `timeoutMs`: then pods that have not answered, or are still
 * sending when the merge is not holding them back, are cut off (`up` 0). A pod the merge itself
 * paused is not at fault: it gets a tenth of the timeout more to finish. A pod cut off keeps the
 * lines already written; its `up` 0 says it is incomplete.
 */
import {ByteOutput, LineKind, MergedFamilies, PodExposition, UP_HELP, upLine, type PodLabels} from './exposition.js'

/** Where a pod's answer goes: the transport calls these (answered before any data). */
export interface PodSink {
  /** The pod answered 200; its body follows. */
  answered(): void
  data(chunk: Buffer): void
  end(): void
  fail(reason: string): void
}

/** What the merge may do to a pod's answer in flight. After abort(), no call reaches the sink. */
export interface PodControl {
  pause(): void
  resume(): void
  abort(): void
}

/** The client's side: a Writable such as the HTTP response. */
export interface MergeOutput {
  /** `done` is called once the chunk is written out (and its buffer may be used again). */
  write(chunk: Buffer, done: () => void): boolean
  end(): void
  once(event: 'drain' | 'close', listener: () => void): unknown
  readonly destroyed: boolean
}

export interface MergeOptions<T extends PodLabels> {
  /** In the order their `up` samples are written. */
  pods: readonly T[]
  /** Starts fetching a pod's answer into `sink`, asking it to answer within `timeoutMs`. */
  open(pod: T, sink: PodSink, timeoutMs: number): PodControl
  out: MergeOutput
  timeoutMs: number
  /** Pods asked at once, until each starts answering. */
  concurrency: number
  /** Received bytes not yet written, in all, before pods are paused. */
  readAheadBytes?: number
}

export interface MergeResult<T> {
  up: number
  down: number
  /** Lines dropped: unparsable, or of a family whose type conflicts. */
  dropped: number
  /** Times a family was opened again after closing (pods listing families in different orders). */
  split: number
  /** The most received bytes held at once, not yet written. */
  maxReadAhead: number
  /** Why each pod that is down is. */
  reasons: Map<T, string>
}

export const READ_AHEAD_BYTES = 16 * 1024 * 1024
const EMPTY = Buffer.alloc(0)
/** Output is gathered into writes of about this many bytes. */
const FLUSH_BYTES = 64 * 1024
/** Bytes written before the merge lets other work (pods' data, timers) run. */
const SLICE_BYTES = 1024 * 1024

type PodState = 'queued' | 'asked' | 'reading' | 'ended' | 'failed' | 'done'

interface Pod<T> {
  target: T
  exposition: PodExposition
  state: PodState
  control?: PodControl
  /** Received, not yet in `buf`. */
  chunks: Buffer[]
  bytes: number
  /** What is being read, from `pos` on; the current line is buf[lineStart, lineEnd). */
  buf: Buffer
  pos: number
  lineStart: number
  lineEnd: number
  /** The family of the line it is parked at (the current line): not the open one. */
  held?: string
  /** That line is a HELP or TYPE. */
  heldHeader: boolean
  runnable: boolean
  pausedByMerge: boolean
}

/** Merges the pods' answers into `out` and ends it; resolves once every pod is settled. */
export function mergePods<T extends PodLabels>(o: MergeOptions<T>): Promise<MergeResult<T>> {
  const readAhead = o.readAheadBytes ?? READ_AHEAD_BYTES
  const families = new MergedFamilies()
  const pods: Array<Pod<T>> = o.pods.map((target) => ({
    target,
    exposition: new PodExposition(target),
    state: 'queued',
    chunks: [],
    bytes: 0,
    buf: EMPTY,
    pos: 0,
    lineStart: 0,
    lineEnd: 0,
    heldHeader: false,
    runnable: false,
    pausedByMerge: false,
  }))
  const reasons = new Map<T, string>()
  const start = Date.now()
  const runnable = new Set<Pod<T>>()
  const parked = new Map<string, Set<Pod<T>>>()
  /** When each family was first met, to break ties between parked families. */
  const met = new Map<string, number>()
  let open: string | undefined
  let queuedBytes = 0
  let maxReadAhead = 0
  let split = 0
  let asking = 0
  let nextToAsk = 0
  let blocked = false
  /** The timeout has passed: no pod is asked any more. */
  let late = false
  let finished = false
  let pumping = false
  let scheduled = false

  return new Promise<MergeResult<T>>((resolve) => {
    const timers: NodeJS.Timeout[] = []
    const settle = (): void => {
      if (finished) return
      finished = true
      for (const t of timers) clearTimeout(t)
      for (const p of pods) if (p.state === 'asked' || p.state === 'reading' || p.state === 'queued') cut(p, 'client gone')
      resolve({
        up: pods.filter((p) => p.state === 'done').length,
        down: reasons.size,
        dropped: pods.reduce((n, p) => n + p.exposition.dropped, families.dropped),
        split,
        maxReadAhead,
        reasons,
      })
    }
    o.out.once('close', settle)

    const output = new ByteOutput(FLUSH_BYTES, (piece, done) => {
      if (o.out.destroyed) return
      if (!o.out.write(piece, done) && !blocked) {
        blocked = true
        o.out.once('drain', () => {
          blocked = false
          if (queuedBytes <= readAhead) for (const p of runnable) resume(p)
          schedule()
        })
      }
    })

    const pause = (p: Pod<T>): void => {
      if (p.pausedByMerge || p.state !== 'reading') return
      p.pausedByMerge = true
      p.control?.pause()
    }
    const resume = (p: Pod<T>): void => {
      if (!p.pausedByMerge) return
      p.pausedByMerge = false
      if (p.state === 'reading') p.control?.resume()
    }

    const dropQueued = (p: Pod<T>): void => {
      queuedBytes -= p.bytes
      p.chunks = []
      p.bytes = 0
      p.buf = EMPTY
      p.pos = 0
    }
    const unpark = (p: Pod<T>): void => {
      if (!p.held) return
      const set = parked.get(p.held)
      set?.delete(p)
      if (set?.size === 0) parked.delete(p.held)
      p.held = undefined
    }
    /** Ends a pod that failed or was cut off: what it sent and the merge did not write is discarded. */
    const fail = (p: Pod<T>, reason: string): void => {
      if (p.state === 'failed' || p.state === 'done') return
      if (p.state === 'asked') asking--
      p.state = 'failed'
      reasons.set(p.target, reason)
      unpark(p)
      runnable.delete(p)
      dropQueued(p)
      askMore()
      schedule()
    }
    const cut = (p: Pod<T>, reason: string): void => {
      const control = p.control
      fail(p, reason)
      control?.abort()
    }

    const sinkFor = (p: Pod<T>): PodSink => ({
      answered: () => {
        if (p.state !== 'asked') return
        p.state = 'reading'
        asking--
        askMore()
      },
      data: (chunk) => {
        if (p.state !== 'reading') return
        p.chunks.push(chunk)
        p.bytes += chunk.length
        queuedBytes += chunk.length
        if (queuedBytes > maxReadAhead) maxReadAhead = queuedBytes
        if (queuedBytes > readAhead) pause(p)
        if (p.held === undefined) makeRunnable(p)
      },
      end: () => {
        if (p.state !== 'reading') return
        p.state = 'ended'
        p.pausedByMerge = false
        if (p.held === undefined) makeRunnable(p)
      },
      fail: (reason) => fail(p, reason),
    })

    const askMore = (): void => {
      while (asking < o.concurrency && nextToAsk < pods.length && !finished && !late) {
        const p = pods[nextToAsk++]!
        if (p.state !== 'queued') continue
        p.state = 'asked'
        asking++
        p.control = o.open(p.target, sinkFor(p), Math.max(1, start + o.timeoutMs - Date.now()))
      }
    }

    const makeRunnable = (p: Pod<T>): void => {
      if (p.runnable) return
      p.runnable = true
      runnable.add(p)
      schedule()
    }

    /** Makes the pod's next whole line its current one; false until more arrives (or, ended, when none is left). */
    const nextLine = (p: Pod<T>): boolean => {
      for (;;) {
        const nl = p.buf.indexOf(0x0a, p.pos)
        if (nl >= 0) {
          p.lineStart = p.pos
          p.lineEnd = nl
          p.pos = nl + 1
          return true
        }
        const chunk = p.chunks.shift()
        if (chunk) {
          p.bytes -= chunk.length
          queuedBytes -= chunk.length
          // A line cut between two chunks: only its part is copied.
          p.buf = p.pos < p.buf.length ? Buffer.concat([p.buf.subarray(p.pos), chunk]) : chunk
          p.pos = 0
          if (queuedBytes <= readAhead && !blocked) resume(p)
          continue
        }
        if (p.state !== 'ended') {
          // The open family needs what it has not sent yet, read-ahead or not.
          resume(p)
          return false
        }
        if (p.pos >= p.buf.length) return false
        p.lineStart = p.pos
        p.lineEnd = p.buf.length
        p.pos = p.buf.length
        return true
      }
    }

    /** Writes the pod's lines of the open family until it parks, runs out of lines or the client blocks. */
    const run = (p: Pod<T>, until: number): void => {
      const exposition = p.exposition
      while (!blocked && output.total < until) {
        if (p.held !== undefined) {
          unpark(p)
          exposition.read(p.buf, p.lineStart, p.lineEnd)
        } else {
          if (!nextLine(p)) {
            p.runnable = false
            runnable.delete(p)
            if (p.state === 'ended') p.state = 'done'
            return
          }
          if (exposition.read(p.buf, p.lineStart, p.lineEnd) === LineKind.None) continue
        }
        if (open === undefined) openFamily(exposition.family)
        if (exposition.family !== open) {
          park(p, exposition.family, exposition.kind !== LineKind.Sample)
          return
        }
        families.take(exposition, output)
        if (output.pos >= FLUSH_BYTES) output.flush()
      }
    }

    const park = (p: Pod<T>, family: string, header: boolean): void => {
      p.held = family
      p.heldHeader = header
      p.runnable = false
      runnable.delete(p)
      let set = parked.get(family)
      if (!set) {
        set = new Set()
        parked.set(family, set)
      }
      set.add(p)
      if (!met.has(family)) met.set(family, met.size)
    }

    const openFamily = (name: string): void => {
      if (families.written(name)) split++
      open = name
      if (!met.has(name)) met.set(name, met.size)
    }

    /** Whether the open family can take no more lines: no pod is asked, reading it, or yet to read. */
    const closable = (): boolean => pods.every((p) => p.state === 'failed' || p.state === 'done' || p.held !== undefined)

    /** Opens the family most parked pods wait at (the first met of those); false when none waits. */
    const advance = (): boolean => {
      let best: string | undefined
      let bestCount = 0
      for (const [family, set] of parked) {
        if (set.size > bestCount || (set.size === bestCount && met.get(family)! < met.get(best!)!)) {
          best = family
          bestCount = set.size
        }
      }
      if (best === undefined) return false
      openFamily(best)
      // Pods at its HELP or TYPE first, so the family's header comes before any sample.
      const waiting = [...parked.get(best)!].sort((a, b) => Number(b.heldHeader) - Number(a.heldHeader))
      for (const p of waiting) {
        p.runnable = true
        runnable.add(p)
        if (queuedBytes <= readAhead) resume(p)
      }
      return true
    }

    const schedule = (): void => {
      if (scheduled || finished) return
      scheduled = true
      setImmediate(pump)
    }

    function pump(): void {
      scheduled = false
      if (pumping || finished) return
      pumping = true
      try {
        const until = output.total + SLICE_BYTES
        while (!blocked && !finished) {
          const p = runnable.values().next().value as Pod<T> | undefined
          if (p) {
            run(p, until)
            if (output.total >= until) {
              schedule()
              break
            }
            continue
          }
          if (!closable()) break
          if (advance()) continue
          // Every pod is done or failed and nothing waits: the answer ends with up.
          output.string(UP_HELP)
          for (const q of pods) output.string(upLine(q.target, q.state === 'done' ? 1 : 0))
          output.flush()
          o.out.end()
          settle()
          return
        }
        output.flush()
      } finally {
        pumping = false
      }
    }

    timers.push(
      setTimeout(() => {
        late = true
        for (const p of pods) {
          if (p.state === 'queued' || p.state === 'asked' || (p.state === 'reading' && !p.pausedByMerge)) cut(p, 'timeout')
        }
        timers.push(
          setTimeout(() => {
            for (const p of pods) if (p.state === 'reading') cut(p, 'timeout')
          }, o.timeoutMs / 10),
        )
      }, o.timeoutMs),
    )
    askMore()
    schedule()
  })
}
