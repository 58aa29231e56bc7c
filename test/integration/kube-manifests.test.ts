/**
 * deploy/kubernetes as `kubectl apply -k` sends it (`kubectl kustomize`, nothing beyond kubectl):
 * every rendered object validates against the Kubernetes OpenAPI schemas that kubernetes-models
 * compiles (@kubernetes-models/prometheus-operator for the ServiceMonitors) and has no field the
 * API does not know (kube-apiserver's strict field validation, with client-node's models); every
 * container runs non-root on a read-only root filesystem with no privilege, no capability and
 * the runtime's seccomp profile, has CPU and memory requests and a memory limit, probes on every
 * port it listens on, and its code cache on an emptyDir.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import {ROOT} from '../support/cli.js'
import {deployedContainer, JOBS, podSpecOf, renderBase, type Container, type RenderedObject} from '../support/kube-manifests.js'

const BASES = [...JOBS, 'namespace', 'monitoring/prometheus-operator', 'monitoring/gke'] as const
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version

interface Model {
  new (data: unknown): {validate(): void}
}
interface AttributeType {
  baseName: string
  type: string
}
type ClientModels = Record<string, {getAttributeTypeMap?: () => AttributeType[]} | undefined>

let rendered: Map<string, RenderedObject[]>
let schemas: Record<string, Record<string, Model>>
let clientModels: ClientModels

before(async () => {
  rendered = new Map(BASES.map((base) => [base, renderBase(base)]))
  schemas = {
    v1: (await import('kubernetes-models/v1')) as unknown as Record<string, Model>,
    'apps/v1': (await import('kubernetes-models/apps/v1')) as unknown as Record<string, Model>,
    'rbac.authorization.k8s.io/v1': (await import('kubernetes-models/rbac.authorization.k8s.io/v1')) as unknown as Record<string, Model>,
    'policy/v1': (await import('kubernetes-models/policy/v1')) as unknown as Record<string, Model>,
    'monitoring.coreos.com/v1': (await import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1')) as unknown as Record<
      string,
      Model
    >,
  }
  clientModels = (await import('@kubernetes/client-node')) as unknown as ClientModels
})

/** The fields of `value` that client-node's model of `type` does not have, as paths. */
function unknownFields(value: unknown, type: string, at: string): string[] {
  if (value === null || typeof value !== 'object') return []
  const array = /^Array<(.+)>$/.exec(type)
  if (array) return (value as unknown[]).flatMap((v, i) => unknownFields(v, array[1] as string, `${at}[${i}]`))
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map) return Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1] as string, `${at}.${k}`))
  const attributes = clientModels[type]?.getAttributeTypeMap?.()
  if (!attributes) return []
  return Object.entries(value).flatMap(([key, v]) => {
    const attribute = attributes.find((a) => a.baseName === key)
    return attribute ? unknownFields(v, attribute.type, `${at}.${key}`) : [`${at}.${key}`]
  })
}

const modelType = (o: RenderedObject): string => `V1${o.kind}`

function allObjects(): Array<{base: string; object: RenderedObject}> {
  return [...rendered].flatMap(([base, objects]) => objects.map((object) => ({base, object})))
}

function containers(): Array<{base: string; pod: NonNullable<ReturnType<typeof podSpecOf>>; container: Container}> {
  return JOBS.map((job) => ({base: job, ...deployedContainer(rendered.get(job) ?? [])}))
}

describe('deploy/kubernetes against the Kubernetes schemas', () => {
  it('every object of every base validates against its OpenAPI schema', () => {
    let validated = 0
    for (const {base, object} of allObjects()) {
      if (object.apiVersion === 'monitoring.googleapis.com/v1') continue // below: no schema package ships GKE's CRDs
      const Model = schemas[object.apiVersion]?.[object.kind]
      assert.ok(Model, `${base}: no schema for ${object.apiVersion} ${object.kind}`)
      assert.doesNotThrow(() => new Model(object).validate(), `${base}: ${object.kind} ${object.metadata.name}`)
      validated++
    }
    assert.ok(validated >= 30, `${validated} objects`)
  })

  it('no object has a field the API does not know (strict field validation)', () => {
    for (const {base, object} of allObjects()) {
      if (!clientModels[modelType(object)]) continue // custom resources: the schema test covers them
      assert.deepEqual(unknownFields(object, modelType(object), object.kind), [], `${base}: ${object.kind} ${object.metadata.name}`)
    }
    // and it can fail: a misspelt or misplaced field is found
    const broken = structuredClone(rendered.get('node-status')?.find((o) => o.kind === 'Deployment')) as RenderedObject
    const pod = podSpecOf(broken) as {containers: Array<Record<string, unknown>>}
    ;(pod.containers[0]?.securityContext as Record<string, unknown>).readOnlyRootFileSystem = true
    ;(pod as Record<string, unknown>).seccompProfile = {type: 'RuntimeDefault'}
    assert.deepEqual(unknownFields(broken, 'V1Deployment', 'Deployment').sort(), [
      'Deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem',
      'Deployment.spec.template.spec.seccompProfile',
    ])
    assert.throws(() => new (schemas['apps/v1']?.Deployment as Model)({...broken, spec: {replicas: 'two'}}).validate())
  })

  it("GKE's PodMonitoring selects the exporter's pods and names its port", () => {
    const [monitoring] = rendered.get('monitoring/gke') ?? []
    assert.equal(monitoring?.kind, 'PodMonitoring')
    const spec = monitoring?.spec as {selector: {matchLabels: Record<string, string>}; endpoints: Array<{port: string; interval: string}>}
    const exporter = rendered.get('node-status')?.find((o) => o.kind === 'Deployment') as RenderedObject
    const template = (exporter.spec as {template: {metadata: {labels: Record<string, string>}}}).template
    for (const [k, v] of Object.entries(spec.selector.matchLabels)) assert.equal(template.metadata.labels[k], v)
    const ports = deployedContainer([exporter]).container.ports as Array<{name: string}>
    assert.deepEqual(
      spec.endpoints.map((e) => e.port),
      [ports[0]?.name],
    )
    assert.match(spec.endpoints[0]?.interval ?? '', /^\d+s$/)
  })

  it('each ServiceMonitor selects its exporter’s Service and one of its ports', () => {
    const monitors = rendered.get('monitoring/prometheus-operator') ?? []
    assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), ['roster-metrics-proxy', 'roster-node-status'])
    for (const monitor of monitors) {
      const job = monitor.metadata.name.replace(/^roster-/, '')
      const service = rendered.get(job)?.find((o) => o.kind === 'Service') as RenderedObject
      const spec = monitor.spec as {selector: {matchLabels: Record<string, string>}; endpoints: Array<{port: string}>}
      for (const [k, v] of Object.entries(spec.selector.matchLabels)) assert.equal(service.metadata.labels?.[k], v, monitor.metadata.name)
      const ports = (service.spec as {ports: Array<{name: string}>}).ports.map((p) => p.name)
      for (const e of spec.endpoints) assert.ok(ports.includes(e.port), `${monitor.metadata.name}: port ${e.port}`)
    }
  })
})

