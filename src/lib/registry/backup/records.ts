/**
 * What a backup carries, kind by kind: the store key each record restores to, and the check of
 * every field. A backup checks each record it reads from the store, and a restore each record it
 * reads from a file, with the same rules, so a file that a backup wrote is one its restore takes.
 *
 * The kinds, in the order of their keys (keys.ts), which is the order of the file:
 *
 *   revocation    auth/revoked/ID      {id, revokedAt}
 *   signing-key   auth/signing-key     the token signing key (JWK); only in a backup with secrets
 *   token         auth/tokens/ID       the record of an issued token (never the token)
 *   namespace     namespaces/NAME      {name, export, modified}
 *   server        servers/NAME         {name, labels, state, modified}
 *   service       services/NS/ID       every field, `servers` (the assignment) and `expires` included
 *   settings      settings             {replicas}
 *
 * Not carried: `topology` (a restore writes it anew), a restore's marker (restore.ts), and
 * whatever else lives in the store (the history of changes, which belongs to the store it
 * describes). A field that a stored record gains must be added here, or a backup refuses it.
 */
import {InvalidInputError} from '../../errors.js'
import {unknownKeyMessage} from '../../text/nearest.js'
import {validateNamespaces, validateRole, validateTokenId} from '../../auth/tokens.js'
import {NAMESPACES_PREFIX, REVOKED_PREFIX, SERVERS_PREFIX, SERVICES_PREFIX, SETTINGS_KEY, SIGNING_KEY_KEY, TOKENS_PREFIX} from '../keys.js'
import {DEFAULT_NAMESPACE} from '../model.js'
import {SelectorCache} from '../selector.js'
import {serviceId} from '../service-id.js'
import {
  validateDescription,
  validateEndpoint,
  validateExport,
  validateLabels,
  validateName,
  validateReplicas,
  validateTime,
} from '../validation.js'
import {RECORD_KINDS, type RecordKind} from './format.js'
import {validateRetention} from '../history/retention.js'

type Fields = Record<string, unknown>

/** What a check of one record needs from the records before it: a service names known namespaces and servers. */
export class RecordContext {
  readonly namespaces = new Set<string>([DEFAULT_NAMESPACE])
  readonly servers = new Set<string>()
  readonly selectors = new SelectorCache()
}

export interface KindSpec {
  kind: RecordKind
  /** The key prefix of the kind's records, or the one key of a kind that has one record at most. */
  prefix: string
  single: boolean
  /** Checks a record (throws InvalidInputError naming the field) and returns its store key. */
  check(object: Fields, context: RecordContext): string
  /** The store key of a record that was checked before (what check() returned for it). */
  keyOf(object: Fields): string
}

/** The fields of a record: the required ones present, none unknown. */
function fields(value: unknown, required: readonly string[], optional: readonly string[] = []): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidInputError('must be a JSON object')
  const object = value as Fields
  const known = [...required, ...optional]
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) throw new InvalidInputError(unknownKeyMessage(key.length > 60 ? `${key.slice(0, 60)}…` : key, known))
  }
  for (const key of required) {
    if (!(key in object)) throw new InvalidInputError(`field "${key}" is missing`, {field: key})
  }
  return object
}

function text(field: string, value: unknown): string {
  if (typeof value !== 'string') throw InvalidInputError.forField(field, value ?? null, 'must be a string')
  return value
}

const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/

