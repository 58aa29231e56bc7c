/** Durations as users type them (`500ms`, `10s`, `1h30m`) turned into milliseconds, and milliseconds shown in messages. */
import {InvalidInputError} from '../errors.js'

const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}

/**
 * "500ms", "10s", "1m", "1h30m", or a bare number of seconds → milliseconds.
 * Hand-written: `ms` and friends do not take compound values like "1m30s".
 */
export function parseDuration(value: string, field: string): number {
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  let total = 0
  let matched = 0
  for (let m = part.exec(text); m; m = part.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000)
    matched = part.lastIndex
  }
  if (matched === 0 || matched !== text.length || total <= 0) {
    throw InvalidInputError.forField(field, value, 'expected a duration such as 500ms, 10s, 1m or 1h30m')
  }
  return Math.round(total)
}

/** "2s", "1.5s", "250ms": a duration for error messages. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  return `${Number.isInteger(s) ? s : s.toFixed(1)}s`
}
