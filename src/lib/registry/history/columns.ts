/**
 * The columns `roster registry history` prints (handed to the output printer), and how the
 * changes of an event read in one cell: `labels: a=1 → a=2; servers: prom1 → prom2`.
 */
import {type Column, formatCell} from '../../output/print-rows.js'
import {actorText} from './actor.js'
import type {Changes, HistoryEvent} from './event.js'

/** One cell: each changed field as `field: before → after` (a side absent: `+after`, `-before`; an empty value: `""`). */
export function changesText(changes: Changes): string {
  const cell = (value: unknown): string => formatCell(value) || '""'
  return Object.entries(changes)
    .map(([field, {before, after}]) => {
      if (before === undefined) return `${field}: +${cell(after)}`
      if (after === undefined) return `${field}: -${cell(before)}`
      return `${field}: ${cell(before)} → ${cell(after)}`
    })
    .join('; ')
}

export const HISTORY_COLUMNS: Column<HistoryEvent>[] = [
  {header: 'TIME', get: (e) => e.time},
  {header: 'ACTOR', get: (e) => actorText(e.actor)},
  {header: 'ACTION', get: (e) => e.action},
  {header: 'KIND', get: (e) => e.object.kind},
  {header: 'NAMESPACE', get: (e) => e.object.namespace ?? ''},
  {header: 'NAME', get: (e) => e.object.name},
  {header: 'ENDPOINT', get: (e) => e.object.endpoint ?? ''},
  {header: 'CHANGES', get: (e) => changesText(e.changes)},
  {header: 'ID', get: (e) => e.id},
]
