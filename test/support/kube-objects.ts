/**
 * Builders for realistic Kubernetes objects (the shape a kubelet / the API server produces) to
 * seed the test API server with. Conditions come in the kubelet's order (pressure conditions
 * first, Ready last), so code that reads Ready by position instead of by type fails.
 */
export type KubeObject = {
  apiVersion?: string
  kind?: string
  metadata: {
    name: string
    namespace?: string
    uid?: string
    resourceVersion?: string
    creationTimestamp?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    [k: string]: unknown
  }
  spec?: Record<string, unknown>
  status?: Record<string, unknown>
  [k: string]: unknown
}

export interface NodeSpecInput {
  name: string
  /** The Ready condition's status; 'missing' leaves the condition out (kubectl prints Unknown). */
  ready?: 'True' | 'False' | 'Unknown' | 'missing'
  roles?: string[]
  /** A legacy `kubernetes.io/role` label value. */
  legacyRole?: string
  version?: string
  unschedulable?: boolean
  /** Creation time; default one day ago. */
  createdAt?: Date
  labels?: Record<string, string>
  internalIP?: string
  externalIP?: string
  pressure?: Array<'MemoryPressure' | 'DiskPressure' | 'PIDPressure' | 'NetworkUnavailable'>
  taints?: Array<{key: string; value?: string; effect: string}>
  /** How many container images to list in status.images (real nodes list dozens). */
  images?: number
  /** When the conditions last changed status (their lastTransitionTime); default the creation time. */
  transitionAt?: Date
}

let ipCounter = 0

export function makeNode(input: NodeSpecInput): KubeObject {
  const created = (input.createdAt ?? new Date(Date.now() - 86_400_000)).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const heartbeat = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  const transition = input.transitionAt ? input.transitionAt.toISOString().replace(/\.\d{3}Z$/, 'Z') : created
  const labels: Record<string, string> = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': input.name,
    'kubernetes.io/os': 'linux',
    ...input.labels,
  }
  for (const role of input.roles ?? []) labels[`node-role.kubernetes.io/${role}`] = ''
  if (input.legacyRole) labels['kubernetes.io/role'] = input.legacyRole
  const ready = input.ready ?? 'True'
  const pressure = new Set(input.pressure ?? [])
  const cond = (type: string, bad: boolean, okReason: string, badReason: string, okMsg: string, badMsg: string) => ({
    type,
    status: ready === 'Unknown' ? 'Unknown' : bad ? 'True' : 'False',
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: transition,
    reason: ready === 'Unknown' ? 'NodeStatusUnknown' : bad ? badReason : okReason,
    message: ready === 'Unknown' ? 'Kubelet stopped posting node status.' : bad ? badMsg : okMsg,
  })
  const conditions: Array<Record<string, string>> = [
    cond(
      'MemoryPressure',
      pressure.has('MemoryPressure'),
      'KubeletHasSufficientMemory',
      'KubeletHasInsufficientMemory',
      'kubelet has sufficient memory available',
      'kubelet has insufficient memory available',
    ),
    cond(
      'DiskPressure',
      pressure.has('DiskPressure'),
      'KubeletHasNoDiskPressure',
      'KubeletHasDiskPressure',
      'kubelet has no disk pressure',
      'kubelet has disk pressure',
    ),
    cond(
      'PIDPressure',
      pressure.has('PIDPressure'),
      'KubeletHasSufficientPID',
      'KubeletHasInsufficientPID',
      'kubelet has sufficient PID available',
      'kubelet has insufficient PID available',
    ),
  ]
  if (pressure.has('NetworkUnavailable')) {
    conditions.unshift({
      type: 'NetworkUnavailable',
      status: 'True',
      lastHeartbeatTime: heartbeat,
      lastTransitionTime: transition,
      reason: 'NoRouteCreated',
      message: 'Node created without a route',
    })
  }
  if (ready !== 'missing') {
    conditions.push({
      type: 'Ready',
      status: ready,
      lastHeartbeatTime: heartbeat,
      lastTransitionTime: transition,
      reason: ready === 'True' ? 'KubeletReady' : ready === 'False' ? 'KubeletNotReady' : 'NodeStatusUnknown',
      message:
        ready === 'True'
          ? 'kubelet is posting ready status'
          : ready === 'False'
            ? 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized'
            : 'Kubelet stopped posting node status.',
    })
  }
  ipCounter++
  const internalIP = input.internalIP ?? `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`
  const addresses: Array<{type: string; address: string}> = [{type: 'InternalIP', address: internalIP}]
  if (input.externalIP) addresses.push({type: 'ExternalIP', address: input.externalIP})
  addresses.push({type: 'Hostname', address: input.name})
  const images = []
  for (let i = 0; i < (input.images ?? 8); i++) {
    images.push({
      names: [`registry.k8s.io/image-${i}@sha256:${'0123456789abcdef'.repeat(4)}`, `registry.k8s.io/image-${i}:v1.${i}.0`],
      sizeBytes: 10_000_000 + i * 1_234_567,
    })
  }
  const spec: Record<string, unknown> = {
    podCIDR: '10.244.0.0/24',
    podCIDRs: ['10.244.0.0/24'],
    providerID: `kind://docker/kind/${input.name}`,
  }
  if (input.unschedulable) spec.unschedulable = true
  const taints = [...(input.taints ?? [])]
  if (input.unschedulable) taints.push({key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule'})
  if (taints.length > 0) spec.taints = taints
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: input.name,
      uid: cryptoRandomUid(),
      creationTimestamp: created,
      labels,
      annotations: {
        'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/containerd/containerd.sock',
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec,
    status: {
      capacity: {cpu: '8', 'ephemeral-storage': '102625208Ki', 'hugepages-2Mi': '0', memory: '32803292Ki', pods: '110'},
      allocatable: {cpu: '8', 'ephemeral-storage': '102625208Ki', 'hugepages-2Mi': '0', memory: '32803292Ki', pods: '110'},
      conditions,
      addresses,
      daemonEndpoints: {kubeletEndpoint: {Port: 10250}},
      nodeInfo: {
        machineID: '0123456789abcdef0123456789abcdef',
        systemUUID: '01234567-89ab-cdef-0123-456789abcdef',
        bootID: '01234567-89ab-cdef-0123-456789abcdef',
        kernelVersion: '6.1.0-28-amd64',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        containerRuntimeVersion: 'containerd://1.7.24',
        kubeletVersion: input.version ?? 'v1.32.2',
        kubeProxyVersion: input.version ?? 'v1.32.2',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images,
    },
  }
}

/** A MicroTime as the API server writes it: microseconds, UTC. */
export function microTime(at: Date): string {
  return at.toISOString().replace(/Z$/, '000Z')
}

/** A node's Lease in kube-node-lease, as its kubelet keeps it, last renewed at `renewedAt`. */
export function makeNodeLease(node: string, renewedAt: Date = new Date()): KubeObject {
  const renewTime = microTime(renewedAt)
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: node,
      namespace: 'kube-node-lease',
      uid: cryptoRandomUid(),
      creationTimestamp: new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ownerReferences: [{apiVersion: 'v1', kind: 'Node', name: node, uid: cryptoRandomUid()}],
      managedFields: [
        {
          manager: 'kubelet',
          operation: 'Update',
          apiVersion: 'coordination.k8s.io/v1',
          time: renewedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {'f:ownerReferences': {}},
            'f:spec': {'f:holderIdentity': {}, 'f:leaseDurationSeconds': {}, 'f:renewTime': {}},
          },
        },
      ],
    },
    spec: {holderIdentity: node, leaseDurationSeconds: 40, renewTime},
  }
}

