import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {escapeLabelValue, parseSampleLine} from '../../src/lib/metrics-proxy/exposition.js'
import {runMerge} from '../support/merge-pods.js'

const pod = (name: string, text: string, namespace = 'n') => ({pod: name, namespace, chunks: [text]})

describe('metrics-proxy exposition merge', () => {
  it('parses sample lines with escapes, spaces and timestamps', () => {
    assert.deepEqual(parseSampleLine('a_total{x="1",y="q\\"uo\\\\te\\n"} 3 1700000000000'), {
      name: 'a_total',
      labels: [
        ['x', '1'],
        ['y', 'q\\"uo\\\\te\\n'],
      ],
      rest: '3 1700000000000',
    })
    assert.deepEqual(parseSampleLine('b 1.5e+3'), {name: 'b', labels: [], rest: '1.5e+3'})
    assert.deepEqual(parseSampleLine('c{ a = "1" , } +Inf'), {name: 'c', labels: [['a', '1']], rest: '+Inf'})
    assert.equal(parseSampleLine('d{a="1} 1'), undefined)
    assert.equal(parseSampleLine('e{a="\\x"} 1'), undefined)
    assert.equal(parseSampleLine('9bad 1'), undefined)
    assert.equal(parseSampleLine('f{a="1"}'), undefined)
    assert.equal(parseSampleLine('g 1 2 3'), undefined)
    assert.equal(parseSampleLine('h 1 12x'), undefined)
  })

  it('adds pod and namespace, renames clashing labels exported_*, escapes values', async () => {
    const {text} = await runMerge([pod('p"1', 'x{pod="inner",exported_pod="z",namespace="n"} 1\n', 'ns\\a')])
    assert.match(text, /^x\{exported_exported_pod="inner",exported_pod="z",exported_namespace="n",pod="p\\"1",namespace="ns\\\\a"\} 1$/m)
    assert.equal(escapeLabelValue('a\nb'), 'a\\nb')
  })

  it("writes HELP/TYPE once per family with every pod's samples together, and up last", async () => {
    const text = (v: number) =>
      [
        '# HELP req_total Requests.',
        '# TYPE req_total counter',
        `req_total{code="200"} ${v}`,
        '# HELP lat_seconds Latency.',
        '# TYPE lat_seconds histogram',
        `lat_seconds_bucket{le="0.1"} ${v}`,
        `lat_seconds_bucket{le="+Inf"} ${v}`,
        `lat_seconds_sum ${v}`,
        `lat_seconds_count ${v}`,
        '# HELP up Their own up.',
        '# TYPE up gauge',
        'up 1',
        'garbage line here',
      ].join('\n')
    const run = await runMerge([pod('a', text(1)), pod('b', text(2)), {...pod('c', ''), status: 500}])
    const out = run.text
    assert.equal(out.match(/# TYPE req_total/g)?.length, 1)
    assert.equal(out.match(/# HELP lat_seconds /g)?.length, 1)
    assert.equal(run.result.dropped, 2)
    const lines = out.trim().split('\n')
    assert.deepEqual(lines.slice(0, 4), [
      '# HELP req_total Requests.',
      '# TYPE req_total counter',
      'req_total{code="200",pod="a",namespace="n"} 1',
      'req_total{code="200",pod="b",namespace="n"} 2',
    ])
    assert.deepEqual(lines.slice(4, 8), [
      '# HELP lat_seconds Latency.',
      '# TYPE lat_seconds histogram',
      'lat_seconds_bucket{le="0.1",pod="a",namespace="n"} 1',
      'lat_seconds_bucket{le="+Inf",pod="a",namespace="n"} 1',
    ])
    assert.deepEqual(lines.slice(-5), [
      '# HELP up 1 if the proxy scraped the pod within the timeout, else 0.',
      '# TYPE up gauge',
      'up{pod="a",namespace="n"} 1',
      'up{pod="b",namespace="n"} 1',
      'up{pod="c",namespace="n"} 0',
    ])
    assert.ok(!out.includes('Their own up'))
    assert.equal(run.result.reasons.get(run.result.reasons.keys().next().value!), 'HTTP 500')
  })

  it('inserts the labels into any label set, keeping value and timestamp as they are', async () => {
    const {text} = await runMerge([pod('p', 'a 1.5e+3 1700000000000\nb{x="1",} NaN\nc{} -Inf\nd{ y = "q\\"" } 2\n')])
    assert.deepEqual(text.split('\n').slice(0, 4), [
      'a{pod="p",namespace="n"} 1.5e+3 1700000000000',
      'b{x="1",pod="p",namespace="n"} NaN',
      'c{pod="p",namespace="n"} -Inf',
      'd{ y = "q\\"" ,pod="p",namespace="n"} 2',
    ])
  })

  it('drops a family a later pod types differently', async () => {
    const {text, result} = await runMerge([pod('a', '# TYPE x counter\nx 1\n'), pod('b', '# TYPE x gauge\nx 2\n')])
    assert.equal(result.dropped, 1)
    assert.doesNotMatch(text, /^x\{.*pod="b"/m)
    assert.match(text, /^up\{pod="b",namespace="n"\} 1$/m)
  })
})
