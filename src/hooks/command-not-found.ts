import type {Hook} from '@oclif/core'

import {shortValue} from '../lib/errors.js'
import {nearestName} from '../lib/text/nearest.js'

/**
 * An unknown command is a usage error like any other: one line on stderr, exit 2, and the
 * nearest known command when one is close (the same nearest-name rule as config keys and flags).
 * Runs only when no command matched.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const typed = options.id.replaceAll(':', ' ')
  const known = options.config.commandIDs.map((id) => id.replaceAll(':', ' '))
  const nearest = nearestName(typed, known)
  const hint = nearest ? `did you mean "${nearest}"? ` : ''
  // shortValue quotes and escapes: a typed newline must not break the one-line rule (found by the fuzz test).
  process.stderr.write(`roster: unknown command ${shortValue(typed)}; ${hint}run roster --help for the commands\n`)
  this.exit(2)
}

export default hook
