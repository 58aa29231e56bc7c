/**
 * Merging the Prometheus text exposition (format 0.0.4) of many pods into one, as a scraper would
 * see them with `honor_labels: false`: every sample gets `pod` and `namespace` labels; a sample
 * that already has a label of that name keeps it as `exported_<name>` (again prefixed until it
 * is free, as Prometheus does); HELP and TYPE are written once per family and all samples of a
 * family are written together, whichever pods they came from.
 *
 * Only what must change is parsed: the metric name and the label set of each sample line (with
 * the format's escapes: \\, \", \n). The value and the optional timestamp are copied as they are,
 * so no float is ever re-formatted. A line that does not parse is dropped and counted. A family
 * whose TYPE disagrees with the type another pod declared first is dropped for that pod (mixing
 * them would make the output invalid). Pods' own `up` samples are dropped: `up` is the proxy's.
 *
 * Why not a library: parse-prometheus-text-format (the npm parser) turns the text into nested
 * objects — histogram buckets and summary quantiles grouped, timestamps dropped — which loses
 * what a proxy must pass through and costs an object per sample; prom-client only writes its own
 * registry. Relabelling one line at a time keeps the output exact and the memory at the text.
 */

export interface PodLabels {
  pod: string
  namespace: string
}

interface Family {
  name: string
  help?: string
  type?: string
  lines: string[]
}

const NAME_START = /[a-zA-Z_:]/
const NAME_CHAR = /[a-zA-Z0-9_:]/
const LABEL_START = /[a-zA-Z_]/
const LABEL_CHAR = /[a-zA-Z0-9_]/
/** After the label set: the value, then an optional integer timestamp (milliseconds). */
const REST = /^\S+(?:[ \t]+-?\d+)?$/

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
  let i = 0
  const n = line.length
  if (i >= n || !NAME_START.test(line[i] as string)) return undefined
  while (i < n && NAME_CHAR.test(line[i] as string)) i++
  const name = line.slice(0, i)
  const labels: Array<[string, string]> = []
  if (line[i] === '{') {
    i++
    for (;;) {
      while (line[i] === ' ' || line[i] === '\t') i++
      if (line[i] === '}') {
        i++
        break
      }
      const start = i
      if (i >= n || !LABEL_START.test(line[i] as string)) return undefined
      while (i < n && LABEL_CHAR.test(line[i] as string)) i++
      const label = line.slice(start, i)
      while (line[i] === ' ' || line[i] === '\t') i++
      if (line[i] !== '=') return undefined
      i++
      while (line[i] === ' ' || line[i] === '\t') i++
      if (line[i] !== '"') return undefined
      i++
      const valueStart = i
      i = labelValueEnd(line, i)
      if (i < 0) return undefined
      labels.push([label, line.slice(valueStart, i)])
      i++
      while (line[i] === ' ' || line[i] === '\t') i++
      if (line[i] === ',') i++
      else if (line[i] !== '}') return undefined
    }
  }
  if (line[i] !== ' ' && line[i] !== '\t') return undefined
  const rest = line.slice(i).trim()
  if (!REST.test(rest)) return undefined
  return {name, labels, rest}
}

/**
 * The index of the quote that closes a label value starting at `i` (just after its opening
 * quote), or -1 when the value is unterminated or escapes anything but a backslash, a quote or n.
 */
function labelValueEnd(line: string, i: number): number {
  const n = line.length
  while (i < n && line[i] !== '"') {
    if (line[i] === '\\') {
      const next = line[i + 1]
      if (next !== '\\' && next !== '"' && next !== 'n') return -1
      i += 2
    } else i++
  }
  return i >= n ? -1 : i
}

interface Scan {
  name: string
  nameEnd: number
  /** Index of the closing brace, or -1 without a label set. */
  close: number
  labels: number
  trailingComma: boolean
  /** A label named pod or namespace: needs renaming (the slow path). */
  clash: boolean
}

/** Validates a sample line and finds where labels go, without allocating its labels. */
function scanSample(line: string): Scan | undefined {
  let i = 0
  const n = line.length
  if (i >= n || !NAME_START.test(line[i] as string)) return undefined
  while (i < n && NAME_CHAR.test(line[i] as string)) i++
  const nameEnd = i
  let close = -1
  let labels = 0
  let trailingComma = false
  let clash = false
  if (line[i] === '{') {
    i++
    for (;;) {
      while (line[i] === ' ' || line[i] === '\t') i++
      if (line[i] === '}') {
        close = i
        i++
        break
      }
      const start = i
      if (i >= n || !LABEL_START.test(line[i] as string)) return undefined
      while (i < n && LABEL_CHAR.test(line[i] as string)) i++
      const len = i - start
      if ((len === 3 && line.startsWith('pod', start)) || (len === 9 && line.startsWith('namespace', start))) clash = true
      while (line[i] === ' ' || line[i] === '\t') i++
      if (line[i] !== '=') return undefined
      i++
      while (line[i] === ' ' || line[i] === '\t') i++
      if (line[i] !== '"') return undefined
      i = labelValueEnd(line, i + 1)
      if (i < 0) return undefined
      labels++
      i++
      while (line[i] === ' ' || line[i] === '\t') i++
      trailingComma = false
      if (line[i] === ',') {
        trailingComma = true
        i++
      } else if (line[i] !== '}') return undefined
    }
  }
  if (line[i] !== ' ' && line[i] !== '\t') return undefined
  if (!REST.test(line.slice(i).trim())) return undefined
  return {name: line.slice(0, nameEnd), nameEnd, close, labels, trailingComma, clash}
}

