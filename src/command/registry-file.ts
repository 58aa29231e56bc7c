/**
 * A command that fails never leaves a new, empty registry file behind: when the SQLite file did
 * not exist before the command opened it, and the command failed with nothing stored, the file
 * (and its -wal, -shm and -journal companions) is removed. A file that holds anything, or that
 * another process wrote meanwhile, is kept.
 */
import {existsSync, rmSync} from 'node:fs'

import type {Store} from '../lib/store/store.js'
import {parseRegistry} from '../lib/store/open-store.js'

/** The SQLite file a registry value names, when opening it for writing will create it; else undefined. */
export function registryFileToCreate(registry: string | undefined): string | undefined {
  let target: ReturnType<typeof parseRegistry>
  try {
    target = parseRegistry(registry)
  } catch {
    return undefined // opening it fails with the message the user needs
  }
  if (target.kind !== 'sqlite' || target.path === ':memory:' || existsSync(target.path)) return undefined
  return target.path
}

/** Whether the store holds no key at all. */
export async function holdsNoKey(store: Store): Promise<boolean> {
  for await (const page of store.range('', {pageSize: 1})) return page.kvs.length === 0
  return true
}

/** Removes a registry file and its companions. */
export function removeRegistryFile(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, {force: true})
}
