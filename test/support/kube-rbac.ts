/**
 * Kubernetes RBAC, as kube-apiserver's authorizer applies it, over the objects of rendered
 * manifests (`kubectl kustomize DIR`): every ServiceAccount gets a bearer token; a request is
 * allowed when a rule of a Role or ClusterRole bound to its user (or one of its groups) matches its
 * verb, API group, resource and, for a RoleBinding, its namespace. Discovery (/api, /apis,
 * /version, /healthz…) is open to every authenticated user, as the bootstrap roles
 * system:discovery and system:public-info-viewer make it.
 *
 * The authorizer records what it decided: every (verb, API group, resource, namespace) a service
 * account used, which grants (binding × rule × verb × resource) allowed something, and every
 * request it refused. A grant nothing used is a privilege the job does not need.
 */
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'

import {parseAllDocuments} from 'yaml'

import {KUBECTL} from './kubectl.js'

export interface RbacRule {
  apiGroups?: string[]
  resources?: string[]
  verbs: string[]
  resourceNames?: string[]
  nonResourceURLs?: string[]
}

interface Subject {
  kind: 'ServiceAccount' | 'User' | 'Group'
  name: string
  namespace?: string
}

interface Binding {
  kind: 'RoleBinding' | 'ClusterRoleBinding'
  name: string
  /** A RoleBinding's namespace: it grants only there. */
  namespace?: string
  roleRef: {kind: 'Role' | 'ClusterRole'; name: string}
  subjects: Subject[]
}

interface ManifestObject {
  apiVersion?: string
  kind?: string
  metadata?: {name?: string; namespace?: string}
  rules?: RbacRule[]
  roleRef?: Binding['roleRef']
  subjects?: Subject[]
}

/** What kube-apiserver's request-info resolver makes of a request, and who sent it. */
export interface RequestAttributes {
  user: string
  groups: string[]
  verb: string
  /** Resource requests: API group ('' for the core group), resource, namespace, name. */
  resourceRequest: boolean
  apiGroup: string
  resource: string
  subresource?: string
  namespace?: string
  name?: string
  path: string
}

export interface Decision {
  allowed: boolean
  /** RBAC's reason, appended to the Forbidden message (a role that does not exist). */
  reason?: string
}

/** One verb on one resource, granted by one rule of one binding. */
export interface Grant {
  binding: string
  role: string
  /** Where it applies: a RoleBinding's namespace, or everywhere. */
  namespace?: string
  verb: string
  apiGroup: string
  resource: string
}

/** A request as RBAC saw it: (verb, group, resource, namespace). */
export interface Use {
  verb: string
  apiGroup: string
  resource: string
  namespace?: string
}

export interface ServiceAccountIdentity {
  namespace: string
  name: string
  /** system:serviceaccount:NAMESPACE:NAME */
  user: string
  token: string
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:'
/** The paths system:discovery and system:public-info-viewer open to every authenticated user. */
const DISCOVERY_PATHS = [/^\/api(\/.*)?$/, /^\/apis(\/.*)?$/, /^\/version\/?$/, /^\/(healthz|livez|readyz)(\/.*)?$/, /^\/openapi\/.*$/]

/** The groups kube-apiserver gives a service account's token. */
export function serviceAccountGroups(user: string): string[] {
  if (!user.startsWith(SERVICE_ACCOUNT_PREFIX)) return ['system:authenticated']
  const namespace = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':')[0] ?? ''
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated']
}

/** The objects `kubectl kustomize DIR` renders (the same as `kubectl apply -k DIR` would send). */
export function renderKustomization(dir: string): ManifestObject[] {
  const text = execFileSync(KUBECTL, ['kustomize', dir], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as ManifestObject | null)
    .filter((o): o is ManifestObject => o !== null)
}

function matches(list: readonly string[] | undefined, value: string): boolean {
  return (list ?? []).some((x) => x === '*' || x === value)
}

export class RbacAuthorizer {
  readonly serviceAccounts: ServiceAccountIdentity[] = []
  private readonly roles = new Map<string, RbacRule[]>()
  private readonly bindings: Binding[] = []
  private readonly used = new Map<string, Set<string>>()
  private readonly grantsUsed = new Set<string>()
  private readonly refused: Array<RequestAttributes & {message: string}> = []

