/**
 * The columns the registry's list commands print (handed to the output printer; no formatting
 * here beyond choosing the fields).
 */
import type {Column} from '../output/print-rows.js'
import type {Namespace, Server, Service} from './model.js'
import {formatLabels} from './validation.js'

export const SERVER_COLUMNS: Column<Server>[] = [
  {header: 'NAME', get: (s) => s.name},
  {header: 'STATE', get: (s) => s.state},
  {header: 'LABELS', get: (s) => formatLabels(s.labels)},
  {header: 'MODIFIED', get: (s) => s.modified},
]

export const NAMESPACE_COLUMNS: Column<Namespace>[] = [
  {header: 'NAME', get: (n) => n.name},
  {header: 'EXPORT', get: (n) => n.export},
  {header: 'MODIFIED', get: (n) => n.modified},
]

export const SERVICE_COLUMNS: Column<Service>[] = [
  {header: 'NAMESPACE', get: (s) => s.namespace},
  {header: 'NAME', get: (s) => s.name},
  {header: 'ENDPOINT', get: (s) => s.endpoint},
  {header: 'SERVERS', get: (s) => s.servers.join(',')},
  {header: 'LABELS', get: (s) => formatLabels(s.labels)},
  {header: 'SELECTOR', get: (s) => s.selector},
  {header: 'ID', get: (s) => s.id},
  {header: 'MODIFIED', get: (s) => s.modified},
  /** Empty: never expires. */
  {header: 'EXPIRES', get: (s) => s.expires ?? ''},
]

/** `-o wide`: who registered or changed each service last, as the history names them (stored on the service). */
export const SERVICE_WIDE_COLUMNS: Column<Service>[] = [...SERVICE_COLUMNS, {header: 'REGISTERED BY', get: (s) => s.registeredBy ?? ''}]
