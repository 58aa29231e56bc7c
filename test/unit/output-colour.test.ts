import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {colourCell, colourEnabled} from '../../src/lib/output/colour.js'
import {formatRows, type Column} from '../../src/lib/output/print-rows.js'

interface Row {
  name: string
  state: string
}
const rows: Row[] = [
  {name: 'prom-a', state: 'active'},
  {name: 'prom-b', state: 'joining'},
  {name: 'prom-c', state: 'leaving'},
]
const columns: Column<Row>[] = [
  {header: 'NAME', get: (r) => r.name},
  {header: 'STATE', get: (r) => r.state},
]
const ESC = '\u001B['

describe('colours', () => {
  it('are on for a terminal only, and off with --no-color, NO_COLOR or TERM=dumb', () => {
    assert.equal(colourEnabled({tty: true, env: {}}), true)
    assert.equal(colourEnabled({tty: false, env: {}}), false)
    assert.equal(colourEnabled({tty: true, noColor: true, env: {}}), false)
    assert.equal(colourEnabled({tty: true, env: {NO_COLOR: '1'}}), false)
    assert.equal(colourEnabled({tty: true, env: {NO_COLOR: ''}}), true, 'an empty NO_COLOR is unset (no-color.org)')
    assert.equal(colourEnabled({tty: true, env: {TERM: 'dumb'}}), false)
  })

  it('colour the known states of STATE, STATUS and ACTION columns, and nothing else', () => {
    assert.equal(colourCell('STATE', 'active'), `${ESC}32mactive${ESC}39m`)
    assert.equal(colourCell('STATE', 'leaving'), `${ESC}31mleaving${ESC}39m`)
    assert.equal(colourCell('STATUS', 'NotReady,SchedulingDisabled'), `${ESC}31mNotReady,SchedulingDisabled${ESC}39m`)
    assert.equal(colourCell('STATUS', 'Ready'), `${ESC}32mReady${ESC}39m`)
    assert.equal(colourCell('ACTION', 'delete'), `${ESC}31mdelete${ESC}39m`)
    assert.equal(colourCell('NAME', 'active'), 'active')
    assert.equal(colourCell('STATE', 'something-else'), 'something-else')
  })

  it('appear in an aligned terminal table, which stays aligned', async () => {
    const text = await formatRows(rows, columns, {format: 'table', headers: true, tty: true, colour: true})
    const plain = await formatRows(rows, columns, {format: 'table', headers: true, tty: true, colour: false})
    assert.ok(text.includes(`${ESC}33mjoining${ESC}39m`), text)
    assert.ok(!plain.includes(ESC), plain)
    // eslint-disable-next-line no-control-regex
    assert.equal(text.replace(/\u001B\[\d+m/g, ''), plain)
  })

  it('never appear in tab-separated, JSON, YAML or CSV output, even when asked for', async () => {
    for (const format of ['table', 'json', 'yaml', 'csv']) {
      const text = await formatRows(rows, columns, {format, headers: true, tty: false, colour: true})
      assert.ok(!text.includes(ESC), `${format}: ${text}`)
    }
    for (const format of ['json', 'yaml', 'csv']) {
      const text = await formatRows(rows, columns, {format, headers: true, tty: true, colour: true})
      assert.ok(!text.includes(ESC), `${format} on a terminal: ${text}`)
    }
  })
})