  constructor(objects: readonly ManifestObject[]) {
    for (const o of objects) {
      const name = o.metadata?.name ?? ''
      const namespace = o.metadata?.namespace
      if (o.kind === 'ServiceAccount' && namespace) {
        this.serviceAccounts.push({
          namespace,
          name,
          user: `${SERVICE_ACCOUNT_PREFIX}${namespace}:${name}`,
          token: randomBytes(24).toString('hex'),
        })
      } else if (o.kind === 'ClusterRole') this.roles.set(`ClusterRole/${name}`, o.rules ?? [])
      else if (o.kind === 'Role') this.roles.set(`Role/${namespace}/${name}`, o.rules ?? [])
      else if ((o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') && o.roleRef) {
        this.bindings.push({
          kind: o.kind,
          name,
          ...(o.kind === 'RoleBinding' ? {namespace} : {}),
          roleRef: o.roleRef,
          subjects: o.subjects ?? [],
        })
      }
    }
  }

  static fromKustomizations(dirs: readonly string[]): RbacAuthorizer {
    return new RbacAuthorizer(dirs.flatMap((dir) => renderKustomization(dir)))
  }

  account(namespace: string, name: string): ServiceAccountIdentity {
    const sa = this.serviceAccounts.find((s) => s.namespace === namespace && s.name === name)
    if (!sa) throw new Error(`no ServiceAccount ${namespace}/${name} in the manifests`)
    return sa
  }

  /** Bearer token → user name, for the test API server. */
  tokens(): Record<string, string> {
    return Object.fromEntries(this.serviceAccounts.map((s) => [s.token, s.user]))
  }

  /** Whether this authorizer decides for the user (the manifests' service accounts). */
  knows(user: string): boolean {
    return this.serviceAccounts.some((s) => s.user === user)
  }

  private roleKey(binding: Binding): string {
    return binding.roleRef.kind === 'ClusterRole'
      ? `ClusterRole/${binding.roleRef.name}`
      : `Role/${binding.namespace}/${binding.roleRef.name}`
  }

  private bound(binding: Binding, user: string, groups: readonly string[]): boolean {
    return binding.subjects.some((s) => {
      if (s.kind === 'ServiceAccount') return user === `${SERVICE_ACCOUNT_PREFIX}${s.namespace ?? binding.namespace}:${s.name}`
      if (s.kind === 'User') return user === s.name
      return groups.includes(s.name)
    })
  }

  authorize(a: RequestAttributes): Decision {
    if (!a.resourceRequest) {
      const allowed = DISCOVERY_PATHS.some((p) => p.test(a.path))
      if (!allowed) this.refused.push({...a, message: `cannot ${a.verb} path ${a.path}`})
      return {allowed}
    }
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
    const errors: string[] = []
    let allowed = false
    for (const binding of this.bindings) {
      if (binding.kind === 'RoleBinding' && binding.namespace !== a.namespace) continue
      if (!this.bound(binding, a.user, a.groups)) continue
      const rules = this.roles.get(this.roleKey(binding))
      if (!rules) {
        const kind = binding.roleRef.kind.toLowerCase()
        errors.push(`${kind}.rbac.authorization.k8s.io "${binding.roleRef.name}" not found`)
        continue
      }
      for (const rule of rules) {
        if (!matches(rule.verbs, a.verb) || !matches(rule.apiGroups, a.apiGroup) || !matches(rule.resources, resource)) continue
        if (rule.resourceNames && rule.resourceNames.length > 0 && !(a.name && rule.resourceNames.includes(a.name))) continue
        allowed = true
        this.grantsUsed.add(grantKey(binding, a.verb, a.apiGroup, resource))
      }
    }
    if (allowed) {
      let uses = this.used.get(a.user)
      if (!uses) this.used.set(a.user, (uses = new Set()))
      uses.add(JSON.stringify({verb: a.verb, apiGroup: a.apiGroup, resource, ...(a.namespace ? {namespace: a.namespace} : {})}))
      return {allowed}
    }
    const reason = errors.length > 0 ? `RBAC: ${errors.join(', ')}` : undefined
    this.refused.push({...a, message: `cannot ${a.verb} resource ${resource}${reason ? `: ${reason}` : ''}`})
    return reason ? {allowed, reason} : {allowed}
  }

  /** Every (verb, group, resource, namespace) the user was allowed, sorted. */
  usesOf(user: string): Use[] {
    return [...(this.used.get(user) ?? [])].sort().map((u) => JSON.parse(u) as Use)
  }

  /** The requests refused so far (of every user this authorizer decides for). */
  refusals(user?: string): Array<RequestAttributes & {message: string}> {
    return this.refused.filter((r) => user === undefined || r.user === user)
  }

  /** Every verb on every resource the manifests grant, with where it applies. */
  grants(): Grant[] {
    return this.grantsWithKeys().map(({key: _key, ...grant}) => grant)
  }

  /** The grants no request used: privileges the jobs do not need. */
  unusedGrants(): Grant[] {
    return this.grantsWithKeys()
      .filter((g) => !this.grantsUsed.has(g.key))
      .map(({key: _key, ...grant}) => grant)
  }

  private grantsWithKeys(): Array<Grant & {key: string}> {
    const out: Array<Grant & {key: string}> = []
    for (const binding of this.bindings) {
      for (const rule of this.roles.get(this.roleKey(binding)) ?? []) {
        for (const verb of rule.verbs) {
          for (const apiGroup of rule.apiGroups ?? []) {
            for (const resource of rule.resources ?? []) {
              out.push({
                binding: `${binding.kind}/${binding.namespace ? `${binding.namespace}/` : ''}${binding.name}`,
                role: this.roleKey(binding),
                ...(binding.namespace ? {namespace: binding.namespace} : {}),
                verb,
                apiGroup,
                resource,
                key: grantKey(binding, verb, apiGroup, resource),
              })
            }
          }
        }
      }
    }
    return out
  }
}

function grantKey(binding: Binding, verb: string, apiGroup: string, resource: string): string {
  return JSON.stringify([binding.kind, binding.namespace ?? '', binding.name, verb, apiGroup, resource])
}
