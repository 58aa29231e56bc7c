/**
 * A real etcd (/usr/bin/etcd, Debian's etcd-server) for integration tests and benchmarks: a single
 * member (`startEtcd`) or a cluster of several (`startEtcdCluster`, for the fleet simulation) on
 * free loopback ports, in a fresh temporary directory, removed by `stop()`. Each member also
 * serves its own /metrics on a plain-HTTP port of its own. A missing binary throws: the test
 * fails, it never skips.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {freePort} from './free-port.js'
import type {TlsFiles} from './test-pki.js'

export const ETCD_BINARY = process.env.ROSTER_TEST_ETCD ?? '/usr/bin/etcd'

export interface EtcdServer {
  /** 'http://127.0.0.1:PORT' ('https://' with TLS), for the etcd3 client. */
  endpoint: string
  /** 'etcd://127.0.0.1:PORT', for --registry (with TLS, pass the files of `tls`). */
  url: string
  /** '127.0.0.1:PORT'. */
  hostPort: string
  /** 'http://127.0.0.1:PORT/metrics': its Prometheus metrics, plain HTTP even with TLS. */
  metricsUrl: string
  dataDir: string
  /** The etcd process's id, for its CPU and memory (test/support/serve-monitor.ts). */
  pid: number
  stop(): Promise<void>
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
  /** Extra command-line flags for every member, e.g. ['--max-request-bytes', '...']. */
  args?: string[]
  /** How long to wait for /health. Default 30 s. */
  startTimeoutMs?: number
  /** Serve clients over TLS and require a client certificate signed by the CA (peers stay plain HTTP). */
  tls?: TlsFiles
  /**
   * An etcd for a test, whose data and users are thrown away with it (test files pass this;
   * benches do not, as they measure etcd as operators run it). It writes without fsync
   * (--unsafe-no-fsync: only a crash of the machine could lose what it acknowledged), which makes
   * each put cheaper. It hashes passwords at bcrypt's lowest cost (--bcrypt-cost 4): etcd checks
   * the hash at every Authenticate, and the default cost makes each one a CPU-heavy call. A single
   * member elects itself sooner (a shorter election timeout), so it is healthy sooner, for a little
   * more CPU while it idles. The members of a cluster keep etcd's timeouts, under which a loaded
   * machine does not make a follower start an election. None of it changes what a client sees.
   */
  throwaway?: boolean
}

/** The flags of `throwaway`, for each member of a cluster of `size`. */
function throwawayArgs(size: number): string[] {
  const election = size === 1 ? ['--heartbeat-interval', '50', '--election-timeout', '250'] : []
  return ['--unsafe-no-fsync', '--bcrypt-cost', '4', ...election]
}

/** One member of a cluster started by startEtcdCluster. */
export interface EtcdMember {
  name: string
  /** 'http://127.0.0.1:PORT' ('https://' with TLS), its client URL. */
  endpoint: string
  /** '127.0.0.1:PORT' of its client URL. */
  hostPort: string
  /** 'http://127.0.0.1:PORT/metrics': its Prometheus metrics, plain HTTP even with TLS. */
  metricsUrl: string
  /** Its data directory (the bbolt file is member/snap/db below it). */
  dataDir: string
  pid: number
}

export interface EtcdCluster {
  members: EtcdMember[]
  /** 'etcd://127.0.0.1:A,127.0.0.1:B,...', for --registry (with TLS, pass the files of `tls`). */
  url: string
  /** The members' client URLs, for the etcd3 client. */
  endpoints: string[]
  stop(): Promise<void>
}

/** Distinct free loopback ports (freePort alone may hand out the same one twice). */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

interface RunningMember {
  member: EtcdMember
  exited(): boolean
  stderr(): string
  stop(): Promise<void>
}

