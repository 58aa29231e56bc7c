/**
 * The conflicts of backup, restore and migrate, with what the user types about each: the library
 * says what is wrong, the command layer names the flag that overrides it.
 */
import {ConflictError} from '../lib/errors.js'
import {RegistryNotEmptyError, RestoreIncompleteError} from '../lib/registry/backup/restore.js'
import {InterruptedRestoreError} from '../lib/registry/backup/write-backup.js'

/** `error` with the way out: --replace replaces a registry's content, or finishes an interrupted restore. */
export function withReplaceHint(error: unknown, command = 'roster registry restore'): unknown {
  if (error instanceof RegistryNotEmptyError) return new ConflictError(`${error.message}; ${command} --replace replaces what it holds`)
  if (error instanceof InterruptedRestoreError || error instanceof RestoreIncompleteError) {
    return new ConflictError(`${error.message}; ${command} --replace finishes it`)
  }
  return error
}
