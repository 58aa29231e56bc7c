/** The overview, the servers (list and one server's page) and the namespaces. */
import {count, labelChips, literalPattern, span, time} from '../format.js'
import {html} from '../html.js'
import {V1Error} from '../v1.js'
import {eventTable, latestEvents} from './history.js'
import {type Page, href, pager, problem, table, textField} from './page.js'

const TARGETS_PAGE = 50
const MOVES_SHOWN = 50

export const overviewPage: Page = async ({v1}) => {
  const [status, servers, events] = await Promise.all([
    v1.get('status', '/status'),
    v1.get('listServers', '/servers'),
    latestEvents(v1, {}, 10),
  ])
  const most = Math.max(1, ...Object.values(status.servicesByServer))
  const lag = status.lagSeconds < 1 ? `${Math.round(status.lagSeconds * 1000)} ms` : span(status.lagSeconds * 1000)
  return {
    title: 'Overview',
    main: html`<ul class="cards" aria-label="Counts">
        <li>
          <a href="/ui/servers"><strong>${count(status.servers)}</strong> servers</a>
        </li>
        <li>
          <a href="/ui/namespaces"><strong>${count(status.namespaces)}</strong> namespaces</a>
        </li>
        <li>
          <a href="/ui/services"><strong>${count(status.services)}</strong> services</a>
        </li>
        <li>
          <a href="${href('/ui/services', {server: '-'})}"><strong>${count(status.unassigned)}</strong> unassigned</a>
        </li>
      </ul>
      <p class="view">
        The view serve answers from is at store revision <strong>${status.revision}</strong>; it last confirmed it was current
        <strong>${lag}</strong> ago.
      </p>
      <h2>Targets per server</h2>
      ${table(
        'Targets per server',
        ['Server', 'State', 'Targets', 'Share'],
        servers.map((s) => {
          const n = status.servicesByServer[s.name] ?? 0
          return html`<tr>
            <td><a href="/ui/servers/${encodeURIComponent(s.name)}">${s.name}</a></td>
            <td><span class="state state-${s.state}">${s.state}</span></td>
            <td class="num">${count(n)}</td>
            <td class="bar"><meter min="0" max="${most}" value="${n}" aria-label="${s.name}: ${count(n)} targets"></meter></td>
          </tr>`
        }),
        'No scrape server is registered: roster server register NAME.',
      )}
      <h2>Last changes</h2>
      ${'items' in events ? eventTable('Last changes', events.items) : events}
      ${'items' in events && events.items.length > 0 ? html`<p><a href="/ui/history">All changes</a></p>` : ''}`,
  }
}

export const serversPage: Page = async ({v1, query}) => {
  const selector = query.selector?.trim() || undefined
  const form = html`<form class="filters" method="get" action="/ui/servers" role="search" aria-label="Filter the servers">
    ${textField('Label selector', 'selector', selector, {placeholder: 'region=eu,tier!=canary'})}
    <button type="submit">Filter</button>
  </form>`
  let servers
  try {
    servers = await v1.get('listServers', '/servers', {selector})
  } catch (error) {
    if (error instanceof V1Error && error.status === 400)
      return {title: 'Servers', main: html`${form}${problem(error.message)}`, status: 400}
    throw error
  }
  const status = await v1.get('status', '/status')
  return {
    title: 'Servers',
    main: html`${form}
    ${table(
      `Scrape servers (${count(servers.length)})`,
      ['Name', 'State', 'Labels', 'Targets', 'Changed'],
      servers.map(
        (s) =>
          html`<tr>
            <td><a href="/ui/servers/${encodeURIComponent(s.name)}">${s.name}</a></td>
            <td><span class="state state-${s.state}">${s.state}</span></td>
            <td>${labelChips(s.labels)}</td>
            <td class="num">${count(status.servicesByServer[s.name] ?? 0)}</td>
            <td>${time(s.modified)}</td>
          </tr>`,
      ),
      selector ? 'No server matches this selector.' : 'No scrape server is registered: roster server register NAME.',
    )}`,
  }
}