function spawnMember(
  member: Omit<EtcdMember, 'pid'>,
  peer: string,
  initialCluster: string,
  clusterToken: string,
  size: number,
  options: StartEtcdOptions,
): RunningMember {
  const tls = options.tls
  const child: ChildProcess = spawn(
    ETCD_BINARY,
    [
      '--name',
      member.name,
      '--data-dir',
      member.dataDir,
      '--listen-client-urls',
      member.endpoint,
      '--advertise-client-urls',
      member.endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--listen-metrics-urls',
      member.metricsUrl.replace(/\/metrics$/, ''),
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      clusterToken,
      '--initial-cluster-state',
      'new',
      '--log-level',
      'error',
      ...(tls
        ? ['--cert-file', tls.serverCertFile, '--key-file', tls.serverKeyFile, '--trusted-ca-file', tls.caFile, '--client-cert-auth']
        : []),
      ...(options.throwaway ? throwawayArgs(size) : []),
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
  return {
    member: {...member, pid: child.pid ?? 0},
    exited: () => exited,
    stderr: () => stderr,
    stop: async () => {
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exit
      clearTimeout(timer)
    },
  }
}

/**
 * Starts `size` etcd members that form one cluster (static bootstrap with --initial-cluster), each
 * with its own client, peer and metrics port and data directory; resolves when every member
 * answers /health (which needs a leader).
 */
export async function startEtcdCluster(size: number, options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  return startMembers(
    Array.from({length: size}, (_, i) => `roster-test-${i}`),
    options,
  )
}

async function startMembers(names: string[], options: StartEtcdOptions): Promise<EtcdCluster & {root: string}> {
  if (!existsSync(ETCD_BINARY)) {
    throw new Error(`etcd binary not found at ${ETCD_BINARY}: install the Debian package etcd-server (or set ROSTER_TEST_ETCD)`)
  }
  const root = mkdtempSync(join(tmpdir(), 'roster-etcd-'))
  const ports = await distinctFreePorts(names.length * 3)
  const scheme = options.tls ? 'https' : 'http'
  const specs = names.map((name, i) => {
    const [clientPort, peerPort, metricsPort] = ports.slice(i * 3, i * 3 + 3) as [number, number, number]
    return {
      name,
      endpoint: `${scheme}://127.0.0.1:${clientPort}`,
      hostPort: `127.0.0.1:${clientPort}`,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      dataDir: join(root, names.length === 1 ? 'data' : name),
      peer: `http://127.0.0.1:${peerPort}`,
    }
  })
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',')
  const clusterToken = `roster-test-${process.pid}-${Date.now()}`
  const members = specs.map(({peer, ...member}) => spawnMember(member, peer, initialCluster, clusterToken, names.length, options))
  const removeDir = () => rmSync(root, {recursive: true, force: true})
  const stop = async (): Promise<void> => {
    // One member at a time: a leader that is told to stop hands its leadership to a live peer
    // first, and if that peer is stopping too the hand-over hangs until the SIGKILL. In turn, each
    // hand-over goes to a member still running.
    for (const m of members) await m.stop()
    removeDir()
  }
  const stderr = () => members.map((m) => (names.length === 1 ? '' : `${m.member.name}: `) + m.stderr().trim()).join('\n')
  const timeout = options.startTimeoutMs ?? 30_000
  const deadline = Date.now() + timeout
  const tls = options.tls
  const pending = new Set(members)
  for (;;) {
    if (members.some((m) => m.exited())) {
      await stop()
      throw new Error(`etcd exited during start-up: ${stderr()}`)
    }
    for (const m of [...pending]) if (await (tls ? healthyTls(m.member.endpoint, tls) : healthy(m.member.endpoint))) pending.delete(m)
    if (pending.size === 0) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`etcd at ${[...pending].map((m) => m.member.endpoint).join(', ')} not healthy after ${timeout}ms: ${stderr()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    root,
    members: members.map((m) => m.member),
    url: `etcd://${members.map((m) => m.member.hostPort).join(',')}`,
    endpoints: members.map((m) => m.member.endpoint),
    stop,
  }
}

/** A single-member etcd, what most tests need. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const cluster = await startMembers(['roster-test'], options)
  const member = cluster.members[0]!
  return {
    endpoint: member.endpoint,
    url: cluster.url,
    hostPort: member.hostPort,
    metricsUrl: member.metricsUrl,
    dataDir: cluster.root,
    pid: member.pid,
    stop: cluster.stop,
  }
}
