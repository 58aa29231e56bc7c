/**
 * Lock files, for what two roster processes must not do at once: export file_sd into one
 * directory, refresh one stored login.
 *
 * A lock is a file created atomically with link(2) from a complete temporary file, holding its
 * holder's pid, host, process start time and a random token, so it is never seen half-written
 * and it says who holds it. A lock whose holder is dead (same host, and the pid gone or reused by
 * another process: its /proc start time differs) is stale: it is removed with unlink(2) under a
 * second lock that breakers take (`<lock>.break`), so two processes breaking one stale lock
 * cannot both win, and a fresh lock taken meanwhile is never removed. A lock's age says nothing
 * (a holder may work for long, a dead one's lock may be new), so it is not used; a lock held from
 * another host cannot be checked and is never broken.
 *
 * Node has no flock(2), and a native module for it is not worth a dependency; a pid file checked
 * for liveness needs none, survives a SIGKILL (the next process breaks the stale lock) and shows
 * who holds it.
 */
import {randomUUID} from 'node:crypto'
import {link, open, readFile, stat, unlink} from 'node:fs/promises'
import {hostname} from 'node:os'

import {readTextIfExists} from './read-text.js'

export interface LockHolder {
  pid: number
  host: string
  /** Start time of the holder's process (clock ticks since boot, /proc/PID/stat field 22), when known. */
  startTicks: string | null
  since: string
  token: string
}

export interface LockOptions {
  /** Mode of the lock file (default 0o644). */
  mode?: number
  /** How long to wait for a live holder to let go (default 0: not at all). */
  waitMs?: number
  /** The error thrown when a live holder keeps the lock (holder undefined: the lock file is unreadable). */
  held: (holder: LockHolder | undefined) => Error
}

/** How often a waiting process looks again. */
const POLL_MS = 50
/** Retries without a wait (the lock vanished, or a stale one was broken) before giving up: a livelock guard. */
const MAX_QUICK_RETRIES = 100
/** A `.break` file older than this was left by a breaker that died while holding it. */
const STALE_BREAK_MS = 60_000

export class LockFile {
  private constructor(
    readonly path: string,
    private readonly content: string,
  ) {}

  /** Takes the lock at `path`, breaking a stale one; `options.held(holder)` is thrown when a live holder keeps it. */
  static async acquire(path: string, options: LockOptions): Promise<LockFile> {
    const token = randomUUID()
    const holder: LockHolder = {
      pid: process.pid,
      host: hostname(),
      startTicks: (await processStartTicks(process.pid)) ?? null,
      since: new Date().toISOString(),
      token,
    }
    const content = JSON.stringify(holder) + '\n'
    const tmp = `${path}.tmp-${process.pid}-${token}`
    await writeDurably(tmp, content, options.mode ?? 0o644)
    const deadline = Date.now() + (options.waitMs ?? 0)
    try {
      for (let quick = 0; quick < MAX_QUICK_RETRIES; quick++) {
        try {
          await link(tmp, path)
          return new LockFile(path, content)
        } catch (error) {
          if (errno(error) !== 'EEXIST') throw error
        }
        const text = await readTextIfExists(path)
        if (text === undefined) continue
        const current = parseHolder(text)
        if (current && !(await holderAlive(current))) {
          await breakStaleLock(path, text, tmp)
          continue
        }
        if (Date.now() >= deadline) throw options.held(current)
        await sleep(POLL_MS)
        quick = 0
      }
      throw options.held(parseHolder((await readTextIfExists(path)) ?? ''))
    } finally {
      await unlink(tmp).catch(() => undefined)
    }
  }

  /** Whether the lock file is still this holder's (not removed, not broken and taken by another). */
  async isHeld(): Promise<boolean> {
    return (await readTextIfExists(this.path)) === this.content
  }

  /** Removes the lock file if it is still this holder's. */
  async release(): Promise<void> {
    if (await this.isHeld()) await unlink(this.path).catch(() => undefined)
  }
}

/** "pid 1234 on host since 2026-01-01T00:00:00.000Z", or "an unreadable lock file": who holds a lock, for messages. */
export function describeHolder(holder: LockHolder | undefined): string {
  return holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : 'an unreadable lock file'
}

/**
 * Removes the stale lock `staleText` unless the lock file changed meanwhile. Breakers exclude each
 * other with `<lock>.break` (link(2) again), so that between reading the stale lock and removing
 * it no other breaker can remove it and no process can create a fresh one (link fails while the
 * stale file exists): the unlink removes exactly the stale lock.
 */
async function breakStaleLock(path: string, staleText: string, ownTmp: string): Promise<void> {
  const breakPath = `${path}.break`
  try {
    await link(ownTmp, breakPath)
  } catch (error) {
    if (errno(error) !== 'EEXIST') throw error
    const s = await stat(breakPath).catch(() => undefined)
    if (s && Date.now() - s.mtimeMs > STALE_BREAK_MS) await unlink(breakPath).catch(() => undefined)
    // Another process is breaking it: give it a moment, then look again.
    await sleep(10)
    return
  }
  try {
    if ((await readTextIfExists(path)) === staleText) await unlink(path)
  } finally {
    await unlink(breakPath).catch(() => undefined)
  }
}

/** Start time of a process from /proc (Linux); undefined when it cannot be read. */
async function processStartTicks(pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8')
    // Fields after "(comm)" start at field 3; starttime is field 22.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** false when the holder is certainly dead; true when alive or when that cannot be known (another host). */
async function holderAlive(holder: LockHolder): Promise<boolean> {
  if (holder.host !== hostname()) return true
  try {
    process.kill(holder.pid, 0)
  } catch (error) {
    if (errno(error) === 'ESRCH') return false
  }
  if (holder.startTicks !== null) {
    const now = await processStartTicks(holder.pid)
    if (now !== undefined && now !== holder.startTicks) return false
  }
  return true
}

/** The holder a lock file names; a bare pid (the credentials lock of earlier versions) is a holder on this host. */
function parseHolder(text: string): LockHolder | undefined {
  if (/^\d+\s*$/.test(text)) return {pid: Number(text), host: hostname(), startTicks: null, since: 'an unknown time', token: ''}
  try {
    const h = JSON.parse(text) as Partial<LockHolder>
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string') return h as LockHolder
  } catch {
    // fall through
  }
  return undefined
}

/** Writes a new file (not a replacement) and fsyncs it. */
async function writeDurably(path: string, content: string, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode)
  try {
    await fh.writeFile(content)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
