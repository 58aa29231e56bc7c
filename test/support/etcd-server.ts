/**
 * A real etcd (/usr/bin/etcd, Debian's etcd-server) for integration tests: a single member on
 * free loopback ports, in a fresh temporary data directory, removed by `stop()`. A missing
 * binary throws: the test fails, it never skips.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {freePort} from './free-port.js'

export const ETCD_BINARY = process.env.ROSTER_TEST_ETCD ?? '/usr/bin/etcd'

export interface EtcdServer {
  /** 'http://127.0.0.1:PORT' ('https://' with TLS), for the etcd3 client. */
  endpoint: string
  /** 'etcd://127.0.0.1:PORT', for --registry (with TLS, pass the files of `tls`). */
  url: string
  /** '127.0.0.1:PORT'. */
  hostPort: string
  dataDir: string
  stop(): Promise<void>
}

/** PEM files for a TLS etcd: a CA, the server's certificate for 127.0.0.1, a client's. */
export interface TlsFiles {
  caFile: string
  serverCertFile: string
  serverKeyFile: string
  clientCertFile: string
  clientKeyFile: string
}

/** Makes a throw-away CA and certificates in `dir` with openssl (EC P-256, valid one day). */
export function makeTlsFiles(dir: string): TlsFiles {
  const f = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => execFileSync('openssl', args, {stdio: ['ignore', 'ignore', 'pipe']})
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...newKey, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=roster-test-ca')
  for (const [name, usage] of [
    ['server', 'serverAuth,clientAuth'],
    ['client', 'clientAuth'],
  ] as const) {
    openssl('req', ...newKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=roster-test-${name}`)
    writeFileSync(f(`${name}.ext`), `subjectAltName=IP:127.0.0.1\nextendedKeyUsage=${usage}\n`)
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
    )
  }
  return {
    caFile: f('ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
  }
}

function healthyTls(endpoint: string, tls: TlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${endpoint}/health`,
      {ca: readFileSync(tls.caFile), cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile), timeout: 1000},
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve(body.includes('"health":"true"')))
      },
    )
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, {signal: AbortSignal.timeout(1000)})
    const body = (await response.json()) as {health?: string}
    return body.health === 'true'
  } catch {
    return false
  }
}

export interface StartEtcdOptions {
  /** Extra command-line flags, e.g. ['--max-request-bytes', '...']. */
  args?: string[]
  /** How long to wait for /health. Default 30 s. */
  startTimeoutMs?: number
  /** Serve clients over TLS and require a client certificate signed by the CA. */
  tls?: TlsFiles
}

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  if (!existsSync(ETCD_BINARY)) {
    throw new Error(`etcd binary not found at ${ETCD_BINARY}: install the Debian package etcd-server (or set ROSTER_TEST_ETCD)`)
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'roster-etcd-'))
  const clientPort = await freePort()
  let peerPort = await freePort()
  while (peerPort === clientPort) peerPort = await freePort()
  const tls = options.tls
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`
  const peer = `http://127.0.0.1:${peerPort}`
  const child: ChildProcess = spawn(
    ETCD_BINARY,
    [
      '--name',
      'roster-test',
      '--data-dir',
      join(dataDir, 'data'),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `roster-test=${peer}`,
      '--initial-cluster-state',
      'new',
      '--log-level',
      'error',
      ...(tls
        ? ['--cert-file', tls.serverCertFile, '--key-file', tls.serverKeyFile, '--trusted-ca-file', tls.caFile, '--client-cert-auth']
        : []),
      ...(options.args ?? []),
    ],
    {stdio: ['ignore', 'ignore', 'pipe']},
  )
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true
      resolve()
    }),
  )
  const removeDir = () => rmSync(dataDir, {recursive: true, force: true})

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exit
      clearTimeout(timer)
    }
    removeDir()
  }

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000)
  for (;;) {
    if (exited) {
      removeDir()
      throw new Error(`etcd exited during start-up: ${stderr.trim()}`)
    }
    if (await (tls ? healthyTls(endpoint, tls) : healthy(endpoint))) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`etcd at ${endpoint} not healthy after ${options.startTimeoutMs ?? 30_000}ms: ${stderr.trim()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const hostPort = `127.0.0.1:${clientPort}`
  return {endpoint, url: `etcd://${hostPort}`, hostPort, dataDir, stop}
}
