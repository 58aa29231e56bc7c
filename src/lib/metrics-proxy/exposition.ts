/**
 * The Prometheus text exposition (format 0.0.4) of many pods merged into one, as a scraper would
 * see them with `honor_labels: false`: every sample gets `pod` and `namespace` labels; a sample
 * that already has a label of that name keeps it as `exported_<name>` (again prefixed until it
 * is free, as Prometheus does); HELP and TYPE are written once per family, before its samples.
 *
 * This file reads and rewrites one line at a time (`PodExposition`, one per pod) and keeps the
 * families of the merged answer (`MergedFamilies`); merge.ts decides which pod's lines go out
 * when, so that a family's lines stay together.
 *
 * Lines are read and written as bytes, as they came: a sample line costs no string and no
 * object, so a large answer passes through without filling the heap. Only what must change is
 * parsed: the metric name and the label set of each sample line (with the format's escapes: \\,
 * \", \n). The value and the optional timestamp are copied as they are, so no float is ever
 * re-formatted. A line that does not parse is dropped and counted. A family whose TYPE disagrees
 * with the type written first is dropped for that pod (mixing them would make the output
 * invalid). Pods' own `up` samples are dropped: `up` is the proxy's.
 *
 * Why not a library: parse-prometheus-text-format (the npm parser) turns the text into nested
 * objects — histogram buckets and summary quantiles grouped, timestamps dropped — which loses
 * what a proxy must pass through and costs an object per sample; prom-client only writes its own
 * registry.
 */

export interface PodLabels {
  pod: string
  namespace: string
}

export const UP_HELP = '# HELP up 1 if the proxy scraped the pod within the timeout, else 0.\n# TYPE up gauge\n'

// Character classes of the text format, by byte (names are ASCII).
const LABEL_START = 1
const LABEL_CHAR = 2
const NAME_START = 4
const NAME_CHAR = 8
const CLASS = Uint8Array.from({length: 256}, (_, c) => {
  const ch = c < 128 ? String.fromCharCode(c) : ''
  return (
    (/^[a-zA-Z_]$/.test(ch) ? LABEL_START : 0) |
    (/^[a-zA-Z0-9_]$/.test(ch) ? LABEL_CHAR : 0) |
    (/^[a-zA-Z_:]$/.test(ch) ? NAME_START : 0) |
    (/^[a-zA-Z0-9_:]$/.test(ch) ? NAME_CHAR : 0)
  )
})
const SPACE = 0x20
const TAB = 0x09
const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const OPEN = 0x7b
const CLOSE = 0x7d
const NL = 0x0a
const POD = Buffer.from('pod')
const NAMESPACE = Buffer.from('namespace')

const COMMENT = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/

/** What a line is, for its family: none (blank, other comment, the pod's own up, unparsable). */
export const enum LineKind {
  None,
  Help,
  Type,
  Sample,
}

/** Where a sample line's parts are (absolute offsets into its buffer). */
interface SampleScan {
  nameEnd: number
  /** The closing brace, or -1 without a label set. */
  close: number
  labels: number
  trailingComma: boolean
  /** A label named pod or namespace: needs renaming (the slow path). */
  clash: boolean
  /** Where the blank before the value starts. */
  restStart: number
}

const newScan = (): SampleScan => ({nameEnd: 0, close: -1, labels: 0, trailingComma: false, clash: false, restStart: 0})

/** A label value in the text format: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/**
 * The index of the quote that closes a label value starting at `i` (just after its opening
 * quote), or -1 when the value is unterminated or escapes anything but a backslash, a quote or n.
 */
function labelValueEnd(b: Uint8Array, i: number, end: number): number {
  for (; i < end; i++) {
    const c = b[i]
    if (c === QUOTE) return i
    if (c === BACKSLASH) {
      const next = b[i + 1]
      if (next !== BACKSLASH && next !== QUOTE && next !== 0x6e) return -1 // n
      i++
    }
  }
  return -1
}

/** Whether b[at, at + ascii.length) is `ascii`. */
function sameBytes(b: Uint8Array, at: number, ascii: Uint8Array): boolean {
  for (let i = 0; i < ascii.length; i++) if (b[at + i] !== ascii[i]) return false
  return true
}

const blank = (b: Uint8Array, k: number, end: number): boolean => k < end && (b[k] === SPACE || b[k] === TAB)

