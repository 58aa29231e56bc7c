/** What a console page is given and gives back, and the pieces several pages share. */
import type {Viewer} from '../layout.js'
import {type Html, html} from '../html.js'
import type {Query, V1Client} from '../v1.js'

export interface PageRequest {
  v1: V1Client
  viewer: Viewer
  /** The query parameters (first value of each). */
  query: Query
  params: Record<string, string>
  /** The page's path and query, for links back to it. */
  url: string
}

export interface PageResult {
  title: string
  main: Html
  status?: number
}

/** A page's handler: reads through `v1`, returns the title and the content. */
export type Page = (request: PageRequest) => Promise<PageResult>

/** A table that scrolls sideways on a narrow screen, reachable and named for the keyboard. */
export function table(caption: string, head: string[], rows: Html[], empty = 'Nothing here.'): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`
  return html`<div class="scroll" role="region" aria-label="${caption}" tabindex="0">
    <table>
      <caption>
        ${caption}
      </caption>
      <thead>
        <tr>
          ${head.map((h) => html`<th scope="col">${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`
}

/** A link to `path` with `query` (empty values left out). */
export function href(path: string, query: Query = {}): string {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') search.set(k, v)
  const qs = search.toString()
  return qs ? `${path}?${qs}` : path
}

/** "Next" and "first page" links of a listing read a page at a time with the API's continue tokens. */
export function pager(path: string, query: Query, shown: number, next: string | undefined, total?: number): Html {
  const from = Number(query.from ?? '0') || 0
  const range = shown === 0 ? '' : `${(from + 1).toLocaleString('en-US')}–${(from + shown).toLocaleString('en-US')}`
  const of =
    total !== undefined ? ` of ${total.toLocaleString('en-US')}` : next === undefined ? ` of ${(from + shown).toLocaleString('en-US')}` : ''
  const base = {...query, continue: undefined, from: undefined}
  return html`<nav class="pager" aria-label="Pages">
    <p>${range ? html`Showing ${range}${of}` : ''}</p>
    ${from > 0 ? html`<a href="${href(path, base)}">First page</a>` : ''}
    ${next !== undefined ? html`<a href="${href(path, {...base, continue: next, from: String(from + shown)})}" rel="next">Next page</a>` : ''}
  </nav>`
}

/** A message box: what went wrong, in the API's words. */
export function problem(message: string): Html {
  return html`<p class="problem" role="alert">${message}</p>`
}

/** A labelled text field of a GET form (label and field tied by id). */
export function textField(label: string, name: string, value: string | undefined, o: {placeholder?: string; search?: boolean} = {}): Html {
  return html`<div class="field${o.search ? ' wide' : ''}">
    <label for="f-${name}">${label}</label>
    <input
      id="f-${name}"
      name="${name}"
      value="${value ?? ''}"
      ${o.search ? html`type="search" data-search` : html`type="text"`}
      placeholder="${o.placeholder ?? ''}"
    />
  </div>`
}

/** A labelled choice of a GET form: `options` as [value, label]. */
export function selectField(
  label: string,
  name: string,
  options: readonly (readonly [string, string])[],
  selected: string | undefined,
): Html {
  return html`<div class="field choice">
    <label for="f-${name}">${label}</label>
    <select id="f-${name}" name="${name}">
      ${options.map(([value, text]) => html`<option value="${value}" ${value === (selected ?? '') ? html`selected` : ''}>${text}</option>`)}
    </select>
  </div>`
}
