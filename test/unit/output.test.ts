import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {formatCsv, formatRows, formatRowsStream, type Column} from '../../src/lib/output/print-rows.js'

interface Row {
  name: string
  labels: Record<string, string>
  servers: string[]
}

const rows: Row[] = [
  {name: 'node', labels: {env: 'prod', team: 'db'}, servers: ['prom1', 'prom2']},
  {name: 'has,comma "q"', labels: {}, servers: []},
]
const columns: Column<Row>[] = [
  {header: 'NAME', get: (r) => r.name},
  {header: 'LABELS', get: (r) => r.labels},
  {header: 'SERVERS', get: (r) => r.servers},
]

describe('formatRows', () => {
  it('prints tab-separated lines when stdout is not a terminal', async () => {
    const text = await formatRows(rows, columns, {format: 'table', headers: true, tty: false})
    assert.equal(text, 'NAME\tLABELS\tSERVERS\nnode\tenv=prod,team=db\tprom1,prom2\nhas,comma "q"\t\t')
  })

  it('omits the header with --no-headers', async () => {
    const text = await formatRows(rows.slice(0, 1), columns, {format: 'table', headers: false, tty: false})
    assert.equal(text, 'node\tenv=prod,team=db\tprom1,prom2')
  })

  it('aligns columns on a terminal', async () => {
    const text = await formatRows(rows.slice(0, 1), columns, {format: 'table', headers: true, tty: true})
    const [head, line] = text.split('\n')
    assert.ok(head && line)
    assert.equal(head.indexOf('LABELS'), line.indexOf('env=prod'))
    assert.equal(head.indexOf('SERVERS'), line.indexOf('prom1'))
  })

  it('quotes CSV fields per RFC 4180', () => {
    assert.equal(formatCsv(rows, columns, true), 'NAME,LABELS,SERVERS\r\nnode,"env=prod,team=db","prom1,prom2"\r\n"has,comma ""q""",,')
  })

  it('prints the data itself as JSON and YAML', async () => {
    const json = await formatRows(rows, columns, {format: 'json', headers: true, tty: false})
    assert.deepEqual(JSON.parse(json), rows)
    const yaml = await formatRows(rows, columns, {format: 'yaml', headers: true, tty: false, data: {a: [1]}})
    assert.equal(yaml, 'a:\n  - 1')
  })
})

describe('formatRowsStream', () => {
  async function* each<T>(items: T[]): AsyncGenerator<T> {
    for (const item of items) yield item
  }
  const many: Row[] = Array.from({length: 7}, (_, i) => ({name: `svc${i}`, labels: {i: String(i)}, servers: [`prom${i % 2}`]}))

  for (const format of ['json', 'yaml', 'csv', 'table']) {
    for (const headers of [true, false]) {
      for (const list of [many, []]) {
        it(`prints what formatRows prints, page by page: ${format}, headers ${headers}, ${list.length} rows`, async () => {
          let streamed = ''
          for await (const text of formatRowsStream(each(list), columns, {format, headers}, 3)) streamed += text
          const whole = await formatRows(list, columns, {format, headers, tty: false})
          assert.equal(streamed, whole === '' ? '' : whole + (format === 'csv' ? '\r\n' : '\n'))
        })
      }
    }
  }
})