/** Validates the sample line b[start, end) into `s`, without allocating; false when it is not one. */
function scanSample(b: Uint8Array, start: number, end: number, s: SampleScan): boolean {
  let i = start
  if (i >= end || !(CLASS[b[i]!]! & NAME_START)) return false
  while (i < end && CLASS[b[i]!]! & NAME_CHAR) i++
  s.nameEnd = i
  s.close = -1
  s.labels = 0
  s.trailingComma = false
  s.clash = false
  if (i < end && b[i] === OPEN) {
    i++
    for (;;) {
      while (blank(b, i, end)) i++
      if (i < end && b[i] === CLOSE) {
        s.close = i
        i++
        break
      }
      const labelStart = i
      if (i >= end || !(CLASS[b[i]!]! & LABEL_START)) return false
      while (i < end && CLASS[b[i]!]! & LABEL_CHAR) i++
      const len = i - labelStart
      if ((len === 3 && sameBytes(b, labelStart, POD)) || (len === 9 && sameBytes(b, labelStart, NAMESPACE))) s.clash = true
      while (blank(b, i, end)) i++
      if (i >= end || b[i] !== 0x3d) return false // '='
      i++
      while (blank(b, i, end)) i++
      if (i >= end || b[i] !== QUOTE) return false
      i = labelValueEnd(b, i + 1, end)
      if (i < 0) return false
      s.labels++
      i++
      while (blank(b, i, end)) i++
      s.trailingComma = false
      if (i < end && b[i] === COMMA) {
        s.trailingComma = true
        i++
      } else if (i >= end || b[i] !== CLOSE) return false
    }
  }
  s.restStart = i
  // The value, then an optional integer timestamp (milliseconds), then nothing but blanks.
  if (!blank(b, i, end)) return false
  while (blank(b, i, end)) i++
  const valueStart = i
  while (i < end && b[i]! > SPACE) i++
  if (i === valueStart) return false
  while (blank(b, i, end)) i++
  if (i < end) {
    if (b[i] === 0x2d) i++ // '-'
    const digits = i
    while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39) i++
    if (i === digits) return false
    while (blank(b, i, end)) i++
    if (i < end) return false
  }
  return true
}

/** The parts of the sample line b[start, end) with a valid scan `s`; label values stay escaped. */
function sampleParts(b: Buffer, start: number, end: number, s: SampleScan): {name: string; labels: Array<[string, string]>; rest: string} {
  const labels: Array<[string, string]> = []
  if (s.close >= 0) {
    let i = s.nameEnd + 1
    for (;;) {
      while (b[i] === SPACE || b[i] === TAB) i++
      if (i === s.close) break
      const labelStart = i
      while (CLASS[b[i]!]! & LABEL_CHAR) i++
      const label = b.toString('latin1', labelStart, i)
      i = b.indexOf(QUOTE, i) + 1
      const valueEnd = labelValueEnd(b, i, end)
      labels.push([label, b.toString('utf8', i, valueEnd)])
      i = valueEnd + 1
      while (b[i] === SPACE || b[i] === TAB) i++
      if (b[i] === COMMA) i++
    }
  }
  return {name: b.toString('latin1', start, s.nameEnd), labels, rest: b.toString('utf8', s.restStart, end).trim()}
}

/** Parses `name{labels} rest` into its parts; undefined when the line is not a valid sample. */
export function parseSampleLine(line: string): {name: string; labels: Array<[string, string]>; rest: string} | undefined {
  const b = Buffer.from(line)
  const s = newScan()
  return scanSample(b, 0, b.length, s) ? sampleParts(b, 0, b.length, s) : undefined
}

/**
 * Bytes gathered for the client: whole lines appended to a buffer, handed to `send` in pieces
 * of about `size` bytes (a longer line gets a piece of its own). `send` calls `done` once the
 * piece is written out; its buffer is then used again, so a long answer allocates a few
 * buffers, not one per piece for the garbage collector to find.
 */
export class ByteOutput {
  private buf: Buffer
  private readonly free: Buffer[] = []
  pos = 0
  /** Bytes appended in all. */
  total = 0

  constructor(
    private readonly size: number,
    private readonly send: (piece: Buffer, done: () => void) => void,
  ) {
    this.buf = Buffer.allocUnsafe(size)
  }

