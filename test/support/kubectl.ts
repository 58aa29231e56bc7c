/**
 * The real kubectl (/usr/bin/kubectl, 1.32; KUBECTL overrides), run as a user runs it: a HOME of
 * its own, its discovery cache there. A missing kubectl is a failure, not a skip.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {promisify} from 'node:util'

const execFileAsync = promisify(execFile)
export const KUBECTL = process.env.KUBECTL ?? 'kubectl'

export interface KubectlResult {
  code: number
  stdout: string
  stderr: string
}

/** kubectl ARGS against `kubeconfig`, with HOME `home`; never throws on a non-zero exit. */
export async function kubectl(home: string, kubeconfig: string | undefined, args: string[]): Promise<KubectlResult> {
  const config = kubeconfig ? ['--kubeconfig', kubeconfig] : []
  try {
    const {stdout, stderr} = await execFileAsync(KUBECTL, [...config, '--cache-dir', join(home, 'kube-cache'), ...args], {
      env: {PATH: process.env.PATH, HOME: home},
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    })
    return {code: 0, stdout, stderr}
  } catch (error) {
    const e = error as {code?: unknown; stdout?: string; stderr?: string}
    if (e.code === 'ENOENT') assert.fail(`kubectl is not installed (${KUBECTL}): these tests need it`)
    return {code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? ''}
  }
}