/** The merged exposition of many pods. Add each pod's text, then `write()`. */
export class ExpositionMerger {
  private readonly families = new Map<string, Family>()
  private readonly up: string[] = []
  /** Lines dropped: unparsable, or of a family whose type conflicts. */
  dropped = 0

  private family(name: string): Family {
    let f = this.families.get(name)
    if (!f) {
      f = {name, lines: []}
      this.families.set(name, f)
    }
    return f
  }

  /** Adds one pod's scrape (its text) with the pod's labels; returns the samples kept. */
  addPod(text: string, pod: PodLabels): number {
    const added = `pod="${escapeLabelValue(pod.pod)}",namespace="${escapeLabelValue(pod.namespace)}"`
    let current: string | undefined
    let currentType: string | undefined
    const declared = new Map<string, string>()
    const refused = new Set<string>()
    let kept = 0
    let start = 0
    const n = text.length
    while (start < n) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = n
      let line = text.slice(start, end)
      start = end + 1
      if (line.endsWith('\r')) line = line.slice(0, -1)
      if (line.trim() === '') continue
      if (line.startsWith('#')) {
        const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s(.*))?$/.exec(line)
        if (!m) continue
        const [, kind, name, value = ''] = m as unknown as [string, string, string, string?]
        if (name === 'up') {
          current = name
          currentType = undefined
          continue
        }
        const f = this.family(name)
        if (kind === 'HELP') {
          f.help ??= value
        } else {
          const type = value.trim()
          declared.set(name, type)
          if (f.type === undefined && f.lines.length === 0) f.type = type
          else if (f.type !== type) refused.add(name)
        }
        current = name
        currentType = declared.get(name)
        continue
      }
      const sample = scanSample(line)
      if (!sample) {
        this.dropped++
        continue
      }
      const familyName = familyOf(sample.name, current, currentType)
      if (familyName !== current) {
        current = familyName
        currentType = declared.get(familyName)
      }
      if (familyName === 'up') continue
      const f = this.family(familyName)
      // A family another pod typed differently, or an untyped sample joining a histogram/summary: dropped.
      if (refused.has(familyName) || (currentType === undefined && (f.type === 'histogram' || f.type === 'summary'))) {
        this.dropped++
        continue
      }
      if (!sample.clash) {
        // The common case: insert the labels, copy the rest of the line as it is.
        f.lines.push(
          sample.close < 0
            ? `${sample.name}{${added}}${line.slice(sample.nameEnd)}`
            : `${line.slice(0, sample.close)}${sample.labels > 0 && !sample.trailingComma ? ',' : ''}${added}${line.slice(sample.close)}`,
        )
        kept++
        continue
      }
      const parsed = parseSampleLine(line) as NonNullable<ReturnType<typeof parseSampleLine>>
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
      parts.push(added)
      f.lines.push(`${parsed.name}{${parts.join(',')}} ${parsed.rest}`)
      kept++
    }
    return kept
  }

  /** Records the proxy's own `up` for a pod: 1 scraped, 0 failed or too slow. */
  addUp(pod: PodLabels, up: 0 | 1): void {
    this.up.push(`up{pod="${escapeLabelValue(pod.pod)}",namespace="${escapeLabelValue(pod.namespace)}"} ${up}`)
  }

  /** The merged text in pieces (one per family, then `up`), to stream without building one string. */
  *chunks(): Generator<string> {
    for (const f of this.families.values()) {
      if (f.lines.length === 0) continue
      const head: string[] = []
      if (f.help !== undefined) head.push(`# HELP ${f.name} ${f.help}\n`)
      if (f.type !== undefined) head.push(`# TYPE ${f.name} ${f.type}\n`)
      yield `${head.join('')}${f.lines.join('\n')}\n`
    }
    const up = ['# HELP up 1 if the proxy scraped the pod within the timeout, else 0.', '# TYPE up gauge', ...this.up]
    yield `${up.join('\n')}\n`
  }

  /** The merged text: each family once (HELP, TYPE, samples), then `up`. */
  write(): string {
    return [...this.chunks()].join('')
  }
}
