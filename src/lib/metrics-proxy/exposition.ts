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
 * Only what must change is parsed: the metric name and the label set of each sample line (with
 * the format's escapes: \\, \", \n). The value and the optional timestamp are copied as they are,
 * so no float is ever re-formatted. A line that does not parse is dropped and counted. A family
 * whose TYPE disagrees with the type written first is dropped for that pod (mixing them would
 * make the output invalid). Pods' own `up` samples are dropped: `up` is the proxy's.
 *
 * Why not a library: parse-prometheus-text-format (the npm parser) turns the text into nested
 * objects — histogram buckets and summary quantiles grouped, timestamps dropped — which loses
 * what a proxy must pass through and costs an object per sample; prom-client only writes its own
 * registry. Relabelling one line at a time keeps the output exact and the memory at the line.
 */

export interface PodLabels {
  pod: string
  namespace: string
}

/** A line that belongs to a metric family: a HELP or TYPE comment, or a sample. */
export type FamilyLine =
  | {kind: 'help'; family: string; text: string}
  | {kind: 'type'; family: string; text: string}
  | {kind: 'sample'; family: string; line: string; scan: SampleScan}

export const UP_HELP = '# HELP up 1 if the proxy scraped the pod within the timeout, else 0.\n# TYPE up gauge\n'

// Character classes of the text format, by char code (ASCII only: names are ASCII).
const LABEL_START = 1
const LABEL_CHAR = 2
const NAME_START = 4
const NAME_CHAR = 8
const CLASS = Uint8Array.from({length: 128}, (_, c) => {
  const ch = String.fromCharCode(c)
  return (
    (/[a-zA-Z_]/.test(ch) ? LABEL_START : 0) |
    (/[a-zA-Z0-9_]/.test(ch) ? LABEL_CHAR : 0) |
    (/[a-zA-Z_:]/.test(ch) ? NAME_START : 0) |
    (/[a-zA-Z0-9_:]/.test(ch) ? NAME_CHAR : 0)
  )
})
const is = (code: number, cls: number): boolean => code < 128 && (CLASS[code]! & cls) !== 0
const SPACE = 32
const TAB = 9
const blank = (code: number): boolean => code === SPACE || code === TAB

const COMMENT = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/

/** A label value in the text format: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** The family a sample name belongs to, given the TYPE in force (histogram/summary suffixes). */
function familyOf(sample: string, current: string | undefined, type: string | undefined): string {
  if (current === undefined || sample === current) return sample
  if (type === 'histogram' && (sample === `${current}_bucket` || sample === `${current}_sum` || sample === `${current}_count`))
    return current
  if (type === 'summary' && (sample === `${current}_sum` || sample === `${current}_count`)) return current
  return sample
}

/** Parses `name{labels} rest` into its parts; undefined when the line is not a valid sample. */
export function parseSampleLine(line: string): {name: string; labels: Array<[string, string]>; rest: string} | undefined {
  const scan = scanSample(line)
  if (!scan) return undefined
  const labels: Array<[string, string]> = []
  let i = scan.nameEnd
  if (scan.close >= 0) {
    i++
    for (;;) {
      while (blank(line.charCodeAt(i))) i++
      if (i === scan.close) break
      const start = i
      while (is(line.charCodeAt(i), LABEL_CHAR)) i++
      const label = line.slice(start, i)
      i = line.indexOf('"', i) + 1
      const end = labelValueEnd(line, i)
      labels.push([label, line.slice(i, end)])
      i = end + 1
      while (blank(line.charCodeAt(i))) i++
      if (line.charCodeAt(i) === 44) i++ // ','
    }
  }
  return {name: scan.name, labels, rest: line.slice(scan.restStart).trim()}
}

/**
 * The index of the quote that closes a label value starting at `i` (just after its opening
 * quote), or -1 when the value is unterminated or escapes anything but a backslash, a quote or n.
 */
function labelValueEnd(line: string, i: number): number {
  const n = line.length
  for (; i < n; i++) {
    const c = line.charCodeAt(i)
    if (c === 34) return i // '"'
    if (c === 92) {
      // '\\'
      const next = line.charCodeAt(i + 1)
      if (next !== 92 && next !== 34 && next !== 110) return -1
      i++
    }
  }
  return -1
}

export interface SampleScan {
  name: string
  nameEnd: number
  /** Index of the closing brace, or -1 without a label set. */
  close: number
  labels: number
  trailingComma: boolean
  /** A label named pod or namespace: needs renaming (the slow path). */
  clash: boolean
  /** Where the blank before the value starts. */
  restStart: number
}

/** Validates a sample line and finds where labels go, without allocating its labels. */
function scanSample(line: string): SampleScan | undefined {
  const n = line.length
  let i = 0
  if (!is(line.charCodeAt(0), NAME_START)) return undefined
  while (is(line.charCodeAt(i), NAME_CHAR)) i++
  const nameEnd = i
  let close = -1
  let labels = 0
  let trailingComma = false
  let clash = false
  if (line.charCodeAt(i) === 123) {
    // '{'
    i++
    for (;;) {
      while (blank(line.charCodeAt(i))) i++
      if (line.charCodeAt(i) === 125) {
        // '}'
        close = i
        i++
        break
      }
      const start = i
      if (!is(line.charCodeAt(i), LABEL_START)) return undefined
      while (is(line.charCodeAt(i), LABEL_CHAR)) i++
      const len = i - start
      if ((len === 3 && line.startsWith('pod', start)) || (len === 9 && line.startsWith('namespace', start))) clash = true
      while (blank(line.charCodeAt(i))) i++
      if (line.charCodeAt(i) !== 61) return undefined // '='
      i++
      while (blank(line.charCodeAt(i))) i++
      if (line.charCodeAt(i) !== 34) return undefined // '"'
      i = labelValueEnd(line, i + 1)
      if (i < 0) return undefined
      labels++
      i++
      while (blank(line.charCodeAt(i))) i++
      trailingComma = false
      if (line.charCodeAt(i) === 44) {
        trailingComma = true
        i++
      } else if (line.charCodeAt(i) !== 125) return undefined
    }
  }
  const restStart = i
  // The value, then an optional integer timestamp (milliseconds), then nothing but blanks.
  if (!blank(line.charCodeAt(i))) return undefined
  while (blank(line.charCodeAt(i))) i++
  const valueStart = i
  while (i < n && line.charCodeAt(i) > SPACE) i++
  if (i === valueStart) return undefined
  while (blank(line.charCodeAt(i))) i++
  if (i < n) {
    if (line.charCodeAt(i) === 45) i++ // '-'
    const digits = i
    while (i < n && line.charCodeAt(i) >= 48 && line.charCodeAt(i) <= 57) i++
    if (i === digits) return undefined
    while (blank(line.charCodeAt(i))) i++
    if (i < n) return undefined
  }
  return {name: line.slice(0, nameEnd), nameEnd, close, labels, trailingComma, clash, restStart}
}

/**
 * One pod's exposition, line by line: which family each line belongs to (its own TYPE lines
 * decide where a histogram's `_bucket`, `_sum` and `_count` go), and each sample rewritten with
 * the pod's labels. `read` classifies a line without changing what the pod has declared;
 * `accept` records a family line once it is written, so a line can wait (merge.ts parks it)
 * until its family's turn.
 */
export class PodExposition {
  /** The pod's labels as they are inserted into each sample's label set. */
  readonly added: string
  private current: string | undefined
  private readonly declared = new Map<string, string>()
  private readonly refused = new Set<string>()
  /** Lines dropped: unparsable, or of a family whose type conflicts. */
  dropped = 0

  constructor(labels: PodLabels) {
    this.added = `pod="${escapeLabelValue(labels.pod)}",namespace="${escapeLabelValue(labels.namespace)}"`
  }

  /** The family line `line` (no line break) is, or undefined for a line with none (blank, other comment, the pod's own up, unparsable). */
  read(line: string): FamilyLine | undefined {
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1) // '\r'
    const first = line.charCodeAt(0)
    if (first === 35) {
      // '#'
      const m = COMMENT.exec(line)
      if (!m) return undefined
      const [, kind, family, text = ''] = m as unknown as [string, 'HELP' | 'TYPE', string, string?]
      if (family === 'up') {
        this.current = family
        return undefined
      }
      return kind === 'HELP' ? {kind: 'help', family, text} : {kind: 'type', family, text: text.trim()}
    }
    const sample = scanSample(line)
    if (!sample) {
      if (line.trim() !== '') this.dropped++
      return undefined
    }
    const current = this.current
    const family = familyOf(sample.name, current, current === undefined ? undefined : this.declared.get(current))
    if (family === 'up') {
      this.current = family
      return undefined
    }
    return {kind: 'sample', family, line, scan: sample}
  }

  /** Records a family line as read in order: the family it opens, the type it declares. */
  accept(entry: FamilyLine): void {
    this.current = entry.family
    if (entry.kind === 'type') this.declared.set(entry.family, entry.text)
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

  /** The sample line with the pod's labels, a clashing label renamed exported_<name>. */
  rewrite(line: string, scan: SampleScan): string {
    if (!scan.clash) {
      // The common case: insert the labels, copy the rest of the line as it is.
      return scan.close < 0
        ? `${scan.name}{${this.added}}${line.slice(scan.nameEnd)}`
        : `${line.slice(0, scan.close)}${scan.labels > 0 && !scan.trailingComma ? ',' : ''}${this.added}${line.slice(scan.close)}`
    }
    const parsed = parseSampleLine(line)!
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
    parts.push(this.added)
    return `${parsed.name}{${parts.join(',')}} ${parsed.rest}`
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
   * The text to write for a pod's family line (with its line break), or undefined when it adds
   * nothing (a second HELP or TYPE) or is dropped. The pod accepts the line either way.
   */
  take(pod: PodExposition, entry: FamilyLine): string | undefined {
    pod.accept(entry)
    let f = this.families.get(entry.family)
    if (!f) {
      f = {samples: false, help: false}
      this.families.set(entry.family, f)
    }
    if (entry.kind === 'help') {
      if (f.help || f.samples) return undefined
      f.help = true
      return `# HELP ${entry.family} ${entry.text}\n`
    }
    if (entry.kind === 'type') {
      if (f.type === undefined && !f.samples) {
        f.type = entry.text
        return `# TYPE ${entry.family} ${entry.text}\n`
      }
      if (f.type !== entry.text) pod.refuse(entry.family)
      return undefined
    }
    // A family the first writer typed differently, or an untyped sample joining a histogram/summary: dropped.
    if (pod.isRefused(entry.family) || (pod.declaredType(entry.family) === undefined && (f.type === 'histogram' || f.type === 'summary'))) {
      this.dropped++
      return undefined
    }
    f.samples = true
    return `${pod.rewrite(entry.line, entry.scan)}\n`
  }
}

/** The proxy's own `up` sample for a pod: 1 scraped, 0 failed or too slow. */
export function upLine(pod: PodLabels, up: 0 | 1): string {
  return `up{pod="${escapeLabelValue(pod.pod)}",namespace="${escapeLabelValue(pod.namespace)}"} ${up}\n`
}
