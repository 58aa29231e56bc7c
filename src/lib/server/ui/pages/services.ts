/**
 * The services: the search (by endpoint, name, label selector, server and namespace; sorted and
 * paginated by GET /v1/services), and one service's page: its fields, expiry, servers, the
 * http_sd target group each of them gets (sd/targets.ts, as http_sd builds it) and its history.
 */
import {type TargetGroup, sdConfigOf, serializeTargetGroups, targetGroups} from '../../../sd/targets.js'
import {fromNow, labelChips, literalPattern, time} from '../format.js'
import {type Html, html} from '../html.js'
import {V1Error, type Query} from '../v1.js'
import {eventTable, latestEvents} from './history.js'
import {type Page, href, pager, problem, selectField, table, textField} from './page.js'

const SORTS = [
  ['name', 'Name'],
  ['endpoint', 'Endpoint'],
  ['namespace', 'Namespace'],
  ['date', 'Last change'],
] as const
const PAGE_SIZES = ['50', '100', '200']
/** The server filter's value for services assigned to no server. */
const UNASSIGNED = '-'

export const servicesPage: Page = async ({v1, query}) => {
  const q = query.q?.trim() || undefined
  const name = query.name?.trim() || undefined
  const selector = query.selector?.trim() || undefined
  const server = query.server || undefined
  const namespace = query.namespace || undefined
  const sort = SORTS.some(([key]) => key === query.sort) ? query.sort! : 'name'
  const limit = PAGE_SIZES.includes(query.limit ?? '') ? query.limit! : PAGE_SIZES[0]!
  const [servers, namespaces, status] = await Promise.all([
    v1.get('listServers', '/servers'),
    v1.get('listNamespaces', '/namespaces'),
    v1.get('status', '/status'),
  ])
  const form = html`<form class="filters search" method="get" action="/ui/services" role="search" aria-label="Search the services">
    ${textField('Endpoint contains', 'q', q, {placeholder: 'db1:9100', search: true})}
    ${textField('Name contains', 'name', name, {placeholder: 'node'})}
    ${textField('Label selector', 'selector', selector, {placeholder: 'env=prod,team in (a,b)'})}
    ${selectField('Server', 'server', [['', 'any'], [UNASSIGNED, 'none (unassigned)'], ...servers.map((s) => [s.name, s.name] as const)], server)}
    ${selectField('Namespace', 'namespace', [['', 'all'], ...namespaces.map((n) => [n.name, n.name] as const)], namespace)}
    ${selectField('Sort by', 'sort', SORTS, sort)}
    ${selectField(
      'Per page',
      'limit',
      PAGE_SIZES.map((n) => [n, n] as const),
      limit,
    )}
    <button type="submit">Search</button>
  </form>`
  let page
  try {
    page = await v1.get('listServices', '/services', {
      endpoint: q && literalPattern(q),
      name: name && literalPattern(name),
      selector,
      server: server === UNASSIGNED ? '^$' : server && `^${literalPattern(server)}$`,
      namespace,
      sortBy: sort,
      limit,
      continue: query.continue,
    })
  } catch (error) {
    if (error instanceof V1Error && error.status === 400)
      return {title: 'Services', main: html`${form}${problem(error.message)}`, status: 400}
    throw error
  }
  const filtered = q || name || selector || server
  const total = filtered ? undefined : namespace ? (status.servicesByNamespace[namespace] ?? 0) : status.services
  const own: Query = {
    q,
    name,
    selector,
    server,
    namespace,
    sort: sort === 'name' ? undefined : sort,
    limit: limit === '50' ? undefined : limit,
  }
  return {
    title: 'Services',
    main: html`${form}
    ${table(
      'Services',
      ['Name', 'Namespace', 'Endpoint', 'Servers', 'Labels', 'Expires'],
      page.items.map(
        (s) =>
          html`<tr>
            <td><a href="/ui/services/${encodeURIComponent(s.id)}">${s.name}</a></td>
            <td>${s.namespace}</td>
            <td><code>${s.endpoint}</code></td>
            <td>${serverLinks(s.servers)}</td>
            <td>${labelChips(s.labels)}</td>
            <td>${s.expires ? time(s.expires) : html`<span class="muted">never</span>`}</td>
          </tr>`,
      ),
      filtered || namespace ? 'No service matches.' : 'No service is registered: roster service register NAME -e URL.',
    )}
    ${pager('/ui/services', {...own, continue: query.continue, from: query.from}, page.items.length, page.continue, total)}`,
  }
}

