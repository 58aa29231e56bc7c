/** `roster serve`'s console flags: the web console under /ui/ and how people reach it to sign in. */
import path from 'node:path'

import {Flags} from '@oclif/core'

import {InvalidInputError} from '../lib/errors.js'
import type {ConsoleOptions} from '../lib/server/ui/options.js'

export const consoleServeFlags = {
  ui: Flags.boolean({
    description: 'Serve the read-only web console under /ui/ (people sign in with the --oidc-* provider; none with --auth none).',
    default: true,
    allowNo: true,
    helpGroup: 'CONSOLE',
  }),
  'public-url': Flags.string({
    description:
      "The origin people reach serve at, https://HOST[:PORT]; the console's sign-in redirect URI is <public URL>/ui/auth/callback. Default: the listen address.",
    helpGroup: 'CONSOLE',
  }),
  'ui-client-id': Flags.string({
    description:
      "The provider's client id for the console, where it keeps web and CLI clients apart (a public client, PKCE, redirect URI <public URL>/ui/auth/callback). Default: --oidc-client-id.",
    helpGroup: 'CONSOLE',
  }),
}

/** The console's options from the flags (undefined with --no-ui); `root` is roster's installation, whose dist/console holds the assets. */
export async function consoleOptionsOf(
  flags: {ui: boolean; 'public-url'?: string; 'ui-client-id'?: string; 'oidc-issuer'?: string},
  root: string,
): Promise<ConsoleOptions | undefined> {
  if (!flags.ui) return undefined
  if (flags['ui-client-id'] && !flags['oidc-issuer']) throw InvalidInputError.forField('oidc-issuer', '', 'is required with --ui-client-id')
  const {parsePublicUrl} = await import('../lib/server/ui/options.js')
  return {
    publicUrl: flags['public-url'] === undefined ? undefined : parsePublicUrl(flags['public-url']),
    clientId: flags['ui-client-id']?.trim() || undefined,
    assetsDir: path.join(root, 'dist', 'console'),
  }
}
