/** How serve runs its console (/ui/): the settings `public-url` and `ui-client-id`, and where its built assets are. */
import {InvalidInputError} from '../../errors.js'
import {isLoopbackHost} from '../../net/loopback.js'

export interface ConsoleOptions {
  /** The origin people reach serve at (the sign-in's redirect URI is built on it); default: the address serve listens on. */
  publicUrl?: string
  /** The OpenID Provider's client id for the console; default: serve's oidc client id. */
  clientId?: string
  /** The built stylesheet, script and icon (dist/console). */
  assetsDir?: string
}

/**
 * A public URL as an origin: https://HOST[:PORT] (http:// only for a loopback host: the session
 * cookie is Secure), with no path, query or credentials (the console's links start at /ui/).
 */
export function parsePublicUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw InvalidInputError.forField('public-url', value, 'is not a URL; expected https://HOST[:PORT]')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw InvalidInputError.forField('public-url', value, 'expected https://HOST[:PORT]')
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw InvalidInputError.forField(
      'public-url',
      value,
      'http:// only for a loopback host (browsers keep the Secure session cookie only over https)',
    )
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== ''))
    throw InvalidInputError.forField('public-url', value, 'must be an origin, https://HOST[:PORT], with no path, query or credentials')
  return url.origin
}
