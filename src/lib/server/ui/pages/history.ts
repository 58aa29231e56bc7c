/**
 * The registry's history (GET /v1/events): the /ui/history page with its filters, and the event
 * tables the overview and a service's page show. A server without the events route says so
 * instead of a table.
 */
import {count, literalPattern, time} from '../format.js'
import {type Html, html} from '../html.js'
import {V1Error, type Query, type V1Client} from '../v1.js'
import {type Page, href, pager, problem, table, textField} from './page.js'

/** An event as GET /v1/events gives it. */
export interface RegistryEvent {
  id: string
  time: string
  actor: {kind: string; id?: string; role?: string; email?: string; user?: string; host?: string}
  action: string
  object: {kind: string; namespace?: string; name?: string; endpoint?: string; id?: string}
  changes?: Record<string, {before?: unknown; after?: unknown}>
}

export interface EventPage {
  items: RegistryEvent[]
  continue?: string
}

/** A page of events, or a message saying why there is none. */
export async function readEvents(v1: V1Client, query: Query): Promise<EventPage | Html> {
  try {
    const body = await v1.getJson<EventPage | RegistryEvent[]>('/events', query)
    return Array.isArray(body) ? {items: body} : body
  } catch (error) {
    if (error instanceof V1Error && error.status === 404 && /no such route/.test(error.message))
      return html`<p class="empty">This server keeps no history of changes (its API has no /v1/events).</p>`
    if (error instanceof V1Error && error.status < 500) return problem(error.message)
    throw error
  }
}

/** Windows back from now that latestEvents tries in turn, and how many pages it reads in one. */
const LATEST_WINDOWS = ['1m', '1h', '1d', '30d', undefined]
const LATEST_PAGES = 5

/**
 * The `n` newest events matching `filter`, newest first. The API pages oldest first, so this
 * reads the last minute, then the last hour, day, month and all, until one window holds `n`; a
 * window of more than LATEST_PAGES pages is cut there (the events are then not the very newest,
 * and `partial` says so).
 */
export async function latestEvents(v1: V1Client, filter: Query, n: number): Promise<(EventPage & {partial?: boolean}) | Html> {
  let found: RegistryEvent[] = []
  for (const since of LATEST_WINDOWS) {
    found = []
    let next: string | undefined
    let pages = 0
    do {
      const page = await readEvents(v1, {...filter, since, limit: '1000', continue: next})
      if (!('items' in page)) return page
      found.push(...page.items)
      if (found.length > n) found = found.slice(-n)
      next = page.continue
    } while (next !== undefined && ++pages < LATEST_PAGES)
    if (next !== undefined) return {items: found.reverse(), partial: true}
    if (found.length >= n) break
  }
  return {items: found.reverse()}
}

export function eventTable(caption: string, events: RegistryEvent[], empty = 'No changes recorded.'): Html {
  return table(
    caption,
    ['Time', 'Who', 'Action', 'Object', 'Changes'],
    events.map(
      (e) =>
        html`<tr>
          <td>${time(e.time)}</td>
          <td>${actorOf(e.actor)}</td>
          <td>${e.action}</td>
          <td>${objectOf(e.object)}</td>
          <td>${changesOf(e.changes)}</td>
        </tr>`,
    ),
    empty,
  )
}

function actorOf(actor: RegistryEvent['actor']): Html {
  const who = actor.email ?? actor.user ?? actor.id ?? actor.kind
  const where = actor.host ? `@${actor.host}` : ''
  const what = [actor.kind, actor.role].filter(Boolean).join(', ')
  return html`${who}${where} <span class="muted">(${what})</span>`
}

function objectOf(object: RegistryEvent['object']): Html {
  const label = object.endpoint ?? object.name ?? object.id ?? ''
  const link =
    object.kind === 'service' && object.id
      ? href(`/ui/services/${encodeURIComponent(object.id)}`)
      : object.kind === 'server' && object.name
        ? `/ui/servers/${encodeURIComponent(object.name)}`
        : object.kind === 'namespace'
          ? '/ui/namespaces'
          : undefined
  const where = object.namespace && object.kind === 'service' ? html` <span class="muted">in ${object.namespace}</span>` : ''
  return html`<span class="muted">${object.kind}</span> ${link ? html`<a href="${link}">${label}</a>` : label}${where}`
}

function changesOf(changes: RegistryEvent['changes']): Html {
  const fields = Object.entries(changes ?? {})
  if (fields.length === 0) return html``
  return html`<ul class="changes">
    ${fields.map(([field, {before, after}]) => html`<li><code>${field}</code>: ${show(before)} → ${show(after)}</li>`)}
  </ul>`
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '∅'
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > 120 ? `${text.slice(0, 117)}…` : text
}

const FILTERS = ['since', 'until', 'actor', 'namespace', 'endpoint'] as const
const PAGE = 50

export const historyPage: Page = async ({v1, query}) => {
  const filter: Query = {}
  for (const f of FILTERS) filter[f] = query[f]?.trim() || undefined
  const form = html`<form class="filters" method="get" action="/ui/history" role="search" aria-label="Filter the history">
    ${textField('Since', 'since', filter.since, {placeholder: '24h or 2025-01-31T00:00:00Z'})}
    ${textField('Until', 'until', filter.until, {placeholder: 'RFC 3339 time'})}
    ${textField('Who', 'actor', filter.actor, {placeholder: 'user, token or host'})}
    ${textField('Namespace', 'namespace', filter.namespace)}
    ${textField('Endpoint contains', 'endpoint', filter.endpoint, {placeholder: 'db1:9100'})}
    <button type="submit">Filter</button>
  </form>`
  const api = {...filter, endpoint: filter.endpoint && literalPattern(filter.endpoint)}
  // Without a time window: the newest changes first. With one: all of it, oldest first, a page at a time.
  if (!filter.since && !filter.until) {
    const latest = await latestEvents(v1, api, PAGE)
    if (!('items' in latest)) return {title: 'History', main: html`${form}${latest}`}
    return {
      title: 'History',
      main: html`${form} ${eventTable(`The ${count(latest.items.length)} newest changes, newest first`, latest.items)}
        <p class="muted">Give a time window (since, until) to read every change in it, oldest first.${partialNote(latest)}</p>`,
    }
  }
  const events = await readEvents(v1, {...api, limit: String(PAGE), continue: query.continue})
  if (!('items' in events)) return {title: 'History', main: html`${form}${events}`}
  return {
    title: 'History',
    main: html`${form} ${eventTable('Changes in this window, oldest first', events.items)}
    ${pager('/ui/history', {...filter, continue: query.continue, from: query.from}, events.items.length, events.continue)}`,
  }
}

/** Said under a table of latestEvents() when the newest window held more than it reads. */
export function partialNote(events: {partial?: boolean}): string {
  return events.partial ? ` More than ${count(LATEST_PAGES * 1000)} changes in the last minute: these are not all the newest.` : ''
}
