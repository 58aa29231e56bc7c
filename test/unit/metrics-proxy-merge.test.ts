/**
 * metrics-proxy's merge of pods' answers as they arrive (src/lib/metrics-proxy/merge.ts), with
 * pods whose answers come in scripted pieces and orders: each family's lines together whatever
 * the pieces and the pods' speeds; what pods sent and the client has not taken bounded by the
 * read-ahead; the timeout cutting off the pods at fault and no other.
 */
import assert from 'node:assert/strict'
import {Writable} from 'node:stream'
import {describe, it} from 'node:test'

import {mergePods} from '../../src/lib/metrics-proxy/merge.js'
import {familiesInOrder, pieces, runMerge, type ScriptedPod} from '../support/merge-pods.js'

/** An exporter's answer: a counter, a histogram, a summary and an untyped family, `series` of each. */
function exposition(series: number, seed = 0, crlf = false): string {
  const lines = ['# HELP req_total Requests, "all" of them.', '# TYPE req_total counter']
  for (let s = 0; s < series; s++) lines.push(`req_total{path="/p${s}",note="naïve ✓"} ${s + seed}`)
  lines.push('# HELP lat_seconds Latency.', '# TYPE lat_seconds histogram')
  for (let s = 0; s < series; s++) {
    lines.push(`lat_seconds_bucket{path="/p${s}",le="0.5"} ${seed}`, `lat_seconds_bucket{path="/p${s}",le="+Inf"} ${seed + 1}`)
    lines.push(`lat_seconds_sum{path="/p${s}"} 0.25`, `lat_seconds_count{path="/p${s}"} ${seed + 1}`)
  }
  lines.push('# TYPE rpc_seconds summary')
  for (let s = 0; s < series; s++)
    lines.push(`rpc_seconds{path="/p${s}",quantile="0.9"} 0.1`, `rpc_seconds_sum{path="/p${s}"} 1`, `rpc_seconds_count{path="/p${s}"} 2`)
  for (let s = 0; s < series; s++) lines.push(`bare_value{i="${s}"} ${s} 1700000000000`)
  return lines.join(crlf ? '\r\n' : '\n') + (crlf ? '\r\n' : '\n')
}

const samples = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))

