/**
 * "Did you mean": the known word nearest to a mistyped one, for errors about unknown keys, flags
 * and commands (record files, config files, import documents, the command line).
 */

/** Edit distance: insertions, deletions, substitutions and swaps of two neighbours each cost 1 (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0
  let before = new Array<number>(b.length + 1).fill(0)
  let previous = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1)
      current.push(d)
    }
    before = previous
    previous = current
  }
  return previous[b.length] as number
}

/**
 * The candidate nearest to `word` (case is ignored, so `recordTtl` finds `recordTTL`), or
 * undefined when none is close enough to be a likely typo: at most a third of the word's length,
 * and at least `minLimit`, edits away. Ties go to the candidate listed first.
 */
export function nearest(word: string, candidates: Iterable<string>, minLimit = 1): string | undefined {
  const w = word.toLowerCase()
  const limit = Math.max(minLimit, Math.floor(w.length / 3))
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return bestDistance <= limit ? best : undefined
}

/** The command line's hint (config keys, flags, commands): up to 2 edits for short names; ties go to the first in sorted order. */
export function nearestName(typed: string, candidates: Iterable<string>): string | undefined {
  return nearest(typed, [...new Set(candidates)].sort(), 2)
}

/** `unknown key "recordTtl" (did you mean "recordTTL"?)`, or the known keys when none is near. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const near = nearest(key, known)
  return near !== undefined ? `unknown key "${key}" (did you mean "${near}"?)` : `unknown key "${key}" (known keys: ${known.join(', ')})`
}
