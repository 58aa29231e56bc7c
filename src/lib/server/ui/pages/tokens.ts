/** Machine tokens (GET /v1/tokens: admins only; anyone else gets the API's refusal). */
import {time} from '../format.js'
import {html} from '../html.js'
import {type Page, table} from './page.js'

export const tokensPage: Page = async ({v1}) => {
  const tokens = await v1.get('listTokens', '/tokens')
  const now = Date.now()
  const state = (t: (typeof tokens)[number]) =>
    t.revoked ? 'revoked' : t.expiresAt !== null && Date.parse(t.expiresAt) <= now ? 'expired' : 'valid'
  return {
    title: 'Tokens',
    main: table(
      `Machine tokens (${tokens.length})`,
      ['ID', 'Role', 'Namespaces', 'Issued', 'Expires', 'State'],
      tokens.map(
        (t) =>
          html`<tr>
            <td><code>${t.id}</code></td>
            <td>${t.role}</td>
            <td>${t.namespaces.join(', ')}</td>
            <td>${time(t.issuedAt)}</td>
            <td>${time(t.expiresAt)}</td>
            <td><span class="state state-${state(t)}">${state(t)}</span></td>
          </tr>`,
      ),
      'No machine token has been issued (roster token create makes one).',
    ),
  }
}
