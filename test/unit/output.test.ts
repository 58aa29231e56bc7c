import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {formatCsv, formatRows, type Column} from '../../src/lib/output/print-rows.js'

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
    assert.equal(
      formatCsv(rows, columns, true),
      'NAME,LABELS,SERVERS\r\nnode,"env=prod,team=db","prom1,prom2"\r\n"has,comma ""q""",,',
    )
  })

  it('prints the data itself as JSON and YAML', async () => {
    const json = await formatRows(rows, columns, {format: 'json', headers: true, tty: false})
    assert.deepEqual(JSON.parse(json), rows)
    const yaml = await formatRows(rows, columns, {format: 'yaml', headers: true, tty: false, data: {a: [1]}})
    assert.equal(yaml, 'a:\n  - 1')
  })
})
