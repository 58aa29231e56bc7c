/**
 * Kubeconfig loading with kubectl's rules:
 *   1. the kubeconfig setting: exactly that file (it must exist);
 *   2. else `KUBECONFIG`: every path in it (`:`-separated), missing files skipped, merged with
 *      kubectl's "first one wins" rule — the first file to set current-context sets it, and the
 *      first cluster / user / context of a given name wins over later ones;
 *   3. else `~/.kube/config`;
 *   4. else the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT and its token file).
 * The context setting picks a context from the merged config. `@kubernetes/client-node` is loaded here,
 * lazily, and only its KubeConfig module (auth providers, exec plugins, token files): the package
 * root imports the whole generated API (≈0.4 s). scripts/bundle.mjs bundles that module with
 * what it needs (≈30 ms to load), leaving out the generated API and the proxy agents it never uses.
 */
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {delimiter, dirname, join} from 'node:path'

import type {Cluster, Context, KubeConfig, User} from '@kubernetes/client-node'

import {InvalidInputError, firstLineOf, setting} from '../errors.js'
import {readInputFileSync} from '../fs/input-file.js'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

export interface KubeconfigOptions {
  /** One file, used alone. */
  kubeconfig?: string
  /** A context name from the loaded config. */
  context?: string
  /** The environment to read KUBECONFIG, HOME and KUBERNETES_SERVICE_* from (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Where the in-cluster service account lives (default /var/run/secrets/kubernetes.io/serviceaccount). */
  serviceAccountDir?: string
}

export interface LoadedKubeconfig {
  kubeConfig: KubeConfig
  /** The files read (or "in-cluster service account"), for messages. */
  source: string
  contextName: string
  clusterName: string
  /** The kubeconfig user name (what errors name; the server may know the user by another name). */
  userName: string
  server: string
  skipTlsVerify: boolean
  /** The cluster's `proxy-url` (an http:// forward proxy), when it has one. */
  proxyUrl?: string
}

export async function loadKubeconfig(options: KubeconfigOptions = {}): Promise<LoadedKubeconfig> {
  const env = options.env ?? process.env
  const {KubeConfig} = await import('@kubernetes/client-node/dist/config.js')
  const kc = new KubeConfig()
  let source: string
  let files: string[] = []

  if (options.kubeconfig) {
    files = [options.kubeconfig]
    source = options.kubeconfig
  } else if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter((f) => f !== '')
    files = listed.filter((f) => existsSync(f))
    if (files.length === 0) throw InvalidInputError.forField('KUBECONFIG', env.KUBECONFIG, 'none of these files exists')
    source = files.join(delimiter)
  } else {
    const home = env.HOME || homedir()
    const defaultFile = join(home, '.kube', 'config')
    if (existsSync(defaultFile)) {
      files = [defaultFile]
      source = defaultFile
    } else {
      source = 'in-cluster service account'
    }
  }

  if (files.length > 0) {
    const field = options.kubeconfig ? 'kubeconfig' : env.KUBECONFIG ? 'KUBECONFIG' : 'kubeconfig'
    const merged = mergeKubeconfigs(files.map((file) => parseKubeconfigFile(KubeConfig, file, field)))
    kc.loadFromOptions(merged)
  } else {
    loadInCluster(kc, env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR)
  }

  const contextName = options.context ?? kc.getCurrentContext()
  const contextNames = kc.getContexts().map((c) => c.name)
  const known = contextNames.length > 0 ? `known contexts: ${contextNames.join(', ')}` : 'it defines no contexts'
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      throw InvalidInputError.forField('context', options.context, `no such context in kubeconfig ${source} (${known})`)
    }
    kc.setCurrentContext(options.context)
  } else if (!contextName) {
    throw new InvalidInputError(`kubeconfig ${source}: current-context is not set; choose one with ${setting('context')} (${known})`, {
      field: 'context',
    })
  } else if (!kc.getContextObject(contextName)) {
    throw new InvalidInputError(`kubeconfig ${source}: current-context "${contextName}" is not defined (${known})`, {field: 'context'})
  }
  const context = kc.getContextObject(contextName) as Context
  const cluster = kc.getCluster(context.cluster)
  if (!cluster) {
    throw new InvalidInputError(`kubeconfig ${source}: context "${contextName}" names cluster "${context.cluster}", which is not defined`, {
      field: 'context',
    })
  }
  if (context.user && !kc.getUser(context.user)) {
    throw new InvalidInputError(`kubeconfig ${source}: context "${contextName}" names user "${context.user}", which is not defined`, {
      field: 'context',
    })
  }
  let server: URL
  try {
    server = new URL(cluster.server)
    if (server.protocol !== 'https:' && server.protocol !== 'http:') throw new Error('not http(s)')
  } catch {
    throw new InvalidInputError(`kubeconfig ${source}: cluster "${cluster.name}" has an invalid server URL "${cluster.server}"`, {
      field: 'server',
    })
  }
  let proxyUrl: string | undefined
  if (cluster.proxyUrl) {
    let proxy: URL | undefined
    try {
      proxy = new URL(cluster.proxyUrl)
    } catch {
      // reported below
    }
    if (!proxy || proxy.protocol !== 'http:' || !proxy.hostname) {
      const why =
        proxy && proxy.protocol !== 'http:' ? `${proxy.protocol.replace(/:$/, '')} proxies are not supported (http:// only)` : 'not a URL'
      throw new InvalidInputError(
        `kubeconfig ${source}: cluster "${cluster.name}" has proxy-url "${redactUrl(cluster.proxyUrl)}": ${why}`,
        {
          field: 'proxy-url',
        },
      )
    }
    proxyUrl = cluster.proxyUrl
  }
  return {
    kubeConfig: kc,
    source,
    contextName,
    clusterName: cluster.name,
    userName: context.user ?? '',
    server: cluster.server.replace(/\/+$/, ''),
    skipTlsVerify: cluster.skipTLSVerify === true,
    ...(proxyUrl ? {proxyUrl} : {}),
  }
}

