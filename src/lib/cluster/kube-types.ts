/**
 * The parts of Kubernetes objects roster reads, as they arrive on the wire (JSON: timestamps are
 * strings). Kept to what node-status and the DNS sources use; everything else is ignored.
 */
export interface ObjectMeta {
  name: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  creationTimestamp?: string
  deletionTimestamp?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

export interface ListMeta {
  resourceVersion?: string
  continue?: string
  remainingItemCount?: number
}

export interface KubeStatus {
  kind: 'Status'
  apiVersion?: string
  status?: string
  message?: string
  reason?: string
  code?: number
  details?: {name?: string; group?: string; kind?: string}
}

export interface NodeCondition {
  type: string
  status: string
  reason?: string
  message?: string
  lastTransitionTime?: string
  lastHeartbeatTime?: string
}

export interface NodeAddress {
  type: string
  address: string
}

export interface Taint {
  key: string
  value?: string
  effect: string
  timeAdded?: string
}

export interface KubeNode {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: {unschedulable?: boolean; taints?: Taint[]; podCIDR?: string; providerID?: string}
  status?: {
    conditions?: NodeCondition[]
    addresses?: NodeAddress[]
    nodeInfo?: {
      kubeletVersion?: string
      osImage?: string
      kernelVersion?: string
      containerRuntimeVersion?: string
      operatingSystem?: string
      architecture?: string
    }
  }
}

export interface LoadBalancerIngress {
  ip?: string
  hostname?: string
  ipMode?: string
}

export interface ServicePort {
  name?: string
  port: number
  protocol?: string
  targetPort?: number | string
  nodePort?: number
}

export interface KubeService {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName' | string
    clusterIP?: string
    clusterIPs?: string[]
    externalName?: string
    externalIPs?: string[]
    ports?: ServicePort[]
    selector?: Record<string, string>
    loadBalancerClass?: string
    ipFamilies?: string[]
  }
  status?: {loadBalancer?: {ingress?: LoadBalancerIngress[]}}
}

export interface IngressRule {
  host?: string
  http?: unknown
}

export interface KubeIngress {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: {
    ingressClassName?: string
    rules?: IngressRule[]
    tls?: Array<{hosts?: string[]; secretName?: string}>
  }
  status?: {loadBalancer?: {ingress?: LoadBalancerIngress[]}}
}

/** One event of a watch stream. BOOKMARK objects carry only metadata.resourceVersion. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'
  object: T
}

/** A column of a server-printed Table (meta.k8s.io/v1). priority 0: shown by default; 1: -o wide. */
export interface TableColumn {
  name: string
  type: string
  format?: string
  description?: string
  priority?: number
}

/** A row of a Table: its cells (in column order) and, by default, the object's metadata. */
export interface TableRow {
  cells: unknown[]
  object?: {kind?: string; apiVersion?: string; metadata?: ObjectMeta}
}
