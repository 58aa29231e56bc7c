import type {Hook} from '@oclif/core'

import {shortValue} from '../lib/errors.js'
import {didYouMean, nearestNames} from '../lib/text/nearest.js'

/**
 * An unknown command is a usage error like any other: one line on stderr, exit 2, and every
 * known command or topic nearest to it (the same nearest-name rule as config keys and flags):
 * `roster servce` is one edit from both `serve` and `service`, and names both.
 * Runs only when no command matched.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const typed = options.id.replaceAll(':', ' ')
  const known = [...options.config.commandIDs, ...options.config.topics.map((t) => t.name)].map((id) => id.replaceAll(':', ' '))
  const hint = didYouMean(nearestNames(typed, known))
  // shortValue quotes and escapes: a typed newline must not break the one-line rule (found by the fuzz test).
  process.stderr.write(`roster: unknown command ${shortValue(typed)}; ${hint ? `${hint} ` : ''}run roster --help for the commands\n`)
  this.exit(2)
}

export default hook
