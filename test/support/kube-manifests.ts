/**
 * The jobs of deploy/kubernetes as their manifests describe them: each base rendered with
 * `kubectl kustomize`, its Deployment's container (args; environment from env and from the
 * ConfigMaps it names), and that container's command run as a process of the built CLI, with the
 * service account's credentials in a kubeconfig and the test's own addresses where the manifest
 * names the cluster's.
 */
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import path from 'node:path'

import {BIN, ROOT, isolatedEnv} from './cli.js'
import {renderKustomization} from './kube-rbac.js'

export const DEPLOY_DIR = path.join(ROOT, 'deploy', 'kubernetes')
export const JOBS = ['node-status', 'metrics-proxy', 'kube-discover', 'dns-sync', 'serve'] as const
export type Job = (typeof JOBS)[number]

export interface RenderedObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; labels?: Record<string, string>}
  [key: string]: unknown
}

export interface Container {
  name: string
  image: string
  args?: string[]
  env?: Array<{name: string; value?: string}>
  envFrom?: Array<{configMapRef?: {name: string}; secretRef?: {name: string; optional?: boolean}}>
  [key: string]: unknown
}

export interface PodSpec {
  serviceAccountName?: string
  automountServiceAccountToken?: boolean
  containers: Container[]
  [key: string]: unknown
}

/** Every object of a base (a job, namespace, monitoring/…), as `kubectl apply -k` would send it. */
export function renderBase(base: string): RenderedObject[] {
  return renderKustomization(path.join(DEPLOY_DIR, base)) as RenderedObject[]
}

export function podSpecOf(o: RenderedObject): PodSpec | undefined {
  return (o.spec as {template?: {spec?: PodSpec}} | undefined)?.template?.spec
}

/** The job's Deployment and its one container. */
export function deployedContainer(objects: readonly RenderedObject[]): {pod: PodSpec; container: Container} {
  const deployments = objects.filter((o) => o.kind === 'Deployment')
  const pod = deployments.length === 1 ? podSpecOf(deployments[0] as RenderedObject) : undefined
  const container = pod?.containers.length === 1 ? pod.containers[0] : undefined
  if (!pod || !container) throw new Error('expected one Deployment with one container')
  return {pod, container}
}

/** The container's environment: its ConfigMaps' data, then its env values (Secrets are the test's to give). */
export function containerEnv(objects: readonly RenderedObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {}
  for (const from of container.envFrom ?? []) {
    if (!from.configMapRef) continue
    const map = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef?.name)
    if (!map) throw new Error(`ConfigMap ${from.configMapRef.name} is not in the base`)
    Object.assign(env, map.data as Record<string, string>)
  }
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value
  return env
}

/** The args with `flag`'s value replaced by a loopback address (the rest, --insecure-plaintext included, run as the manifest gives them). */
export function onLoopback(args: readonly string[], flag: string, address: string): string[] {
  const i = args.indexOf(flag)
  if (i < 0 || i + 1 >= args.length) throw new Error(`the manifest's args have no ${flag} value: ${args.join(' ')}`)
  return args.map((a, j) => (j === i + 1 ? address : a))
}

export interface RunningJob {
  child: ChildProcessWithoutNullStreams
  stdout: () => string
  stderr: () => string
  exit: Promise<number | null>
  /** SIGTERM, as the kubelet stops a pod, and the exit code. */
  stop: () => Promise<number | null>
}

/** `roster ARGS` as a process, with this environment added to an isolated one. */
export function spawnJob(args: readonly string[], env: Record<string, string>): RunningJob {
  const child = spawn(process.execPath, [BIN, ...args], {env: isolatedEnv(env) as NodeJS.ProcessEnv})
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exit,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exit
    },
  }
}
