/** Pods for the test API server (kube discover, kube metrics-proxy). Pod IPs are loopback addresses only. */
import type {KubeObject} from './kube-objects.js'

export interface PodSpec {
  name: string
  namespace?: string
  ip?: string
  node?: string
  ready?: boolean
  phase?: string
  scrape?: boolean
  port?: number | string
  path?: string
  scheme?: string
  labels?: Record<string, string>
  /** Owner: a Deployment's ReplicaSet (`<deployment>-<hash>` with pod-template-hash), or any kind. */
  deployment?: string
  owner?: {kind: string; name: string}
}

export function makePod(p: PodSpec): KubeObject {
  const labels: Record<string, string> = {...(p.labels ?? {})}
  const ownerReferences: Array<Record<string, unknown>> = []
  if (p.deployment) {
    labels['pod-template-hash'] = '5d9c7b8f6d'
    ownerReferences.push({apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${p.deployment}-5d9c7b8f6d`, uid: 'rs-uid', controller: true})
  } else if (p.owner) {
    ownerReferences.push({apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: 'owner-uid', controller: true})
  }
  const annotations: Record<string, string> = {}
  if (p.scrape !== false) annotations['prometheus.io/scrape'] = 'true'
  if (p.port !== undefined) annotations['prometheus.io/port'] = String(p.port)
  if (p.path !== undefined) annotations['prometheus.io/path'] = p.path
  if (p.scheme !== undefined) annotations['prometheus.io/scheme'] = p.scheme
  const ip = p.ip ?? '127.0.0.1'
  if (!ip.startsWith('127.')) throw new Error(`test pods use loopback addresses only, not ${ip}`)
  const ready = p.ready ?? true
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace ?? 'default',
      labels,
      annotations,
      ...(ownerReferences.length > 0 ? {ownerReferences} : {}),
    },
    spec: {nodeName: p.node ?? 'node-a', containers: [{name: 'app', image: 'example/app:1'}]},
    status: {
      phase: p.phase ?? 'Running',
      podIP: ip,
      podIPs: [{ip}],
      conditions: [
        {type: 'Initialized', status: 'True'},
        {type: 'Ready', status: ready ? 'True' : 'False'},
        {type: 'ContainersReady', status: ready ? 'True' : 'False'},
        {type: 'PodScheduled', status: 'True'},
      ],
    },
  } as unknown as KubeObject
}

/** Sets a pod's readiness (Ready and ContainersReady). */
export function setPodReady(pod: KubeObject, ready: boolean): void {
  const status = (pod as unknown as {status: {conditions: Array<{type: string; status: string}>}}).status
  for (const c of status.conditions) if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = ready ? 'True' : 'False'
}

export function setPodIp(pod: KubeObject, ip: string): void {
  if (!ip.startsWith('127.')) throw new Error(`test pods use loopback addresses only, not ${ip}`)
  const status = (pod as unknown as {status: {podIP: string; podIPs: Array<{ip: string}>}}).status
  status.podIP = ip
  status.podIPs = [{ip}]
}
