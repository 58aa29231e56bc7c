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
 * Every candidate nearest to `word` (case is ignored, so `recordTtl` finds `recordTTL`), in the
 * order given, or none when none is close enough to be a likely typo: at most a third of the
 * word's length, and at least `minLimit`, edits away. Several when they are equally near
 * (`servce` is one edit from both `serve` and `service`): a guess between them would mislead.
 */
export function nearestAll(word: string, candidates: Iterable<string>, minLimit = 1): string[] {
  const w = word.toLowerCase()
  const limit = Math.max(minLimit, Math.floor(w.length / 3))
  let best: string[] = []
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase())
    if (d < bestDistance) {
      best = [c]
      bestDistance = d
    } else if (d === bestDistance && !best.includes(c)) {
      best.push(c)
    }
  }
  return bestDistance <= limit ? best : []
}

/** The first of `nearestAll`: for a single suggestion. */
export function nearest(word: string, candidates: Iterable<string>, minLimit = 1): string | undefined {
  return nearestAll(word, candidates, minLimit)[0]
}

/** The command line's hints (config keys, flags, commands, option values): up to 2 edits for short names, in sorted order. */
export function nearestNames(typed: string, candidates: Iterable<string>): string[] {
  return nearestAll(typed, [...new Set(candidates)].sort(), 2)
}

/** The first of `nearestNames`. */
export function nearestName(typed: string, candidates: Iterable<string>): string | undefined {
  return nearestNames(typed, candidates)[0]
}

/** `did you mean "serve" or "service"?` (`quote` false: `did you mean NAME?`, for names that carry their own punctuation); '' for no names. */
export function didYouMean(names: readonly string[], quote = true): string {
  const shown = names.map((n) => (quote ? JSON.stringify(n) : n))
  if (shown.length === 0) return ''
  const list = shown.length === 1 ? shown[0] : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`
  return `did you mean ${list}?`
}

/** `unknown key "recordTtl" (did you mean "recordTTL"?)`, or the known keys when none is near. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const near = nearestAll(key, known)
  return near.length > 0 ? `unknown key "${key}" (${didYouMean(near)})` : `unknown key "${key}" (known keys: ${known.join(', ')})`
}