  /** Makes room for `n` more bytes from `pos` on, sending what is gathered first if they do not fit. */
  reserve(n: number): Buffer {
    if (this.pos + n > this.buf.length) {
      this.flush()
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n)
    }
    return this.buf
  }

  /** Takes the bytes written into the buffer up to `end`. */
  commit(end: number): void {
    this.total += end - this.pos
    this.pos = end
  }

  string(text: string): void {
    const buf = this.reserve(Buffer.byteLength(text))
    this.commit(this.pos + buf.write(text, this.pos))
  }

  flush(): void {
    if (this.pos === 0) return
    const full = this.buf
    const piece = full.subarray(0, this.pos)
    this.buf = this.free.pop() ?? Buffer.allocUnsafe(this.size)
    this.pos = 0
    this.send(piece, () => {
      if (full.length === this.size) this.free.push(full)
    })
  }
}

/** Copies b[start, end) to out at `at`; returns where it ended. A loop: lines are short, and Buffer#copy makes a view per call. */
function copyBytes(b: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
  for (let i = start; i < end; i++) out[at++] = b[i]!
  return at
}

/**
 * One pod's exposition, line by line: which family each line belongs to (its own TYPE lines
 * decide where a histogram's `_bucket`, `_sum` and `_count` go), and each sample rewritten with
 * the pod's labels. `read` classifies a line, leaving what it found in `kind`, `family` and
 * `text`, without changing what the pod has declared; the merge may then hold the line (park
 * the pod) and read it again at its family's turn, when `MergedFamilies.take` writes it and the
 * pod accepts it.
 */
export class PodExposition {
  /** The pod's labels as they are inserted into each sample's label set. */
  private readonly added: Buffer
  private current: string | undefined
  private currentBytes: Buffer | undefined
  private readonly declared = new Map<string, string>()
  private readonly refused = new Set<string>()
  /** Lines dropped: unparsable. */
  dropped = 0

  // What the last `read` found.
  kind = LineKind.None
  family = ''
  /** A HELP line's text, a TYPE line's type. */
  text = ''
  private line: Buffer = Buffer.alloc(0)
  private start = 0
  private end = 0
  private readonly scan = newScan()

  constructor(labels: PodLabels) {
    this.added = Buffer.from(`pod="${escapeLabelValue(labels.pod)}",namespace="${escapeLabelValue(labels.namespace)}"`)
  }

  /** Classifies the line b[start, end) (no line break). */
  read(b: Buffer, start: number, end: number): LineKind {
    if (end > start && b[end - 1] === 0x0d) end-- // '\r'
    this.line = b
    this.start = start
    this.end = end
    this.kind = LineKind.None
    if (start < end && b[start] === 0x23) {
      // '#'
      const m = COMMENT.exec(b.toString('utf8', start, end))
      if (!m) return LineKind.None
      const [, kind, family, text = ''] = m as unknown as [string, 'HELP' | 'TYPE', string, string?]
      if (family === 'up') {
        this.own()
        return LineKind.None
      }
      this.family = family
      this.text = kind === 'HELP' ? text : text.trim()
      return (this.kind = kind === 'HELP' ? LineKind.Help : LineKind.Type)
    }
    const s = this.scan
    if (!scanSample(b, start, end, s)) {
      for (let i = start; i < end; i++) {
        if (b[i] !== SPACE && b[i] !== TAB) {
          this.dropped++
          break
        }
      }
      return LineKind.None
    }
    this.family = this.familyOf(b, start, s.nameEnd)
    if (this.family === 'up') {
      this.own()
      return LineKind.None
    }
    return (this.kind = LineKind.Sample)
  }

  /** A line of the pod's own `up`: it opens that family (dropped) for the lines that follow. */
  private own(): void {
    this.current = 'up'
    this.currentBytes = Buffer.from('up')
  }

  /** The family of a sample named b[start, nameEnd), given the TYPE in force (histogram/summary suffixes). */
  private familyOf(b: Buffer, start: number, nameEnd: number): string {
    const cur = this.currentBytes
    const current = this.current
    if (cur !== undefined && current !== undefined && nameEnd - start >= cur.length && sameBytes(b, start, cur)) {
      const rest = nameEnd - start - cur.length
      if (rest === 0) return current
      const type = this.declared.get(current)
      if (type === 'histogram' || type === 'summary') {
        const suffix = b.toString('latin1', start + cur.length, nameEnd)
        if (suffix === '_sum' || suffix === '_count' || (type === 'histogram' && suffix === '_bucket')) return current
      }
    }
    return b.toString('latin1', start, nameEnd)
  }

