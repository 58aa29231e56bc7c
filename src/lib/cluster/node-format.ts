/**
 * How node-status shows nodes: kubectl's columns (NAME STATUS ROLES AGE VERSION; wide adds
 * INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME, then roster's CONDITIONS:
 * the pressure/problem conditions that are True) and the one-line form of a watch change.
 * Returns columns and strings; the command prints them.
 */
import type {Column} from '../output/print-rows.js'
import type {ChangeType} from './informer.js'
import {nodeAge, type NodeRow, type NodeSummary, type NodeTotals} from './node-readiness.js'

export function nodeColumns(wide: false, now?: number): Column<NodeRow>[]
export function nodeColumns(wide: boolean, now?: number): Column<NodeSummary>[]
export function nodeColumns(wide: boolean, now: number = Date.now()): Column<NodeSummary>[] {
  const columns: Column<NodeSummary>[] = [
    {header: 'NAME', get: (n) => n.name},
    {header: 'STATUS', get: (n) => n.status},
    {header: 'ROLES', get: (n) => (n.roles.length > 0 ? n.roles.join(',') : '<none>')},
    {header: 'AGE', get: (n) => nodeAge(n.createdAt, now)},
    {header: 'VERSION', get: (n) => n.version},
  ]
  if (wide) {
    columns.push(
      {header: 'INTERNAL-IP', get: (n) => n.internalIP ?? '<none>'},
      {header: 'EXTERNAL-IP', get: (n) => n.externalIP ?? '<none>'},
      {header: 'OS-IMAGE', get: (n) => n.osImage ?? '<unknown>'},
      {header: 'KERNEL-VERSION', get: (n) => n.kernelVersion ?? '<unknown>'},
      {header: 'CONTAINER-RUNTIME', get: (n) => n.containerRuntime ?? '<unknown>'},
      {header: 'CONDITIONS', get: (n) => (n.problems.length > 0 ? n.problems.join(',') : '<none>')},
    )
  }
  return columns
}

/** One watch change: `MODIFIED  node-3  NotReady  worker  5d  v1.32.2  (2/3 ready)`, tab-separated. */
export function watchChangeLine(type: ChangeType, node: NodeSummary, totals: NodeTotals, wide: boolean, now: number = Date.now()): string {
  const cells = nodeColumns(wide, now).map((c) => String(c.get(node)))
  return [type, ...cells, `(${totals.ready}/${totals.total} ready)`].join('\t')
}
