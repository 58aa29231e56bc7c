/** The columns and lines the token commands print. */
import type {Column} from '../output/print-rows.js'
import type {TokenInspection, TokenListEntry} from './token-client.js'

export const TOKEN_COLUMNS: Column<TokenListEntry>[] = [
  {header: 'ID', get: (t) => t.id},
  {header: 'ROLE', get: (t) => t.role},
  {header: 'NAMESPACES', get: (t) => t.namespaces.join(',')},
  {header: 'ISSUED', get: (t) => t.issuedAt},
  {header: 'EXPIRES', get: (t) => t.expiresAt ?? 'never'},
  {header: 'REVOKED', get: (t) => (t.revoked === undefined ? '' : t.revoked ? 'yes' : 'no')},
]

/** `token info` as aligned "name: value" lines. */
export function formatInspection(t: TokenInspection): string {
  const lines: [string, string][] = [
    ['id', t.id],
    ['role', t.role],
    ['namespaces', t.namespaces.join(',')],
    ['issued', t.issuedAt],
    ['expires', t.expiresAt ?? 'never'],
    ['issuer', t.issuer],
    ['audience', t.audience],
    ['signature', t.signatureValid ? 'valid' : 'invalid'],
    ['revoked', t.revoked ? 'yes' : 'no'],
  ]
  if (t.valid !== undefined) lines.push(['valid', t.valid ? 'yes' : `no (${t.problem ?? 'refused'})`])
  const width = Math.max(...lines.map(([name]) => name.length)) + 2
  return lines.map(([name, value]) => `${`${name}:`.padEnd(width)}${value}`).join('\n')
}
