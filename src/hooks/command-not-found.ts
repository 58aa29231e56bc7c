import type {Hook} from '@oclif/core'

/**
 * An unknown command is a usage error like any other: one line on stderr, exit 2, and the
 * nearest known command when one is close (by edit distance). Runs only when no command matched.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const typed = options.id.replaceAll(':', ' ')
  const known = options.config.commandIDs.map((id) => id.replaceAll(':', ' '))
  const nearest = known.map((id) => ({id, distance: editDistance(typed, id)})).sort((a, b) => a.distance - b.distance)[0]
  const hint = nearest && nearest.distance <= Math.max(2, Math.floor(typed.length / 3)) ? `did you mean "${nearest.id}"? ` : ''
  process.stderr.write(`roster: unknown command "${typed}"; ${hint}run roster --help for the commands\n`)
  this.exit(2)
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

export default hook