export interface ServiceSpecInput {
  name: string
  namespace?: string
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName'
  clusterIP?: string
  externalName?: string
  externalIPs?: string[]
  loadBalancer?: Array<{ip?: string; hostname?: string}>
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ports?: Array<{name?: string; port: number; protocol?: string; targetPort?: number; nodePort?: number}>
}

export function makeService(input: ServiceSpecInput): KubeObject {
  const type = input.type ?? 'ClusterIP'
  const spec: Record<string, unknown> = {type, ports: input.ports ?? [{name: 'http', port: 80, protocol: 'TCP', targetPort: 8080}]}
  if (type === 'ExternalName') spec.externalName = input.externalName ?? 'example.com'
  else {
    const ip = input.clusterIP ?? '10.96.0.10'
    spec.clusterIP = ip
    spec.clusterIPs = [ip]
    spec.ipFamilies = ['IPv4']
  }
  if (input.externalIPs) spec.externalIPs = input.externalIPs
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: namespacedMetadata(input),
    spec,
    status: {loadBalancer: input.loadBalancer ? {ingress: input.loadBalancer} : {}},
  }
}

export interface IngressSpecInput {
  name: string
  namespace?: string
  hosts?: string[]
  tlsHosts?: string[]
  ingressClassName?: string
  loadBalancer?: Array<{ip?: string; hostname?: string}>
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

export function makeIngress(input: IngressSpecInput): KubeObject {
  const spec: Record<string, unknown> = {
    rules: (input.hosts ?? []).map((host) => ({
      host,
      http: {paths: [{path: '/', pathType: 'Prefix', backend: {service: {name: input.name, port: {number: 80}}}}]},
    })),
  }
  if (input.ingressClassName) spec.ingressClassName = input.ingressClassName
  if (input.tlsHosts) spec.tls = [{hosts: input.tlsHosts, secretName: `${input.name}-tls`}]
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: namespacedMetadata(input),
    spec,
    status: {loadBalancer: input.loadBalancer ? {ingress: input.loadBalancer} : {}},
  }
}

/** Metadata of a namespaced object created an hour ago. */
function namespacedMetadata(input: {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}): KubeObject['metadata'] {
  return {
    name: input.name,
    namespace: input.namespace ?? 'default',
    uid: cryptoRandomUid(),
    creationTimestamp: new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(input.labels ? {labels: input.labels} : {}),
    ...(input.annotations ? {annotations: input.annotations} : {}),
  }
}

function cryptoRandomUid(): string {
  return globalThis.crypto.randomUUID()
}
