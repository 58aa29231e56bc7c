import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {ExpositionMerger, escapeLabelValue, parseSampleLine} from '../../src/lib/metrics-proxy/exposition.js'

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
  })

  it('adds pod and namespace, renames clashing labels exported_*, escapes values', () => {
    const m = new ExpositionMerger()
    m.addPod('x{pod="inner",exported_pod="z",namespace="n"} 1\n', {pod: 'p"1', namespace: 'ns\\a'})
    assert.match(
      m.write(),
      /^x\{exported_exported_pod="inner",exported_pod="z",exported_namespace="n",pod="p\\"1",namespace="ns\\\\a"\} 1$/m,
    )
    assert.equal(escapeLabelValue('a\nb'), 'a\\nb')
  })

  it("writes HELP/TYPE once per family with every pod's samples together, and up last", () => {
    const m = new ExpositionMerger()
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
    assert.equal(m.addPod(text(1), {pod: 'a', namespace: 'n'}), 5)
    m.addPod(text(2), {pod: 'b', namespace: 'n'})
    m.addUp({pod: 'a', namespace: 'n'}, 1)
    m.addUp({pod: 'b', namespace: 'n'}, 1)
    m.addUp({pod: 'c', namespace: 'n'}, 0)
    const out = m.write()
    assert.equal(out.match(/# TYPE req_total/g)?.length, 1)
    assert.equal(out.match(/# HELP lat_seconds /g)?.length, 1)
    assert.equal(m.dropped, 2)
    const lines = out.trim().split('\n')
    assert.deepEqual(lines.slice(0, 4), [
      '# HELP req_total Requests.',
      '# TYPE req_total counter',
      'req_total{code="200",pod="a",namespace="n"} 1',
      'req_total{code="200",pod="b",namespace="n"} 2',
    ])
    assert.deepEqual(lines.slice(-5), [
      '# HELP up 1 if the proxy scraped the pod within the timeout, else 0.',
      '# TYPE up gauge',
      'up{pod="a",namespace="n"} 1',
      'up{pod="b",namespace="n"} 1',
      'up{pod="c",namespace="n"} 0',
    ])
    assert.ok(!out.includes('Their own up'))
  })

  it('inserts the labels into any label set, keeping value and timestamp as they are', () => {
    const m = new ExpositionMerger()
    m.addPod('a 1.5e+3 1700000000000\nb{x="1",} NaN\nc{} -Inf\nd{ y = "q\\"" } 2\n', {pod: 'p', namespace: 'n'})
    assert.deepEqual(m.write().split('\n').slice(0, 4), [
      'a{pod="p",namespace="n"} 1.5e+3 1700000000000',
      'b{x="1",pod="p",namespace="n"} NaN',
      'c{pod="p",namespace="n"} -Inf',
      'd{ y = "q\\"" ,pod="p",namespace="n"} 2',
    ])
  })

  it('drops a family a later pod types differently', () => {
    const m = new ExpositionMerger()
    m.addPod('# TYPE x counter\nx 1\n', {pod: 'a', namespace: 'n'})
    m.addPod('# TYPE x gauge\nx 2\n', {pod: 'b', namespace: 'n'})
    assert.equal(m.dropped, 1)
    assert.doesNotMatch(m.write(), /pod="b"/)
  })
})
