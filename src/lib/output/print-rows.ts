/**
 * The one place that formats results: tables (cli-table3 on a terminal, tab-separated lines
 * otherwise), JSON, YAML and CSV. Returns strings; the command writes them.
 */
export type OutputFormat = 'table' | 'json' | 'yaml' | 'csv'

export interface Column<T> {
  header: string
  get: (row: T) => unknown
}

export interface FormatOptions {
  format: string
  /** Print the header line (tables and CSV). */
  headers: boolean
  /** Whether stdout is a terminal: aligned table there, tab-separated lines elsewhere. */
  tty: boolean
  /** What json/yaml print; the rows themselves by default. */
  data?: unknown
  /** Colour states in an aligned terminal table (see colour.ts: colourEnabled); never elsewhere. */
  colour?: boolean
}

export function formatCell(value: unknown): string {
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) return value.map((v) => formatCell(v)).join(',')
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}=${formatCell(v)}`)
      .join(',')
  }
  return String(value)
}

export async function formatRows<T>(rows: T[], columns: Column<T>[], options: FormatOptions): Promise<string> {
  const data = options.data === undefined ? rows : options.data
  switch (options.format) {
    case 'json':
      return JSON.stringify(data, null, 2)
    case 'yaml': {
      const {stringify} = await import('yaml')
      return stringify(data).trimEnd()
    }
    case 'csv':
      return formatCsv(rows, columns, options.headers)
    default:
      return formatTable(rows, columns, options)
  }
}

async function formatTable<T>(rows: T[], columns: Column<T>[], options: FormatOptions): Promise<string> {
  const cells = rows.map((row) => columns.map((c) => formatCell(c.get(row)).replace(/[\t\n]/g, ' ')))
  if (!options.tty) {
    const lines = options.headers ? [columns.map((c) => c.header).join('\t')] : []
    for (const r of cells) lines.push(r.join('\t'))
    return lines.join('\n')
  }
  if (options.colour) {
    const {colourCell} = await import('./colour.js')
    for (const r of cells) r.forEach((cell, i) => (r[i] = colourCell(columns[i]?.header ?? '', cell)))
  }
  const {default: Table} = await import('cli-table3')
  const table = new Table({
    head: options.headers ? columns.map((c) => c.header) : [],
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '   ',
    },
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0},
  })
  table.push(...cells)
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
}

const CSV_QUOTED = /[",\r\n]/

/** A CSV field: quoted, quotes doubled, when it holds a comma, quote or line break (RFC 4180). */
function csvField(s: string): string {
  return CSV_QUOTED.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/**
 * RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. Built by
 * appending to one string (a list streams a page of a thousand rows through here at a time).
 */
export function formatCsv<T>(rows: T[], columns: Column<T>[], headers: boolean): string {
  let text = headers ? columns.map((c) => csvField(c.header)).join(',') : ''
  let first = !headers
  for (const row of rows) {
    let line = ''
    for (let i = 0; i < columns.length; i++) {
      const value = columns[i]!.get(row)
      line += (i === 0 ? '' : ',') + csvField(typeof value === 'string' ? value : formatCell(value))
    }
    text += first ? line : '\r\n' + line
    first = false
  }
  return text
}

/**
 * The text `formatRows` gives for all the rows (plus a final newline), produced page by page as
 * the rows arrive, so that a list of any size prints in constant memory. Not for an aligned
 * terminal table, whose column widths depend on every row.
 */
export async function* formatRowsStream<T>(
  rows: AsyncIterable<T>,
  columns: Column<T>[],
  options: {format: string; headers: boolean},
  pageSize = 1000,
): AsyncGenerator<string> {
  const {format, headers} = options
  let page: T[] = []
  let count = 0
  const lineEnd = format === 'csv' ? '\r\n' : '\n'
  const flush = async (): Promise<string> => {
    const first = count === 0
    count += page.length
    const rowsOfPage = page
    page = []
    if (format === 'json') {
      const body = rowsOfPage.map((r) => '  ' + JSON.stringify(r, null, 2).replace(/\n/g, '\n  ')).join(',\n')
      return (first ? '[\n' : ',\n') + body
    }
    if (format === 'yaml') return (await formatRows(rowsOfPage, columns, {format, headers, tty: false})) + '\n'
    const text = await formatRows(rowsOfPage, columns, {format, headers: headers && first, tty: false})
    return text + lineEnd
  }
  for await (const row of rows) {
    page.push(row)
    if (page.length >= pageSize) yield await flush()
  }
  if (page.length > 0) yield await flush()
  if (format === 'json') yield count === 0 ? '[]\n' : '\n]\n'
  else if (format === 'yaml' && count === 0) yield '[]\n'
  else if (count === 0 && headers) {
    const text = await formatRows([], columns, {format, headers, tty: false})
    if (text !== '') yield text + lineEnd
  }
}
