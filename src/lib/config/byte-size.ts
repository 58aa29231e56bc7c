/**
 * Sizes in bytes, as settings take them: a whole number and a binary unit, `512B`, `16KiB`,
 * `1MiB`, `1GiB`. The unit is required (is `1024` bytes or KiB?), and only binary units are
 * accepted, so that `1MB` is refused rather than read as 1,000,000 or 1,048,576 bytes.
 */
import {InvalidInputError} from '../errors.js'

const UNITS: Readonly<Record<string, number>> = {B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3}

/** The reason every malformed size gets. */
export const SIZE_EXPECTED = 'expected a size such as 16KiB or 1MiB (a whole number and a unit: B, KiB, MiB, GiB)'

/** A size as typed → bytes. InvalidInputError naming `field` when malformed or outside [minBytes, maxBytes]. */
export function parseByteSize(value: unknown, field: string, range: {minBytes: number; maxBytes: number}): number {
  const text = typeof value === 'string' ? value.trim() : ''
  const m = /^(\d+)(B|KiB|MiB|GiB)$/.exec(text)
  if (!m) throw InvalidInputError.forField(field, value ?? '', SIZE_EXPECTED)
  const bytes = Number(m[1]) * UNITS[m[2]!]!
  if (!(bytes >= range.minBytes && bytes <= range.maxBytes)) {
    throw InvalidInputError.forField(field, value, `must be between ${byteSizeText(range.minBytes)} and ${byteSizeText(range.maxBytes)}`)
  }
  return bytes
}

/** Bytes in the grammar's own form, in the largest unit that divides them: 1048576 → "1MiB", 1500 → "1500B". */
export function byteSizeText(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    if (bytes >= UNITS[unit]! && bytes % UNITS[unit]! === 0) return `${bytes / UNITS[unit]!}${unit}`
  }
  return `${bytes}B`
}
