import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidInputError} from '../../src/lib/errors.js'
import type {Service} from '../../src/lib/registry/model.js'
import {
  GroupRenderer,
  joinGroupTexts,
  prometheusLabelName,
  sdConfigOf,
  serializeTargetGroups,
  serviceLabels,
  targetGroups,
  targetGroupsText,
  type SdConfig,
  type TargetGroup,
} from '../../src/lib/sd/targets.js'
import {awkwardServices} from '../support/sd-services.js'

function service(over: Partial<Service> & {endpoint: string}): Service {
  return {
    id: `id-${over.endpoint}`,
    name: 'node',
    namespace: 'ns1',
    labels: {},
    selector: '',
    servers: ['prom1'],
    description: '',
    modified: '2026-01-01T00:00:00Z',
    ...over,
  }
}

const meta = (s: Service): Record<string, string> => ({
  __meta_roster_namespace: s.namespace,
  __meta_roster_server: 'prom1',
  __meta_roster_service_id: s.id,
})

describe('sd target groups: standard', () => {
  const cases: {title: string; service: Service; targets: string[]; labels: Record<string, string>}[] = [
    {
      title: 'host and port, path, no query',
      service: service({endpoint: 'http://10.0.0.1:9100/metrics'}),
      targets: ['10.0.0.1:9100'],
      labels: {job: 'node', instance: '10.0.0.1:9100', __scheme__: 'http', __metrics_path__: '/metrics'},
    },
    {
      title: 'http without a port: 80',
      service: service({endpoint: 'http://host.example.com/'}),
      targets: ['host.example.com:80'],
      labels: {job: 'node', instance: 'host.example.com:80', __scheme__: 'http', __metrics_path__: '/'},
    },
    {
      title: 'https without a port: 443',
      service: service({endpoint: 'https://host.example.com/probe/metrics'}),
      targets: ['host.example.com:443'],
      labels: {job: 'node', instance: 'host.example.com:443', __scheme__: 'https', __metrics_path__: '/probe/metrics'},
    },
    {
      title: 'IPv6 host keeps its brackets',
      service: service({endpoint: 'http://[::1]:9100/metrics'}),
      targets: ['[::1]:9100'],
      labels: {job: 'node', instance: '[::1]:9100', __scheme__: 'http', __metrics_path__: '/metrics'},
    },
    {
      title: 'query parameters become __param_<k> (first value; invalid names left out)',
      service: service({endpoint: 'http://h:9115/probe?module=http_2xx&target=a%20b&module=other&bad-name=x'}),
      targets: ['h:9115'],
      labels: {
        job: 'node',
        instance: 'h:9115',
        __scheme__: 'http',
        __metrics_path__: '/probe',
        __param_module: 'http_2xx',
        __param_target: 'a b',
      },
    },
    {
      title: 'service labels: names made valid',
      service: service({
        endpoint: 'http://h:1/m',
        labels: {'app.kubernetes.io/name': 'x', 'team-name': 'ops', '9lives': 'cat', env: 'prod'},
      }),
      targets: ['h:1'],
      labels: {
        job: 'node',
        instance: 'h:1',
        __scheme__: 'http',
        __metrics_path__: '/m',
        app_kubernetes_io_name: 'x',
        team_name: 'ops',
        _9lives: 'cat',
        env: 'prod',
      },
    },
    {
      title: 'a service label "job" or "instance" overrides the default',
      service: service({endpoint: 'http://h:1/m', labels: {job: 'nodes', instance: 'web-1'}}),
      targets: ['h:1'],
      labels: {job: 'nodes', instance: 'web-1', __scheme__: 'http', __metrics_path__: '/m'},
    },
  ]
  for (const c of cases) {
    it(c.title, () => {
      const groups = targetGroups([c.service], {server: 'prom1', namespace: 'ns1', config: 'standard'})
      assert.deepEqual(groups, [{targets: c.targets, labels: {...c.labels, ...meta(c.service)}}])
      assert.deepEqual(Object.keys(groups[0]!.labels), Object.keys(groups[0]!.labels).sort(), 'labels are sorted')
    })
  }
})