describe('metrics-proxy merge', () => {
  it('writes each family once, its lines together, whatever pieces the answers come in', async () => {
    const whole = await runMerge([
      {pod: 'a', namespace: 'n', chunks: [exposition(20, 1)]},
      {pod: 'b', namespace: 'n', chunks: [exposition(20, 2, true)]},
      {pod: 'c', namespace: 'm', chunks: [exposition(20, 3)]},
    ])
    const cut = await runMerge([
      {pod: 'a', namespace: 'n', chunks: pieces(exposition(20, 1), 1)},
      {pod: 'b', namespace: 'n', chunks: pieces(exposition(20, 2, true), 7)},
      {pod: 'c', namespace: 'm', chunks: pieces(exposition(20, 3), 500)},
    ])
    for (const run of [whole, cut]) {
      assert.deepEqual(familiesInOrder(run.text), ['req_total', 'lat_seconds', 'rpc_seconds', 'bare_value', 'up'])
      assert.equal(run.result.split, 0)
      assert.equal(run.result.up, 3)
      assert.equal(samples(run.text).length, 3 * 20 * 9 + 3)
      assert.match(run.text, /^req_total\{path="\/p7",note="naïve ✓",pod="b",namespace="n"\} 9$/m)
      assert.match(run.text, /^bare_value\{i="3",pod="c",namespace="m"\} 3 1700000000000$/m)
      assert.doesNotMatch(run.text, /\r/)
    }
    assert.deepEqual(samples(cut.text).sort(), samples(whole.text).sort())
  })

  it("a pod that answers after the others have sent everything still joins every family's group", async () => {
    let fastSent!: () => void
    const late: ScriptedPod = {
      pod: 'late',
      namespace: 'n',
      chunks: pieces(exposition(50, 2), 512),
      after: new Promise<void>((resolve) => (fastSent = resolve)),
    }
    const fast: ScriptedPod = {pod: 'fast', namespace: 'n', chunks: pieces(exposition(50, 1), 512), onSent: () => fastSent()}
    const {text, result} = await runMerge([late, fast])
    assert.deepEqual(familiesInOrder(text), ['req_total', 'lat_seconds', 'rpc_seconds', 'bare_value', 'up'])
    assert.equal(result.split, 0)
    for (const family of ['req_total{', 'lat_seconds_sum{', 'bare_value{']) {
      const pods = samples(text)
        .filter((l) => l.startsWith(family))
        .map((l) => /pod="(\w+)"/.exec(l)![1])
      assert.equal(pods.indexOf('late'), 50, `${family}: fast's 50 samples, then late's`)
    }
  })

  it('pods that list families in different orders: a family split, HELP/TYPE still once, nothing lost', async () => {
    const one = '# HELP a_total A.\n# TYPE a_total counter\na_total 1\n# HELP b_total B.\n# TYPE b_total counter\nb_total 2\n'
    const other = '# HELP b_total B.\n# TYPE b_total counter\nb_total 3\n# HELP a_total A.\n# TYPE a_total counter\na_total 4\n'
    let oneSent!: () => void
    const {text, result} = await runMerge([
      {pod: 'one', namespace: 'n', chunks: [one], onSent: () => oneSent()},
      {pod: 'other', namespace: 'n', chunks: [other], after: new Promise<void>((resolve) => (oneSent = resolve))},
    ])
    assert.equal(result.split, 1)
    assert.throws(() => familiesInOrder(text), /comes back/)
    for (const header of ['# HELP a_total', '# TYPE a_total', '# HELP b_total', '# TYPE b_total'])
      assert.equal(text.split('\n').filter((l) => l.startsWith(header)).length, 1, header)
    assert.deepEqual(samples(text).sort(), [
      'a_total{pod="one",namespace="n"} 1',
      'a_total{pod="other",namespace="n"} 4',
      'b_total{pod="one",namespace="n"} 2',
      'b_total{pod="other",namespace="n"} 3',
      'up{pod="one",namespace="n"} 1',
      'up{pod="other",namespace="n"} 1',
    ])
  })

  it('a client slow to read pauses the pods: what waits stays near the read-ahead, not the answers', async () => {
    const pods: ScriptedPod[] = ['a', 'b', 'c', 'd'].map((name, i) => ({
      pod: name,
      namespace: 'n',
      chunks: pieces(exposition(300, i), 4096),
    }))
    const total = pods.reduce((n, p) => n + p.chunks.reduce((m, c) => m + c.length, 0), 0)
    const readAheadBytes = 16 * 1024
    const {text, result, logs} = await runMerge(pods, {readAheadBytes, bytesPerTurn: 2048})
    assert.ok(total > 400_000, `the pods send ${total} bytes`)
    assert.ok(
      result.maxReadAhead <= readAheadBytes + pods.length * 4096,
      `held ${result.maxReadAhead} bytes at most: the read-ahead and a piece per pod`,
    )
    assert.ok(
      [...logs.values()].some((l) => l.pauses > 0 && l.resumes > 0),
      'pods were paused and resumed',
    )
    assert.equal(result.up, 4)
    assert.equal(result.split, 0)
    assert.equal(samples(text).length, 4 * 300 * 9 + 4)
    familiesInOrder(text)
  })

  it('timeout: a silent pod and one stalled mid-answer are up 0 and cut off; a pod the merge held back finishes', async () => {
    const big = exposition(200, 1)
    const run = await runMerge(
      [
        {pod: 'good', namespace: 'n', chunks: pieces(exposition(5, 1), 300)},
        {pod: 'silent', namespace: 'n', chunks: [], silent: true},
        {pod: 'stalled', namespace: 'n', chunks: pieces(exposition(5, 2), 200), stallAfter: 1},
        {pod: 'held', namespace: 'n', chunks: pieces(big, 8192)},
        {pod: 'refused', namespace: 'n', chunks: [], status: 503},
      ],
      // The read-ahead is smaller than held's answer: it waits paused while the first family stays open.
      {timeoutMs: 3000, readAheadBytes: 4096},
    )
    const up = Object.fromEntries(
      samples(run.text)
        .filter((l) => l.startsWith('up{'))
        .map((l) => [/pod="(\w+)"/.exec(l)![1], l.slice(-1)]),
    )
    assert.deepEqual(up, {good: '1', silent: '0', stalled: '0', held: '1', refused: '0'})
    assert.deepEqual(Object.fromEntries([...run.result.reasons].map(([p, reason]) => [p.pod, reason])), {
      silent: 'timeout',
      stalled: 'timeout',
      refused: 'HTTP 503',
    })
    assert.equal(run.logs.get('silent')?.aborted, true)
    assert.equal(run.logs.get('stalled')?.aborted, true)
    assert.equal(run.logs.get('held')?.aborted, false)
    assert.ok((run.logs.get('held')?.pauses ?? 0) > 0, 'held was paused')
    assert.equal(samples(run.text).filter((l) => l.includes('pod="held"')).length, 200 * 9 + 1)
    familiesInOrder(run.text)
  })

  it('asks at most `concurrency` pods until each starts answering; a pod never asked by the timeout is up 0', async () => {
    const run = await runMerge(
      [
        {pod: 'silent', namespace: 'n', chunks: [], silent: true},
        {pod: 'next', namespace: 'n', chunks: ['x 1\n']},
      ],
      {concurrency: 1, timeoutMs: 300},
    )
    assert.equal(run.logs.has('next'), false, 'next was never asked')
    assert.equal(run.result.reasons.size, 2)
    assert.match(run.text, /^up\{pod="next",namespace="n"\} 0$/m)
  })

  it('a client that goes away ends the merge and aborts the pods still answering', async () => {
    const aborted: string[] = []
    let writes = 0
    const out = new Writable({
      write(_chunk, _encoding, callback) {
        if (++writes === 1) setImmediate(() => out.destroy())
        callback()
      },
    })
    const pods = [
      {pod: 'talker', namespace: 'n'},
      {pod: 'silent', namespace: 'n'},
    ]
    const result = await mergePods({
      pods,
      out,
      timeoutMs: 60_000,
      concurrency: 2,
      open: (pod, sink) => {
        if (pod.pod === 'talker')
          setImmediate(() => {
            sink.answered()
            sink.data(Buffer.from(exposition(2000)))
          })
        return {pause() {}, resume() {}, abort: () => aborted.push(pod.pod)}
      },
    })
    assert.deepEqual(aborted.sort(), ['silent', 'talker'])
    assert.equal(result.up, 0)
  })
})