describe('every object of a job', () => {
  it('carries the job’s component label (what removing one job selects), the shared Namespace none', () => {
    for (const job of JOBS) {
      for (const o of rendered.get(job) ?? []) {
        const component = o.metadata.labels?.['app.kubernetes.io/component']
        if (o.kind === 'Namespace') assert.equal(component, undefined, `${job}: the Namespace`)
        else assert.equal(component, job, `${job}: ${o.kind} ${o.metadata.name}`)
      }
    }
  })
})

describe('every container of deploy/kubernetes', () => {
  it('runs non-root, read-only, unprivileged, with no capability and the RuntimeDefault seccomp profile', () => {
    for (const {base, pod, container} of containers()) {
      const podContext = pod.securityContext as {runAsNonRoot?: boolean; seccompProfile?: {type: string}}
      assert.equal(podContext.runAsNonRoot, true, base)
      assert.deepEqual(podContext.seccompProfile, {type: 'RuntimeDefault'}, base)
      assert.deepEqual(
        container.securityContext,
        {
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: {drop: ['ALL']},
          seccompProfile: {type: 'RuntimeDefault'},
        },
        base,
      )
    }
  })

  it('asks for CPU and memory and is limited in memory', () => {
    for (const {base, container} of containers()) {
      const resources = container.resources as {requests?: Record<string, string>; limits?: Record<string, string>}
      assert.match(resources.requests?.cpu ?? '', /^\d+m$/, base)
      assert.match(resources.requests?.memory ?? '', /^\d+Mi$/, base)
      assert.match(resources.limits?.memory ?? '', /^\d+Mi$/, base)
      assert.ok(parseInt(resources.limits?.memory ?? '', 10) > parseInt(resources.requests?.memory ?? '', 10), base)
    }
  })

  it('has a liveness and a readiness probe on every port it listens on', () => {
    let listeners = 0
    for (const {base, container} of containers()) {
      const ports = (container.ports ?? []) as Array<{name: string; containerPort: number}>
      for (const port of ports) {
        listeners++
        for (const kind of ['livenessProbe', 'readinessProbe']) {
          const probe = container[kind] as {httpGet?: {port: string | number}; tcpSocket?: {port: string | number}} | undefined
          const target = probe?.httpGet?.port ?? probe?.tcpSocket?.port
          assert.ok(target === port.name || target === port.containerPort, `${base}: ${kind} on port ${port.name}`)
        }
      }
      if (ports.length === 0) assert.equal(container.livenessProbe, undefined, `${base}: a probe without a listener`)
    }
    assert.equal(listeners, 3, 'node-status, metrics-proxy and serve listen')
  })

  it(`runs localhost/roster:${VERSION} with $XDG_CACHE_HOME on an emptyDir`, () => {
    for (const {base, pod, container} of containers()) {
      assert.equal(container.image, `localhost/roster:${VERSION}`, base)
      assert.equal(container.imagePullPolicy, 'IfNotPresent', base)
      const cache = container.env?.find((e) => e.name === 'XDG_CACHE_HOME')?.value
      const mount = (container.volumeMounts as Array<{name: string; mountPath: string}>).find((m) => m.mountPath === cache)
      const volume = (pod.volumes as Array<{name: string; emptyDir?: unknown}>).find((v) => v.name === mount?.name)
      assert.ok(volume?.emptyDir, `${base}: XDG_CACHE_HOME ${cache} is not on an emptyDir`)
    }
  })
})
