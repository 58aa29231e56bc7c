/**
 * The nearest name to a mistyped one, for "did you mean ...?" hints (config keys, flags,
 * commands). Optimal string alignment distance: a swap of two neighbours (`regsitry`) is one
 * edit. A name counts as near when at most max(2, a third of its length) edits away.
 * (Small and local on purpose; a shared src/lib/text/nearest.ts may replace it.)
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({length: a.length + 1}, (_, i) => [i])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}

/** The candidate nearest to `typed`, when near enough; ties go to the first in sorted order. */
export function nearestName(typed: string, candidates: Iterable<string>): string | undefined {
  let best: {name: string; distance: number} | undefined
  for (const name of [...new Set(candidates)].sort()) {
    const distance = editDistance(typed.toLowerCase(), name.toLowerCase())
    if (!best || distance < best.distance) best = {name, distance}
  }
  if (!best) return undefined
  return best.distance <= Math.max(2, Math.floor(typed.length / 3)) ? best.name : undefined
}
