/**
 * One listen-address rule for roster's three servers, through the CLI: `serve --listen`,
 * `kube metrics-proxy --listen` and `node-status --serve`. `:PORT` listens on 127.0.0.1 in each
 * (127.0.0.2, which any all-interfaces socket would answer on, is refused); 0.0.0.0 without TLS
 * is refused by each with exit 2, naming the flag as typed; the two exporters serve plain HTTP
 * there only with --insecure-plaintext.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {request} from 'node:http'
import {request as httpsRequest} from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, isolatedEnv, runCli, startCli} from '../support/cli.js'
import {makeTlsFiles, type TlsFiles} from '../support/test-pki.js'
import {freePort} from '../support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'

let dir: string
let api: KubeApiServer
let kubeconfig: string
let registry: string
let tls: TlsFiles

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-listen-'))
  tls = makeTlsFiles(dir)
  registry = `sqlite:${path.join(dir, 'registry.db')}`
  api = await startKubeApiServer()
  kubeconfig = api.kubeconfigPath()
})
after(async () => {
  await api.stop()
  rmSync(dir, {recursive: true, force: true})
})

/** The three servers: how to ask each to listen at `address`, and the path that answers 200 once it does. */
const servers: Record<string, {args: (address: string) => string[]; path: string; flag: string}> = {
  serve: {args: (a) => ['serve', '--registry', registry, '--listen', a], path: '/healthz', flag: '--listen'},
  'kube metrics-proxy': {
    args: (a) => ['kube', 'metrics-proxy', '--kubeconfig', kubeconfig, '--listen', a],
    path: '/metrics',
    flag: '--listen',
  },
  'node-status --serve': {args: (a) => ['node-status', '--kubeconfig', kubeconfig, '--serve', a], path: '/metrics', flag: '--serve'},
}

/** The URL a server names on stderr once it listens. */
const SERVING = /(?:listening on |serving | on )(https?:\/\/[^\s/]+)(?:\/metrics)?(?:\s|$)/

/** Starts roster; resolves once stderr shows the URL it serves, with a stop() that sends SIGTERM and returns the exit code. */
async function start(args: string[]): Promise<{url: string; stop: () => Promise<number | null>}> {
  const child = spawn(process.execPath, [BIN, ...args], {env: isolatedEnv() as NodeJS.ProcessEnv})
  child.stdout.resume()
  let stderr = ''
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      const m = SERVING.exec(stderr)
      if (m) resolve(m[1] as string)
    })
    void exited.then((code) => reject(new Error(`roster ${args.join(' ')} exited ${code}: ${stderr}`)))
  })
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM')
      return exited
    },
  }
}

/**
 * The same in this process (startCli; stop() calls the SIGTERM handler the command installed):
 * for the cases about the address and TLS. The :PORT cases run each server as a process, which
 * SIGTERM stops with exit 0.
 */
async function startInProcess(args: string[]): Promise<{url: string; stop: () => Promise<number | null>}> {
  const cli = startCli(args)
  try {
    const [, url] = await cli.waitFor(SERVING, {timeoutMs: 90_000})
    return {url: url!, stop: () => cli.stop('SIGTERM')}
  } catch (error) {
    await cli.stop('SIGTERM')
    throw error
  }
}

/** The HTTP status of GET host:port/path (over TLS trusting `ca`, when given), or the connection error's code. */
function get(host: string, port: number, urlPath: string, ca?: string): Promise<number | string> {
  return new Promise((resolve) => {
    const options = {host, port, path: urlPath, timeout: 10_000}
    const done = (res: import('node:http').IncomingMessage): void => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }
    const req = ca ? httpsRequest({...options, ca}, done) : request(options, done)
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    req.end()
  })
}

describe(':PORT means 127.0.0.1 in every roster server', () => {
  for (const [name, server] of Object.entries(servers)) {
    it(`${name} ${server.flag} :PORT serves on 127.0.0.1 only, and SIGTERM exits 0`, async () => {
      const port = await freePort()
      const running = await start(server.args(`:${port}`))
      try {
        assert.equal(running.url, `http://127.0.0.1:${port}`)
        assert.equal(await get('127.0.0.1', port, server.path), 200)
        assert.equal(await get('127.0.0.2', port, server.path), 'ECONNREFUSED', 'not listening on every interface')
      } finally {
        assert.equal(await running.stop(), 0)
      }
    })
  }
})

describe('off loopback, TLS or (exporters only) --insecure-plaintext', () => {
  for (const [name, server] of Object.entries(servers)) {
    it(`${name} refuses 0.0.0.0 without TLS: exit 2 naming ${server.flag}`, async () => {
      const r = await runCli(server.args('0.0.0.0:0'))
      assert.equal(r.code, 2, r.stderr)
      assert.match(
        r.stderr,
        new RegExp(
          `^roster: ${server.flag} "0\\.0\\.0\\.0:0": is not a loopback address: serve (HTTPS|TLS) \\(--tls-cert and --tls-key\\)`,
        ),
      )
    })
  }

  it('names ROSTER_LISTEN when the address came from the environment', async () => {
    const r = await runCli(['serve', '--registry', registry], {env: isolatedEnv({ROSTER_LISTEN: '[::]:0'})})
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^roster: ROSTER_LISTEN "\[::\]:0": is not a loopback address/)
  })

  it('serve has no plaintext escape: --insecure-plaintext is not one of its flags', async () => {
    const r = await runCli(['serve', '--registry', registry, '--listen', '0.0.0.0:0', '--insecure-plaintext'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /--insecure-plaintext/)
  })

  for (const [name, server] of Object.entries(servers)) {
    it(`${name} serves HTTPS on every interface with --tls-cert and --tls-key`, async () => {
      const port = await freePort()
      // serve as a process: in this process its start-up (its HTTP framework's) would cost what the process does.
      const running = await (name === 'serve' ? start : startInProcess)([
        ...server.args(`0.0.0.0:${port}`),
        '--tls-cert',
        tls.serverCertFile,
        '--tls-key',
        tls.serverKeyFile,
      ])
      try {
        assert.equal(running.url, `https://0.0.0.0:${port}`)
        const ca = readFileSync(tls.caFile, 'utf8')
        assert.equal(await get('127.0.0.1', port, server.path, ca), 200)
        assert.notEqual(await get('127.0.0.1', port, server.path), 200, 'no plain HTTP')
        if (name === 'serve') {
          // A kubelet's probes send no token: liveness and readiness answer without one off
          // loopback too; the metrics do not.
          assert.equal(await get('127.0.0.1', port, '/readyz', ca), 200)
          assert.equal(await get('127.0.0.1', port, '/metrics', ca), 401)
        }
      } finally {
        assert.equal(await running.stop(), 0)
      }
    })
  }

  for (const name of ['kube metrics-proxy', 'node-status --serve']) {
    it(`${name} serves plain HTTP on every interface with --insecure-plaintext`, async () => {
      const server = servers[name]!
      const port = await freePort()
      const running = await startInProcess([...server.args(`0.0.0.0:${port}`), '--insecure-plaintext'])
      try {
        assert.equal(running.url, `http://0.0.0.0:${port}`)
        assert.equal(await get('127.0.0.2', port, server.path), 200)
      } finally {
        assert.equal(await running.stop(), 0)
      }
    })
  }
})