/** A URL for messages: any user:password in it replaced. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/[^/@]*@/, '//***@')
}

interface ParsedKubeconfig {
  file: string
  clusters: Cluster[]
  users: User[]
  contexts: Context[]
  currentContext?: string
}

/** One kubeconfig file, read as every input file is (src/lib/fs/input-file.ts); relative paths in it resolve from its directory, as kubectl's do. */
function parseKubeconfigFile(KubeConfigClass: typeof KubeConfig, file: string, field: string): ParsedKubeconfig {
  const one = new KubeConfigClass()
  const text = readInputFileSync(file, {field})
  try {
    one.loadFromString(text, {onInvalidEntry: 'throw'})
    one.makePathsAbsolute(dirname(file))
  } catch (error) {
    throw new InvalidInputError(`kubeconfig "${file}" is not a valid kubeconfig: ${firstLineOf(error)}`, {field: 'kubeconfig'})
  }
  return {
    file,
    clusters: one.getClusters() ?? [],
    users: one.getUsers() ?? [],
    contexts: one.getContexts() ?? [],
    currentContext: one.getCurrentContext() || undefined,
  }
}

/** kubectl's merge: the first file that sets a value wins, for current-context and for each named entry. */
export function mergeKubeconfigs(configs: ParsedKubeconfig[]): {
  clusters: Cluster[]
  users: User[]
  contexts: Context[]
  currentContext: string
} {
  const clusters = new Map<string, Cluster>()
  const users = new Map<string, User>()
  const contexts = new Map<string, Context>()
  let currentContext = ''
  for (const c of configs) {
    if (!currentContext && c.currentContext) currentContext = c.currentContext
    for (const x of c.clusters) if (!clusters.has(x.name)) clusters.set(x.name, x)
    for (const x of c.users) if (!users.has(x.name)) users.set(x.name, x)
    for (const x of c.contexts) if (!contexts.has(x.name)) contexts.set(x.name, x)
  }
  return {clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext}
}

function loadInCluster(kc: KubeConfig, env: NodeJS.ProcessEnv, dir: string): void {
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT
  const tokenFile = join(dir, 'token')
  if (!host || !port || !existsSync(tokenFile)) {
    throw new InvalidInputError(
      `no kubeconfig: KUBECONFIG is not set, ~/.kube/config does not exist and this is not a pod with a service account; give one with ${setting('kubeconfig')}`,
      {field: 'kubeconfig'},
    )
  }
  const hostPart = host.includes(':') ? `[${host}]` : host
  kc.loadFromOptions({
    clusters: [{name: 'in-cluster', server: `https://${hostPart}:${port}`, caFile: join(dir, 'ca.crt'), skipTLSVerify: false}],
    users: [{name: 'in-cluster-service-account', authProvider: {name: 'tokenFile', config: {tokenFile}}}],
    contexts: [{name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster-service-account'}],
    currentContext: 'in-cluster',
  })
}
