/**
 * The frame of every console page: the head (the built stylesheet, script and icon; nothing
 * inline, nothing from elsewhere), a skip link, the navigation (Tokens for admins only), who is
 * signed in with the sign-out form, and the page's own content under its <h1>.
 */
import type {Role} from '../../auth/caller.js'
import type {ConsoleAssets} from './assets.js'
import {type Html, html} from './html.js'

export interface Viewer {
  name: string
  role: Role
  /** The sign-out form's CSRF token; undefined with auth `none` (nobody signs in). */
  csrf?: string
}

export interface Frame {
  assets: ConsoleAssets
  viewer?: Viewer
  /** The path of the page, to mark its navigation link. */
  path: string
  version: string
}

const NAV: {href: string; label: string; adminOnly?: boolean}[] = [
  {href: '/ui/', label: 'Overview'},
  {href: '/ui/servers', label: 'Servers'},
  {href: '/ui/namespaces', label: 'Namespaces'},
  {href: '/ui/services', label: 'Services'},
  {href: '/ui/history', label: 'History'},
  {href: '/ui/tokens', label: 'Tokens', adminOnly: true},
]

function current(path: string, href: string): boolean {
  if (href === '/ui/') return path === '/ui/' || path === '/ui'
  return path === href || path.startsWith(`${href}/`)
}

export function layout(frame: Frame, title: string, main: Html): string {
  const {assets, viewer} = frame
  const css = assets.url('console.css')
  const js = assets.url('console.js')
  const icon = assets.url('favicon.svg')
  const nav = viewer ? NAV.filter((item) => !item.adminOnly || viewer.role === 'admin') : []
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>${title} · roster</title>
        ${css ? html`<link rel="stylesheet" href="${css}" />` : ''}
        ${icon ? html`<link rel="icon" href="${icon}" type="image/svg+xml" />` : ''} ${js ? html`<script src="${js}" defer></script>` : ''}
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/ui/">roster</a>
          ${
            nav.length > 0
              ? html`<nav aria-label="Main">
                  <ul>
                    ${nav.map((item) => html`<li><a href="${item.href}" ${current(frame.path, item.href) ? html` aria-current="page"` : ''}>${item.label}</a></li>`)}
                  </ul>
                </nav>`
              : ''
          }
          ${viewer ? who(viewer) : ''}
        </header>
        <main id="main" tabindex="-1">
          <h1>${title}</h1>
          ${main}
        </main>
        <footer><p>roster ${frame.version}</p></footer>
      </body>
    </html> `.text
}

function who(viewer: Viewer): Html {
  if (viewer.csrf === undefined) return html`<p class="who"><span>No sign-in</span> <span class="badge">auth none, loopback</span></p>`
  return html`<form class="who" method="post" action="/ui/auth/sign-out">
    <span>${viewer.name}</span> <span class="badge">${viewer.role}</span>
    <input type="hidden" name="csrf" value="${viewer.csrf}" />
    <button type="submit">Sign out</button>
  </form>`
}