  /** Records the line last read as written in order: the family it opens, the type it declares. */
  accept(): void {
    if (this.family !== this.current) {
      this.current = this.family
      this.currentBytes = Buffer.from(this.family, 'latin1')
    }
    if (this.kind === LineKind.Type) this.declared.set(this.family, this.text)
  }

  declaredType(family: string): string | undefined {
    return this.declared.get(family)
  }

  refuse(family: string): void {
    this.refused.add(family)
  }

  isRefused(family: string): boolean {
    return this.refused.has(family)
  }

  /** Writes the sample last read with the pod's labels, a clashing label renamed exported_<name>. */
  rewrite(out: ByteOutput): void {
    const {line: b, start, end, scan: s, added} = this
    if (s.clash) {
      const parsed = sampleParts(b, start, end, s)
      const taken = new Set(parsed.labels.map(([k]) => k))
      const parts: string[] = []
      for (const [k, v] of parsed.labels) {
        let label = k
        if (label === 'pod' || label === 'namespace') {
          label = `exported_${label}`
          while (taken.has(label)) label = `exported_${label}`
          taken.add(label)
        }
        parts.push(`${label}="${v}"`)
      }
      out.string(`${parsed.name}{${parts.join(',')},${added.toString()}} ${parsed.rest}\n`)
      return
    }
    // The common case: insert the labels, copy the rest of the line as it is.
    const buf = out.reserve(end - start + added.length + 3)
    let at = out.pos
    if (s.close < 0) {
      at = copyBytes(b, start, s.nameEnd, buf, at)
      buf[at++] = OPEN
      at = copyBytes(added, 0, added.length, buf, at)
      buf[at++] = CLOSE
      at = copyBytes(b, s.nameEnd, end, buf, at)
    } else {
      at = copyBytes(b, start, s.close, buf, at)
      if (s.labels > 0 && !s.trailingComma) buf[at++] = COMMA
      at = copyBytes(added, 0, added.length, buf, at)
      at = copyBytes(b, s.close, end, buf, at)
    }
    buf[at++] = NL
    out.commit(at)
  }
}

interface Family {
  type?: string
  /** A sample of it is written: no HELP or TYPE may follow. */
  samples: boolean
  help: boolean
}

/** The families of the merged answer: what each has had written, so HELP and TYPE go once. */
export class MergedFamilies {
  private readonly families = new Map<string, Family>()
  /** Samples dropped because their family's type conflicts. */
  dropped = 0

  /** Whether any line of the family was written. */
  written(name: string): boolean {
    const f = this.families.get(name)
    return f !== undefined && (f.samples || f.help || f.type !== undefined)
  }

  /**
   * Writes the family line the pod last read, unless it adds nothing (a second HELP or TYPE) or
   * is dropped; the pod accepts the line either way.
   */
  take(pod: PodExposition, out: ByteOutput): void {
    const name = pod.family
    pod.accept()
    let f = this.families.get(name)
    if (!f) {
      f = {samples: false, help: false}
      this.families.set(name, f)
    }
    if (pod.kind === LineKind.Help) {
      if (f.help || f.samples) return
      f.help = true
      out.string(`# HELP ${name} ${pod.text}\n`)
      return
    }
    if (pod.kind === LineKind.Type) {
      if (f.type === undefined && !f.samples) {
        f.type = pod.text
        out.string(`# TYPE ${name} ${pod.text}\n`)
      } else if (f.type !== pod.text) pod.refuse(name)
      return
    }
    // A family the first writer typed differently, or an untyped sample joining a histogram/summary: dropped.
    if (pod.isRefused(name) || (pod.declaredType(name) === undefined && (f.type === 'histogram' || f.type === 'summary'))) {
      this.dropped++
      return
    }
    f.samples = true
    pod.rewrite(out)
  }
}

/** The proxy's own `up` sample for a pod: 1 scraped, 0 failed or too slow. */
export function upLine(pod: PodLabels, up: 0 | 1): string {
  return `up{pod="${escapeLabelValue(pod.pod)}",namespace="${escapeLabelValue(pod.namespace)}"} ${up}\n`
}
