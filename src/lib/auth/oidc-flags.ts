/** `roster serve`'s --oidc-* flags (issue 9): people sign in with the identity provider. */
import {Flags} from '@oclif/core'

import type {OidcOptions} from './oidc-verifier.js'
import {InvalidInputError} from '../errors.js'

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
}

/** The verifier options from the flags, or undefined without --oidc-issuer. */
export function oidcOptionsOf(flags: {
  'oidc-issuer'?: string
  'oidc-client-id'?: string
  'oidc-audience'?: string
  'oidc-roles-claim'?: string
  'oidc-admin-roles'?: string[]
}): OidcOptions | undefined {
  if (!flags['oidc-issuer']) {
    if (flags['oidc-client-id']) throw InvalidInputError.forField('oidc-issuer', '', 'is required with --oidc-client-id')
    return undefined
  }
  if (!flags['oidc-client-id']) throw InvalidInputError.forField('oidc-client-id', '', 'is required with --oidc-issuer')
  return {
    issuer: flags['oidc-issuer'],
    clientId: flags['oidc-client-id'],
    audience: flags['oidc-audience'],
    rolesClaim: flags['oidc-roles-claim'],
    adminRoles: flags['oidc-admin-roles'],
  }
}
