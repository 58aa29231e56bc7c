/**
 * Kubernetes label selector evaluation for the test API server: equality-based (`a=b`, `a==b`,
 * `a!=b`) and set-based (`a in (x,y)`, `a notin (x)`, `a`, `!a`) requirements joined by commas.
 * A malformed selector throws, which the server turns into a 400 BadRequest Status.
 */
export type LabelPredicate = (labels: Record<string, string> | undefined) => boolean

export function parseLabelSelector(text: string): LabelPredicate {
  const requirements = splitRequirements(text.trim()).map(parseRequirement)
  return (labels) => requirements.every((r) => r(labels ?? {}))
}

function splitRequirements(text: string): string[] {
  if (text === '') return []
  const parts: string[] = []
  let depth = 0
  let current = ''
  for (const ch of text) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      parts.push(current)
      current = ''
    } else current += ch
  }
  parts.push(current)
  return parts.map((p) => p.trim())
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

function key(k: string): string {
  if (!KEY.test(k)) throw new Error(`unable to parse requirement: invalid label key "${k}"`)
  return k
}
function value(v: string): string {
  if (!VALUE.test(v)) throw new Error(`unable to parse requirement: invalid label value: "${v}"`)
  return v
}

function parseRequirement(req: string): (labels: Record<string, string>) => boolean {
  if (req === '') throw new Error("found '', expected: identifier")
  let m = /^(\S+?)\s+(in|notin)\s+\((.*)\)$/.exec(req)
  if (m) {
    const k = key(m[1] ?? '')
    const set = new Set((m[3] ?? '').split(',').map((v) => value(v.trim())))
    return m[2] === 'in' ? (l) => l[k] !== undefined && set.has(l[k]) : (l) => l[k] === undefined || !set.has(l[k])
  }
  m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(req)
  if (m) {
    const k = key(m[1] ?? '')
    const v = value(m[3] ?? '')
    return m[2] === '!=' ? (l) => l[k] !== v : (l) => l[k] === v
  }
  m = /^!\s*(\S+)$/.exec(req)
  if (m) {
    const k = key(m[1] ?? '')
    return (l) => l[k] === undefined
  }
  const k = key(req)
  return (l) => l[k] !== undefined
}