describe('sd target groups: blackbox', () => {
  it('has the full URL as target, the service labels and the meta labels only', () => {
    const s = service({endpoint: 'https://web.example.com/health?x=1', labels: {'app.kubernetes.io/name': 'web'}})
    assert.deepEqual(targetGroups([s], {server: 'prom1', namespace: 'ns1', config: 'blackbox'}), [
      {targets: ['https://web.example.com/health?x=1'], labels: {app_kubernetes_io_name: 'web', ...meta(s)}},
    ])
  })
})

describe('sd target groups: selection, order and bytes', () => {
  const services = [
    service({name: 'b', endpoint: 'http://h:2/m'}),
    service({name: 'a', endpoint: 'http://h:3/m'}),
    service({name: 'a', endpoint: 'http://h:1/m'}),
    service({name: 'other-ns', namespace: 'ns2', endpoint: 'http://h:4/m'}),
    service({name: 'other-server', servers: ['prom2'], endpoint: 'http://h:5/m'}),
    service({name: 'unassigned', servers: [], endpoint: 'http://h:6/m'}),
    service({name: 'two-servers', servers: ['prom2', 'prom1'], endpoint: 'http://h:7/m'}),
  ]

  it('keeps only the namespace and the server, sorted by name then endpoint', () => {
    const groups = targetGroups(services, {server: 'prom1', namespace: 'ns1', config: 'standard'})
    assert.deepEqual(
      groups.map((g) => g.targets[0]),
      ['h:1', 'h:3', 'h:2', 'h:7'],
    )
    assert.deepEqual(targetGroups(services, {server: 'nope', namespace: 'ns1', config: 'standard'}), [])
  })

  it('gives the same bytes for the same registry in any order', () => {
    const o = {server: 'prom1', namespace: 'ns1', config: 'standard'} as const
    const a = serializeTargetGroups(targetGroups(services, o))
    const b = serializeTargetGroups(targetGroups([...services].reverse(), o))
    assert.equal(a, b)
    assert.ok(a.endsWith('\n'))
    assert.deepEqual(JSON.parse(a), targetGroups(services, o))
  })

  it('serializes labels sorted and targets before labels, even from unsorted input', () => {
    const groups: TargetGroup[] = [{targets: ['h:1'], labels: {z: '1', a: '2'}}]
    assert.equal(
      serializeTargetGroups(groups),
      '[\n  {\n    "targets": [\n      "h:1"\n    ],\n    "labels": {\n      "a": "2",\n      "z": "1"\n    }\n  }\n]\n',
    )
    assert.equal(serializeTargetGroups([]), '[]\n')
  })
})

describe('sd label names', () => {
  const cases: [string, string][] = [
    ['env', 'env'],
    ['team-name', 'team_name'],
    ['app.kubernetes.io/name', 'app_kubernetes_io_name'],
    ['9lives', '_9lives'],
    ['A_b', 'A_b'],
  ]
  for (const [input, output] of cases) it(`${input} → ${output}`, () => assert.equal(prometheusLabelName(input), output))

  it('resolves collisions: a valid name wins, then sorted order; never a __ name', () => {
    assert.deepEqual(serviceLabels({'a.b': 'dotted', a_b: 'valid'}), {a_b: 'valid'})
    assert.deepEqual(serviceLabels({'a.b': 'dotted', 'a-b': 'dashed'}), {a_b: 'dashed'})
    assert.deepEqual(serviceLabels({__x: 'reserved', y: '1'}), {y: '1'})
  })
})

