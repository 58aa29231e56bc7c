/**
 * Durations: one grammar for every duration roster reads, from a flag, the environment, a config
 * file or the HTTP API. A whole number and a unit, largest unit first, each unit at most once:
 * `500ms`, `30s`, `5m`, `1h30m`, `7d`, `2w`, `1y` (a year is 365 days). It is Prometheus'
 * duration grammar, so an operator writes the same thing in prometheus.yml and here. No bare
 * numbers (is `30` seconds or minutes?), except `0` where a setting allows zero.
 *
 * One range too: longer than 0 (unless zero is allowed) and at most MAX_DURATION_MS, unless a
 * setting narrows it. A value that ends up in a timer goes through `timerMs`: setTimeout takes at
 * most 2^31-1 ms and fires at once when given more.
 */
import {InvalidInputError} from '../errors.js'

const SECOND_MS = 1000
const MINUTE_MS = 60 * SECOND_MS
const HOUR_MS = 60 * MINUTE_MS
const DAY_MS = 24 * HOUR_MS
const YEAR_MS = 365 * DAY_MS

/** The units, largest first, as the grammar orders them. */
const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['y', YEAR_MS],
  ['w', 7 * DAY_MS],
  ['d', DAY_MS],
  ['h', HOUR_MS],
  ['m', MINUTE_MS],
  ['s', SECOND_MS],
  ['ms', 1],
]

const PATTERN = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/

/** The longest duration any setting takes: a token lifetime of ten years; a longer one is a typo. */
export const MAX_DURATION_MS = 10 * YEAR_MS

/** The longest delay setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** The reason every malformed duration gets. */
export const DURATION_EXPECTED = 'expected a duration such as 500ms, 30s, 1h30m or 7d (a whole number and a unit: ms, s, m, h, d, w, y)'

export interface DurationRange {
  /** Whether `0` is allowed (it is not, by default). */
  zero?: boolean
  /** The longest allowed; default MAX_DURATION_MS. */
  maxMs?: number
}

/**
 * A duration as typed → milliseconds. InvalidInputError naming `field` (a setting, as in the config
 * file) when it is malformed or out of range.
 */
export function parseDuration(value: unknown, field: string, range: DurationRange = {}): number {
  const text = typeof value === 'string' ? value.trim() : ''
  const m = text === '0' ? undefined : PATTERN.exec(text)
  if (text !== '0' && (text === '' || !m)) throw InvalidInputError.forField(field, value ?? '', DURATION_EXPECTED)
  let ms = 0
  UNITS.forEach(([, unitMs], i) => {
    const count = m?.[i + 1]
    if (count !== undefined) ms += Number(count) * unitMs
  })
  if (ms === 0 && !range.zero) throw InvalidInputError.forField(field, value, 'must be longer than 0')
  const maxMs = range.maxMs ?? MAX_DURATION_MS
  if (!(ms <= maxMs)) throw InvalidInputError.forField(field, value, `must be at most ${durationText(maxMs)}`)
  return ms
}

/** A duration for a timer: setTimeout's longest delay at the most. */
export function timerMs(ms: number): number {
  return Math.min(ms, MAX_TIMER_MS)
}

/** Milliseconds in the grammar's own form, largest units first: 5400000 → "1h30m", 0 → "0". */
export function durationText(ms: number): string {
  let rest = Math.max(0, Math.round(ms))
  if (rest === 0) return '0'
  let text = ''
  for (const [unit, unitMs] of UNITS) {
    const count = Math.floor(rest / unitMs)
    if (count > 0) text += `${count}${unit}`
    rest -= count * unitMs
  }
  return text
}

/** "2s", "1.5s", "250ms": how long something took, for messages. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  return `${Number.isInteger(s) ? s : s.toFixed(1)}s`
}
