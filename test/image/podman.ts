/**
 * roster's image (`npm run image`, scripts/image.sh) under podman, for the image tests and
 * bench/image.ts: containers run as a pod runs them here: --read-only with no tmpfs anywhere,
 * --user 65532:65532, the host's network (so loopback servers are reachable), the in-cluster
 * environment (KUBERNETES_SERVICE_HOST/_PORT and a service-account directory mounted read-only
 * where the kubelet mounts it). Values of --env pass through podman's own environment, never its
 * command line, so secrets stay out of `ps`.
 * podman needs runc and no default ulimits on these machines: scripts/install-test-servers.sh
 * writes that containers.conf drop-in.
 */
import {spawnSync} from 'node:child_process'
import {chmodSync, chownSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {ROOT} from '../support/cli.js'
import {skipUnlessCi} from '../support/needs.js'
import type {KubeApiServer} from '../support/kube-api-server.js'
import {type LongRunning, startLongRunning} from '../support/long-running.js'

export const IMAGE_NAME = 'localhost/roster'
export const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version
export const IMAGE = `${IMAGE_NAME}:${VERSION}`
/** The image's user and group. */
export const IMAGE_UID = 65532
/** Where the kubelet mounts a pod's service account. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/**
 * Why the image cannot be built and run here (no podman, buildah or skopeo, not root), or undefined.
 * Under CI=true that is an error: the image tests fail there, never skip.
 */
export function podmanUnavailable(): string | undefined {
  let reason: string | undefined
  for (const tool of ['podman', 'buildah', 'skopeo']) {
    if (spawnSync(tool, ['--version']).error) reason ??= `${tool} is not installed (bash scripts/install-test-servers.sh installs it)`
  }
  if (process.getuid?.() !== 0) reason ??= 'the image is built as root (buildah mounts it)'
  return skipUnlessCi(reason) || undefined
}

/** scripts/image.sh (after npm run build), with --oci-archive when given; its output, or an error with it. */
export function buildImage(options: {ociArchive?: string} = {}): string {
  const args = [path.join(ROOT, 'scripts', 'image.sh'), ...(options.ociArchive ? ['--oci-archive', options.ociArchive] : [])]
  const result = spawnSync('bash', args, {cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024})
  const output = `${result.stdout}${result.stderr}`
  if (result.status !== 0) throw new Error(`scripts/image.sh exited ${result.status}:\n${output}`)
  return output
}

/** `podman ARGS` run to its end: its exit code and output. */
export function podman(args: string[]): {code: number; stdout: string; stderr: string} {
  return runTool('podman', args)
}

/** `skopeo ARGS` run to its end: its exit code and output. */
export function skopeo(args: string[]): {code: number; stdout: string; stderr: string} {
  return runTool('skopeo', args)
}

function runTool(tool: string, args: string[]): {code: number; stdout: string; stderr: string} {
  const result = spawnSync(tool, args, {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024})
  if (result.error) return {code: 127, stdout: '', stderr: `${tool}: ${result.error.message}`}
  return {code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr}
}

/** A directory the image's user owns (0700), as an emptyDir or a mounted Secret is to the pod. */
export function containerOwnedDir(prefix: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name)
    writeFileSync(file, content, {mode: 0o600})
    chownSync(file, IMAGE_UID, IMAGE_UID)
  }
  chmodSync(dir, 0o700)
  chownSync(dir, IMAGE_UID, IMAGE_UID)
  return dir
}

/** A service-account directory for `token` on the test API server (token, ca.crt, namespace), readable by the image's user only. */
export function serviceAccount(api: KubeApiServer, token: string, namespace = 'roster'): string {
  return containerOwnedDir('roster-sa-', {token, 'ca.crt': api.caPem, namespace})
}

/** The variables the kubelet sets in every container for the API server's Service. */
export function inClusterEnv(api: KubeApiServer): Record<string, string> {
  return {KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port)}
}

export interface ContainerOptions {
  /** Variables set in the container. */
  env?: Record<string, string>
  /** A host service-account directory (serviceAccount()), mounted read-only where the kubelet mounts it. */
  serviceAccount?: string
  /** Host directories mounted read-only (a Secret's or ConfigMap's volume): container path → host path. */
  readOnly?: Record<string, string>
  /** Host directories mounted writable (an emptyDir): container path → host path. */
  writable?: Record<string, string>
  /** Instead of the image's entrypoint (/usr/bin/roster). */
  entrypoint?: string
  /** Another image (default IMAGE), and podman's global options (--root, --runroot) for another store. */
  image?: string
  podmanOptions?: string[]
}

export interface Container extends LongRunning {
  name: string
}

let containers = 0

/** `podman run` of the image with `args`, as a pod would run it (see the file comment). Stop it with stop(): SIGTERM reaches roster. */
export function startContainer(args: string[], options: ContainerOptions = {}): Container {
  const name = `roster-test-${process.pid}-${++containers}`
  const env = options.env ?? {}
  const mounts = [
    ...(options.serviceAccount ? [`${options.serviceAccount}:${SERVICE_ACCOUNT_DIR}:ro`] : []),
    ...Object.entries(options.readOnly ?? {}).map(([target, source]) => `${source}:${target}:ro`),
    ...Object.entries(options.writable ?? {}).map(([target, source]) => `${source}:${target}:rw`),
  ]
  const argv = [
    ...(options.podmanOptions ?? []),
    'run',
    '--rm',
    `--name=${name}`,
    '--pull=never',
    '--network=host',
    '--read-only',
    '--read-only-tmpfs=false',
    `--user=${IMAGE_UID}:${IMAGE_UID}`,
    ...Object.keys(env).map((key) => `--env=${key}`),
    ...mounts.map((mount) => `--volume=${mount}`),
    ...(options.entrypoint ? [`--entrypoint=${options.entrypoint}`] : []),
    options.image ?? IMAGE,
    ...args,
  ]
  const running = startLongRunning('podman', argv, {env: {PATH: process.env.PATH, ...env}})
  // podman passes SIGTERM to the container's process (roster, PID 1); one that did not exit
  // (or a podman that was killed) is removed.
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number> => {
    const code = await running.stop(signal)
    podman([...(options.podmanOptions ?? []), 'rm', '--force', '--ignore', '--time=0', name])
    return code
  }
  return {...running, name, stop}
}

/** Runs the image with `args` to its end: exit code, stdout, stderr. */
export async function runContainer(
  args: string[],
  options: ContainerOptions = {},
): Promise<{code: number; stdout: string; stderr: string}> {
  const container = startContainer(args, options)
  const code = await container.exited
  return {code, stdout: container.stdout(), stderr: container.stderr()}
}

/** The host PID of a running container's first process (roster), for its memory in /proc. */
export function containerPid(name: string): number {
  const {code, stdout, stderr} = podman(['inspect', '--format', '{{.State.Pid}}', name])
  if (code !== 0) throw new Error(`podman inspect ${name}: ${stderr}`)
  return Number(stdout.trim())
}
