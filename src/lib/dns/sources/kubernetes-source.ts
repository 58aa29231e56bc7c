/**
 * The `kubernetes` source, after external-dns's service and ingress sources:
 * - Services of type LoadBalancer carrying the `hostname` annotation (comma-separated names);
 * - Ingresses: the hosts of `spec.rules` and the names of the `hostname` annotation;
 * - targets: the `target` annotation (comma-separated) when present, else
 *   `status.loadBalancer.ingress`: `ip` → A (IPv4) or AAAA (IPv6), `hostname` → CNAME (IP
 *   targets win when both kinds are present: a CNAME cannot share its name);
 * - `ttl` annotation: seconds or a duration (30s, 5m, 1h).
 * Annotations are read under `external-dns.alpha.kubernetes.io/` and
 * `external-dns.kubernetes.io/` (the former first), or only under annotation-prefix.
 * Objects without targets are skipped (a load balancer not provisioned yet). The ownership
 * resource label is `service/NS/NAME` or `ingress/NS/NAME`, as external-dns writes it.
 */
import {isIP} from 'node:net'

import type {KubeIngress, KubeService, ObjectMeta} from '../../cluster/kube-types.js'
import {type Endpoint, type Source, normalizeName} from '../endpoint.js'

export const DEFAULT_ANNOTATION_PREFIXES = ['external-dns.alpha.kubernetes.io/', 'external-dns.kubernetes.io/']

export interface KubernetesSourceOptions {
  kubeconfig?: string
  context?: string
  namespace?: string
  labelSelector?: string
  annotationPrefix?: string
  timeoutMs: number
}

function annotation(meta: ObjectMeta, prefixes: readonly string[], key: string): string | undefined {
  for (const p of prefixes) {
    const v = meta.annotations?.[p + key]
    if (v !== undefined && v.trim() !== '') return v
  }
  return undefined
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

function parseTtl(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v)
  const m = /^(\d+)(s|m|h)$/.exec(v)
  if (!m) return undefined
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1)
}

/** Endpoints for one object's names and targets. */
function endpointsFor(names: string[], targets: string[], ttl: number | undefined, resource: string): Endpoint[] {
  const v4 = targets.filter((t) => isIP(t) === 4)
  const v6 = targets.filter((t) => isIP(t) === 6)
  const hosts = targets
    .filter((t) => isIP(t) === 0)
    .map(normalizeName)
    .sort()
  const out: Endpoint[] = []
  for (const raw of names) {
    const dnsName = normalizeName(raw)
    const add = (recordType: string, t: string[]): void => {
      if (t.length === 0) return
      const ep: Endpoint = {dnsName, recordType, targets: t, labels: {resource}}
      if (ttl !== undefined) ep.recordTTL = ttl
      out.push(ep)
    }
    add('A', v4)
    add('AAAA', v6)
    if (v4.length === 0 && v6.length === 0) add('CNAME', hosts.slice(0, 1))
  }
  return out
}

function statusTargets(status: {loadBalancer?: {ingress?: Array<{ip?: string; hostname?: string}>}} | undefined): string[] {
  const out: string[] = []
  for (const i of status?.loadBalancer?.ingress ?? []) {
    if (i.ip) out.push(i.ip)
    else if (i.hostname) out.push(i.hostname)
  }
  return out
}

export function serviceEndpoints(service: KubeService, prefixes: readonly string[]): Endpoint[] {
  if (service.spec?.type !== 'LoadBalancer') return []
  const names = list(annotation(service.metadata, prefixes, 'hostname'))
  if (names.length === 0) return []
  const targets = list(annotation(service.metadata, prefixes, 'target'))
  const ttl = parseTtl(annotation(service.metadata, prefixes, 'ttl'))
  const resource = `service/${service.metadata.namespace ?? 'default'}/${service.metadata.name}`
  return endpointsFor(names, targets.length > 0 ? targets : statusTargets(service.status), ttl, resource)
}

export function ingressEndpoints(ingress: KubeIngress, prefixes: readonly string[]): Endpoint[] {
  const names = [
    ...new Set([
      ...(ingress.spec?.rules ?? []).map((r) => r.host ?? '').filter((h) => h !== ''),
      ...list(annotation(ingress.metadata, prefixes, 'hostname')),
    ]),
  ]
  if (names.length === 0) return []
  const targets = list(annotation(ingress.metadata, prefixes, 'target'))
  const ttl = parseTtl(annotation(ingress.metadata, prefixes, 'ttl'))
  const resource = `ingress/${ingress.metadata.namespace ?? 'default'}/${ingress.metadata.name}`
  return endpointsFor(names, targets.length > 0 ? targets : statusTargets(ingress.status), ttl, resource)
}

export class KubernetesSource implements Source {
  readonly name = 'kubernetes'
  private readonly prefixes: string[]

  constructor(private readonly options: KubernetesSourceOptions) {
    const p = options.annotationPrefix?.trim()
    this.prefixes = p ? [p.endsWith('/') ? p : `${p}/`] : DEFAULT_ANNOTATION_PREFIXES
  }

  async endpoints(): Promise<Endpoint[]> {
    const {createClusterClient} = await import('../../cluster/cluster-client.js')
    const client = await createClusterClient({
      kubeconfig: this.options.kubeconfig,
      context: this.options.context,
      timeoutMs: this.options.timeoutMs,
    })
    try {
      const listOptions = {
        ...(this.options.namespace ? {namespace: this.options.namespace} : {}),
        ...(this.options.labelSelector ? {labelSelector: this.options.labelSelector} : {}),
      }
      const [services, ingresses] = await Promise.all([
        client.listServices((s) => serviceEndpoints(s, this.prefixes), listOptions),
        client.listIngresses((i) => ingressEndpoints(i, this.prefixes), listOptions),
      ])
      return [...services.items.flat(), ...ingresses.items.flat()]
    } finally {
      client.close()
    }
  }
}