describe('sd config of a namespace', () => {
  const cases: [Parameters<typeof sdConfigOf>[0], string | undefined, string][] = [
    ['standard', undefined, 'standard'],
    ['blackbox', undefined, 'blackbox'],
    ['disabled', undefined, 'disabled'],
    ['standard', 'blackbox', 'blackbox'],
    ['blackbox', 'standard', 'standard'],
    ['disabled', 'standard', 'disabled'],
  ]
  for (const [exp, override, want] of cases)
    it(`${exp} with ${override ?? 'no override'} → ${want}`, () => assert.equal(sdConfigOf(exp, override), want))

  for (const bad of ['', 'disabled', 'Standard', 'x'])
    it(`rejects the override ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => sdConfigOf('standard', bad),
        (e: unknown) =>
          e instanceof InvalidInputError && e.exitCode === 2 && e.message === `config ${JSON.stringify(bad)}: must be standard or blackbox`,
      )
    })
})

/**
 * The shapes as objects, the way roster first built them (an object per group, JSON.stringify of
 * the list): the renderer, which writes the text straight from the services, must give the same
 * bytes for every service.
 */
function referenceText(services: Service[], o: {server: string; namespace: string; config: SdConfig}): string {
  const meta = (s: Service) => ({__meta_roster_namespace: s.namespace, __meta_roster_server: o.server, __meta_roster_service_id: s.id})
  const sorted = (labels: Record<string, string>) =>
    Object.fromEntries(
      Object.keys(labels)
        .sort()
        .map((k) => [k, labels[k]!]),
    )
  const group = (s: Service): TargetGroup => {
    if (o.config === 'blackbox') return {targets: [s.endpoint], labels: sorted({...serviceLabels(s.labels), ...meta(s)})}
    const url = new URL(s.endpoint)
    const scheme = url.protocol.replace(/:$/, '')
    const address = `${url.hostname}:${url.port !== '' ? url.port : scheme === 'https' ? '443' : '80'}`
    const params: Record<string, string> = {}
    for (const [name, value] of url.searchParams) {
      const label = `__param_${name}`
      if (/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(label) && !Object.hasOwn(params, label)) params[label] = value
    }
    const labels = {
      job: s.name,
      instance: address,
      ...serviceLabels(s.labels),
      __scheme__: scheme,
      __metrics_path__: url.pathname === '' ? '/' : url.pathname,
      ...params,
      ...meta(s),
    }
    return {targets: [address], labels: sorted(labels)}
  }
  const selected = services
    .filter((s) => s.namespace === o.namespace && s.servers.includes(o.server))
    .sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : a.id < b.id ? -1 : 1,
    )
  return JSON.stringify(selected.map(group), null, 2) + '\n'
}

describe('sd target groups: the renderer gives the bytes of the objects', () => {
  const services = awkwardServices(3000)
  for (const config of ['standard', 'blackbox'] as const) {
    for (const [server, namespace] of [
      ['prom1', 'ns1'],
      ['prom2', 'ns2'],
      ['prom3', 'ns1'],
    ] as const) {
      it(`${config}, ${server}, ${namespace}`, () => {
        const o = {server, namespace, config}
        const text = targetGroupsText(services, o)
        assert.equal(text, referenceText(services, o))
        assert.equal(serializeTargetGroups(targetGroups(services, o)), text)
      })
    }
  }

  it('joins group texts as one list, and an empty one as []', () => {
    const renderer = new GroupRenderer()
    const [a, b] = awkwardServices(2, 7).map((s) => ({...s, namespace: 'ns1', servers: ['prom1']}))
    const both = joinGroupTexts([a!, b!].map((s) => renderer.text(s, 'prom1', 'standard')))
    assert.deepEqual(JSON.parse(both), [
      ...targetGroups([a!], {server: 'prom1', namespace: 'ns1', config: 'standard'}),
      ...targetGroups([b!], {server: 'prom1', namespace: 'ns1', config: 'standard'}),
    ])
    assert.equal(joinGroupTexts([]), '[]\n')
  })
})
