/**
 * How the console writes values: times as <time> elements in UTC (the page's script shows them
 * in the viewer's time zone, with UTC on hover), spans of time, counts, labels.
 */
import {type Html, html} from './html.js'

/** A time as `<time>`: UTC in the page; the script shows it in the viewer's zone and keeps UTC in the title. */
export function time(iso: string | undefined | null): Html {
  if (!iso) return html`<span class="muted">never</span>`
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return html`${iso}`
  const utc = new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
  return html`<time datetime="${new Date(ms).toISOString()}" title="${utc}">${utc}</time>`
}

/** A span of time in words: "3 d 4 h", "12 min", "45 s". */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'min'],
    [s % 60, 's'],
  ]
  const first = parts.findIndex(([n]) => n > 0)
  if (first < 0) return '0 s'
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ')
}

/** "in 3 h 2 min" or "4 min ago", from now. */
export function fromNow(iso: string, now = Date.now()): string {
  const delta = Date.parse(iso) - now
  return delta >= 0 ? `in ${span(delta)}` : `${span(-delta)} ago`
}

export function count(n: number): string {
  return n.toLocaleString('en-US')
}

/** Labels as `key=value` chips. */
export function labelChips(labels: Record<string, string>): Html {
  const keys = Object.keys(labels).sort()
  if (keys.length === 0) return html`<span class="muted">none</span>`
  return html`<ul class="chips">
    ${keys.map((k) => html`<li><code>${k}=${labels[k]!}</code></li>`)}
  </ul>`
}

/** A regular expression that matches `text` literally (the API's filters are regular expressions). */
export function literalPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