export const serverPage: Page = async ({v1, params, query}) => {
  const name = params.name!
  const path = `/servers/${encodeURIComponent(name)}`
  const [server, moves, targets] = await Promise.all([
    v1.get('getServer', path),
    v1.get('serverMoves', `${path}/moves`, {limit: String(MOVES_SHOWN)}),
    v1.get('listServices', '/services', {
      server: `^${literalPattern(name)}$`,
      sortBy: 'name',
      limit: String(TARGETS_PAGE),
      continue: query.continue,
    }),
  ])
  const destinations = Object.entries(moves.destinations)
  const most = Math.max(1, ...destinations.map(([, n]) => n))
  return {
    title: `Server ${server.name}`,
    main: html`<dl class="fields">
        <dt>State</dt>
        <dd><span class="state state-${server.state}">${server.state}</span></dd>
        <dt>Labels</dt>
        <dd>${labelChips(server.labels)}</dd>
        <dt>Targets</dt>
        <dd>${count(moves.services)}</dd>
        <dt>Changed</dt>
        <dd>${time(server.modified)}</dd>
        <dt>http_sd</dt>
        <dd><code>/v1/sd/${server.name}</code></dd>
      </dl>
      <h2>If ${server.name} left</h2>
      ${
        moves.services === 0
          ? html`<p class="empty">It holds no service: nothing would move.</p>`
          : html`<p>
                Its ${count(moves.services)} services would move as follows (the registry's rendezvous distribution over the servers that
                stay; no other service moves).
              </p>
              ${table(
                'Where its services would go',
                ['To server', 'Services', 'Share'],
                [
                  ...destinations.map(
                    ([to, n]) =>
                      html`<tr>
                        <td><a href="/ui/servers/${encodeURIComponent(to)}">${to}</a></td>
                        <td class="num">${count(n)}</td>
                        <td class="bar"><meter min="0" max="${most}" value="${n}" aria-label="${to}: ${count(n)} services"></meter></td>
                      </tr>`,
                  ),
                  ...(moves.unassigned > 0
                    ? [
                        html`<tr>
                          <td><em>no other server</em> (left with fewer servers, or none)</td>
                          <td class="num">${count(moves.unassigned)}</td>
                          <td></td>
                        </tr>`,
                      ]
                    : []),
                ],
              )}
              ${table(
                `The first ${count(moves.moves.length)} moves`,
                ['Service', 'Namespace', 'Endpoint', 'Would go to'],
                moves.moves.map(
                  (m) =>
                    html`<tr>
                      <td><a href="/ui/services/${encodeURIComponent(m.service.id)}">${m.service.name}</a></td>
                      <td>${m.service.namespace}</td>
                      <td><code>${m.service.endpoint}</code></td>
                      <td>${m.to.length ? m.to.join(', ') : html`<em>no other server</em>`}</td>
                    </tr>`,
                ),
              )}`
      }
      <h2>Targets</h2>
      ${table(
        `Services ${server.name} scrapes`,
        ['Service', 'Namespace', 'Endpoint'],
        targets.items.map(
          (s) =>
            html`<tr>
              <td><a href="/ui/services/${encodeURIComponent(s.id)}">${s.name}</a></td>
              <td>${s.namespace}</td>
              <td><code>${s.endpoint}</code></td>
            </tr>`,
        ),
        'No service is assigned to this server.',
      )}
      ${pager(`/ui/servers/${encodeURIComponent(name)}`, {continue: query.continue, from: query.from}, targets.items.length, targets.continue, moves.services)}`,
  }
}

export const namespacesPage: Page = async ({v1}) => {
  const [namespaces, status] = await Promise.all([v1.get('listNamespaces', '/namespaces'), v1.get('status', '/status')])
  return {
    title: 'Namespaces',
    main: table(
      `Namespaces (${count(namespaces.length)})`,
      ['Name', 'Export', 'Services', 'Changed'],
      namespaces.map(
        (n) =>
          html`<tr>
            <td><a href="${href('/ui/services', {namespace: n.name})}">${n.name}</a></td>
            <td><span class="export export-${n.export}">${n.export}</span></td>
            <td class="num">${count(status.servicesByNamespace[n.name] ?? 0)}</td>
            <td>${n.modified ? time(n.modified) : html`<span class="muted">built in</span>`}</td>
          </tr>`,
      ),
    ),
  }
}
