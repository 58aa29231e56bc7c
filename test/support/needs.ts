/**
 * What a test needs from the machine (root, a tool) and is not there: a skip reason on a
 * developer's machine, a failure under CI=true, where every need is installed and a skip would
 * hide a test that never ran.
 */
import {spawnSync} from 'node:child_process'

export const underCi = process.env.CI === 'true'

/** `reason` (why the test cannot run here) as a skip reason, or thrown under CI=true; false when nothing is missing. */
export function skipUnlessCi(reason: string | false | undefined): string | false {
  if (!reason) return false
  if (underCi) throw new Error(`${reason}: under CI=true this is a failure, not a skip`)
  return reason
}

export const isRoot = process.getuid?.() === 0

/** Skip (or, under CI=true, fail) unless the tests run as root; `why` says what root is needed for. */
export function needsRoot(why: string): string | false {
  return skipUnlessCi(isRoot ? false : `needs root ${why}`)
}

/** Skip (or, under CI=true, fail) unless `command` (a tool asked for its version) runs and exits 0. */
export function needsTool(command: string[], install: string): string | false {
  const run = spawnSync(command[0]!, command.slice(1), {stdio: 'ignore'})
  return skipUnlessCi(run.error || run.status !== 0 ? `${command[0]} is not installed (${install})` : false)
}
