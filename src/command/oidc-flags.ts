/** `roster serve`'s --oidc-* flags: people sign in with the identity provider. */
import {Flags} from '@oclif/core'

import {OIDC_CLOCK_SKEW_S, OIDC_MAX_CLOCK_SKEW_S, type OidcOptions} from '../lib/auth/oidc-verifier.js'
import {parseDuration} from '../lib/config/duration.js'
import {InvalidInputError, setting} from '../lib/errors.js'
import {readPemFile} from '../lib/fs/input-file.js'

export const oidcServeFlags = {
  'oidc-issuer': Flags.string({
    description: 'OpenID Provider whose tokens sign people in (https://, http:// only on loopback); GET /v1/auth/config announces it.',
    helpGroup: 'OIDC',
  }),
  'oidc-client-id': Flags.string({description: 'Client id of roster (a public client) at the provider.', helpGroup: 'OIDC'}),
  'oidc-audience': Flags.string({description: 'Audience the tokens must carry (default: the client id).', helpGroup: 'OIDC'}),
  'oidc-roles-claim': Flags.string({
    description: 'Dot path of the roles claim, e.g. realm_access.roles for Keycloak.',
    default: 'roles',
    helpGroup: 'OIDC',
  }),
  'oidc-admin-roles': Flags.string({
    description: 'Roles (comma-separated) whose members are admin; every other signed-in person may read.',
    multiple: true,
    delimiter: ',',
    helpGroup: 'OIDC',
  }),
  'oidc-ca': Flags.string({
    description: 'CA certificate file (PEM) to trust for the OpenID Provider, when its certificate is not signed by a public CA.',
    helpGroup: 'OIDC',
  }),
  'oidc-clock-skew': Flags.string({
    description: `How far the provider's clock may be from this host's when checking a token's expiry and not-before (0 to ${OIDC_MAX_CLOCK_SKEW_S / 60}m).`,
    default: `${OIDC_CLOCK_SKEW_S}s`,
    helpGroup: 'OIDC',
  }),
}

/** The verifier options from the flags, or undefined without --oidc-issuer. */
export function oidcOptionsOf(flags: {
  'oidc-issuer'?: string
  'oidc-client-id'?: string
  'oidc-audience'?: string
  'oidc-roles-claim'?: string
  'oidc-admin-roles'?: string[]
  'oidc-clock-skew'?: string
  'oidc-ca'?: string
}): OidcOptions | undefined {
  if (!flags['oidc-issuer']) {
    for (const other of ['oidc-client-id', 'oidc-ca'] as const)
      if (flags[other]) throw InvalidInputError.forField('oidc-issuer', '', `is required with ${setting(other)}`)
    return undefined
  }
  if (!flags['oidc-client-id']) throw InvalidInputError.forField('oidc-client-id', '', `is required with ${setting('oidc-issuer')}`)
  return {
    issuer: flags['oidc-issuer'],
    clientId: flags['oidc-client-id'],
    audience: flags['oidc-audience'],
    rolesClaim: flags['oidc-roles-claim'],
    adminRoles: flags['oidc-admin-roles'],
    clockSkewS: clockSkewOf(flags['oidc-clock-skew']),
    ...(flags['oidc-ca'] ? {ca: readPemFile(flags['oidc-ca'], {field: 'oidc-ca'})} : {}),
  }
}

/** --oidc-clock-skew in seconds: a duration from 0 to OIDC_MAX_CLOCK_SKEW_S. */
function clockSkewOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  return parseDuration(value, 'oidc-clock-skew', {zero: true, maxMs: OIDC_MAX_CLOCK_SKEW_S * 1000}) / 1000
}