const SPECS: Record<RecordKind, Omit<KindSpec, 'kind'>> = {
  revocation: {
    prefix: REVOKED_PREFIX,
    single: false,
    keyOf: (r) => REVOKED_PREFIX + String(r.id),
    check(value) {
      const r = fields(value, ['id', 'revokedAt'])
      validateTime('revokedAt', r.revokedAt)
      return REVOKED_PREFIX + validateTokenId(r.id)
    },
  },
  'signing-key': {
    prefix: SIGNING_KEY_KEY,
    single: true,
    keyOf: () => SIGNING_KEY_KEY,
    check(value) {
      const k = fields(value, ['kty', 'crv', 'x', 'd', 'kid'], ['alg', 'use', 'createdAt'])
      if (k.kty !== 'OKP' || k.crv !== 'Ed25519')
        throw new InvalidInputError('the signing key must be an Ed25519 key (kty OKP, crv Ed25519)')
      for (const field of ['x', 'd'] as const) {
        if (typeof k[field] !== 'string' || !BASE64URL_32_BYTES.test(k[field])) {
          throw new InvalidInputError(`field "${field}" of the signing key must be 32 bytes in base64url`, {field})
        }
      }
      if (text('kid', k.kid) === '') throw InvalidInputError.forField('kid', '', 'must not be empty')
      if (k.alg !== undefined && k.alg !== 'EdDSA') throw InvalidInputError.forField('alg', k.alg, 'must be EdDSA')
      if (k.use !== undefined && k.use !== 'sig') throw InvalidInputError.forField('use', k.use, 'must be sig')
      if (k.createdAt !== undefined) validateTime('createdAt', k.createdAt)
      return SIGNING_KEY_KEY
    },
  },
  token: {
    prefix: TOKENS_PREFIX,
    single: false,
    keyOf: (t) => TOKENS_PREFIX + String(t.id),
    check(value) {
      const t = fields(value, ['id', 'role', 'namespaces', 'issuedAt', 'expiresAt', 'issuer', 'audience', 'kid'])
      const role = validateRole(t.role)
      const namespaces = validateNamespaces(role, t.namespaces)
      if (namespaces.join(',') !== (t.namespaces as unknown[]).join(',')) {
        throw InvalidInputError.forField('namespaces', t.namespaces, `must be ${JSON.stringify(namespaces)} for a ${role} token`)
      }
      validateTime('issuedAt', t.issuedAt)
      if (t.expiresAt !== null) validateTime('expiresAt', t.expiresAt)
      text('issuer', t.issuer)
      text('audience', t.audience)
      text('kid', t.kid)
      return TOKENS_PREFIX + validateTokenId(t.id)
    },
  },
  namespace: {
    prefix: NAMESPACES_PREFIX,
    single: false,
    keyOf: (n) => NAMESPACES_PREFIX + String(n.name),
    check(value, context) {
      const n = fields(value, ['name', 'export', 'modified'])
      const name = validateName('namespace', n.name)
      validateExport('export', n.export)
      validateTime('modified', n.modified)
      context.namespaces.add(name)
      return NAMESPACES_PREFIX + name
    },
  },
  server: {
    prefix: SERVERS_PREFIX,
    single: false,
    keyOf: (s) => SERVERS_PREFIX + String(s.name),
    check(value, context) {
      const s = fields(value, ['name', 'labels', 'state', 'modified'])
      const name = validateName('server', s.name)
      checkLabels(s.labels)
      if (s.state !== 'joining' && s.state !== 'active' && s.state !== 'leaving') {
        throw InvalidInputError.forField('state', s.state ?? null, 'must be joining, active or leaving')
      }
      validateTime('modified', s.modified)
      context.servers.add(name)
      return SERVERS_PREFIX + name
    },
  },
  service: {
    prefix: SERVICES_PREFIX,
    single: false,
    keyOf: (s) => `${SERVICES_PREFIX}${String(s.namespace)}/${String(s.id)}`,
    check(value, context) {
      const s = fields(
        value,
        ['id', 'name', 'namespace', 'endpoint', 'labels', 'selector', 'servers', 'description', 'modified'],
        ['expires', 'registeredBy'],
      )
      validateName('name', s.name)
      const namespace = validateName('namespace', s.namespace)
      if (!context.namespaces.has(namespace))
        throw InvalidInputError.forField('namespace', namespace, 'is not among the namespaces before it')
      const endpoint = validateEndpoint('endpoint', s.endpoint)
      const id = serviceId(namespace, endpoint)
      if (s.id !== id) throw InvalidInputError.forField('id', s.id ?? null, `must be ${id}, the ID of its namespace and endpoint`)
      checkLabels(s.labels)
      context.selectors.get(text('selector', s.selector))
      if (!Array.isArray(s.servers)) throw InvalidInputError.forField('servers', s.servers ?? null, 'must be a list of server names')
      const assigned = new Set<string>()
      for (const server of s.servers as unknown[]) {
        const name = validateName('servers', server)
        if (!context.servers.has(name)) throw InvalidInputError.forField('servers', name, 'is not among the servers before it')
        if (assigned.has(name)) throw InvalidInputError.forField('servers', name, 'is listed twice')
        assigned.add(name)
      }
      validateDescription('description', text('description', s.description))
      validateTime('modified', s.modified)
      if (s.expires !== undefined) validateTime('expires', s.expires)
      if (s.registeredBy !== undefined) text('registeredBy', s.registeredBy)
      return `${SERVICES_PREFIX}${namespace}/${id}`
    },
  },
  settings: {
    prefix: SETTINGS_KEY,
    single: true,
    keyOf: () => SETTINGS_KEY,
    check(value) {
      const s = fields(value, ['replicas'], ['historyRetention'])
      if (typeof s.replicas !== 'number') throw InvalidInputError.forField('replicas', s.replicas ?? null, 'must be a number')
      validateReplicas('replicas', s.replicas)
      if (s.historyRetention !== undefined) validateRetention(s.historyRetention)
      return SETTINGS_KEY
    },
  },
}

/** Labels as stored: valid, and already in the form validation gives them (so nothing changes on the way). */
function checkLabels(labels: unknown): void {
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw InvalidInputError.forField('labels', labels ?? null, 'must be a map of label names to values')
  }
  validateLabels('labels', labels)
  for (const value of Object.values(labels)) {
    if (typeof value !== 'string') throw InvalidInputError.forField('labels', labels, 'label values must be strings')
  }
}

/** Every kind, in key order. */
export const KINDS: readonly KindSpec[] = RECORD_KINDS.map((kind) => ({kind, ...SPECS[kind]}))

export function kindSpec(kind: RecordKind): KindSpec {
  return KINDS[RECORD_KINDS.indexOf(kind)]!
}

/** The kind of a store key that a backup carries, or undefined. */
export function kindOfKey(key: string): KindSpec | undefined {
  return KINDS.find((spec) => (spec.single ? key === spec.prefix : key.startsWith(spec.prefix)))
}