function serverLinks(servers: string[]): Html {
  if (servers.length === 0) return html`<em>none</em>`
  return html`${servers.map((name, i) => html`${i > 0 ? ', ' : ''}<a href="/ui/servers/${encodeURIComponent(name)}">${name}</a>`)}`
}

export const servicePage: Page = async ({v1, params}) => {
  const id = params.id!
  let service
  try {
    service = await v1.get('getService', `/services/${encodeURIComponent(id)}`)
  } catch (error) {
    if (error instanceof V1Error && error.status === 404)
      return {
        title: 'Service not found',
        status: 404,
        main: html`<p class="empty" role="status">
          No service with ID <code>${id}</code> is registered (any more). <a href="/ui/services">Search the services</a> or look in the
          <a href="/ui/history">history</a>.
        </p>`,
      }
    throw error
  }
  const [namespace, events] = await Promise.all([
    v1.get('getNamespace', `/namespaces/${encodeURIComponent(service.namespace)}`),
    latestEvents(v1, {namespace: service.namespace, endpoint: `^${literalPattern(service.endpoint)}$`}, 20),
  ])
  const config = sdConfigOf(namespace.export)
  const groups: {server: string; group: TargetGroup | undefined}[] = service.servers.map((server) => ({
    server,
    group: config === 'disabled' ? undefined : targetGroups([service], {server, namespace: service.namespace, config})[0],
  }))
  return {
    title: `Service ${service.name}`,
    main: html`<dl class="fields">
        <dt>Endpoint</dt>
        <dd><code>${service.endpoint}</code></dd>
        <dt>Namespace</dt>
        <dd>
          <a href="${href('/ui/services', {namespace: service.namespace})}">${service.namespace}</a>
          <span class="muted">(export ${namespace.export})</span>
        </dd>
        <dt>ID</dt>
        <dd><code>${service.id}</code></dd>
        <dt>Labels</dt>
        <dd>${labelChips(service.labels)}</dd>
        <dt>Server selector</dt>
        <dd>${service.selector ? html`<code>${service.selector}</code>` : html`<span class="muted">every server</span>`}</dd>
        <dt>Description</dt>
        <dd>${service.description || html`<span class="muted">none</span>`}</dd>
        <dt>Changed</dt>
        <dd>${time(service.modified)}</dd>
        <dt>Expires</dt>
        <dd>
          ${
            service.expires
              ? html`${time(service.expires)}
                  <span class="muted">(${fromNow(service.expires)}; each registration with a TTL renews it)</span>`
              : html`<span class="muted">never (registered without a TTL)</span>`
          }
        </dd>
        <dt>Servers</dt>
        <dd>${serverLinks(service.servers)}</dd>
      </dl>
      <h2>What Prometheus gets</h2>
      ${
        config === 'disabled'
          ? html`<p class="empty">
              Namespace ${service.namespace} is not exported (export disabled): no server's http_sd lists this service.
            </p>`
          : groups.length === 0
            ? html`<p class="empty">No server scrapes it: no registered server matches its selector.</p>`
            : groups.map(
                ({server, group}) =>
                  html`<h3>From <a href="/ui/servers/${encodeURIComponent(server)}">${server}</a></h3>
                    <p>
                      In <code>/v1/sd/${server}</code> and <code>/v1/sd/${server}/${service.namespace}</code>, this ${config} target group:
                    </p>
                    <div class="code">
                      <pre class="json" tabindex="0" aria-label="Target group for ${server}">
${group ? serializeTargetGroups([group]) : ''}</pre>
                    </div>`,
              )
      }
      <h2>History</h2>
      ${'items' in events ? eventTable(`Changes to ${service.endpoint}`, events.items) : events}`,
  }
}
