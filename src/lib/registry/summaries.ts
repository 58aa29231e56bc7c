/**
 * One-line, human-readable summaries of registry results for command output: counts with the
 * right singular or plural, and "no services to move" rather than "0 of 0 services moved".
 */
import type {ImportResult, RedistributionResult} from './types.js'

/** `1 service`, `3 services`; `plural` for irregular nouns (`entry`, `entries`). */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}

/** `no services to move` · `no service moved (12 checked)` · `3 of 12 services moved, 1 has no server`. */
export function redistributionSummary(r: RedistributionResult): string {
  const unassigned = r.unassigned === 0 ? '' : `, ${r.unassigned} ${r.unassigned === 1 ? 'has' : 'have'} no server`
  if (r.checked === 0) return 'no services to move'
  if (r.moved === 0) return `no service moved (${r.checked} checked)${unassigned}`
  return `${r.moved} of ${count(r.checked, 'service')} moved${unassigned}`
}

/** `imported 3 services from 2 entries: 3 created, 0 updated, 0 unchanged`. */
export function importSummary(r: ImportResult): string {
  return `imported ${count(r.services, 'service')} from ${count(r.entries, 'entry', 'entries')}: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged`
}
