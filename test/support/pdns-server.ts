/**
 * A real PowerDNS Authoritative server for tests: /usr/sbin/pdns_server in the foreground with
 * the gsqlite3 backend, the HTTP API on a free loopback port and DNS on another, in a mkdtemp
 * dir that `stop()` removes. A missing binary or schema throws (a test failure, never a skip).
 */
import {spawn, execFile, type ChildProcess} from 'node:child_process'
import {createSocket} from 'node:dgram'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {freePort} from './free-port.js'

const execFileAsync = promisify(execFile)

export const PDNS_BINARY = '/usr/sbin/pdns_server'
const SCHEMA_CANDIDATES = [
  '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql',
  '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql',
]

/** A record in PowerDNS's own form: content as PowerDNS wants it (TXT quoted, hosts with a dot). */
export interface PdnsSeedRecord {
  name: string
  type: string
  ttl?: number
  contents: string[]
}

export interface PdnsZoneSpec {
  name: string
  records?: PdnsSeedRecord[]
}

export interface PdnsApiRRSet {
  name: string
  type: string
  ttl: number
  records: {content: string; disabled: boolean}[]
}

export interface StartedPdns {
  /** API base URL, e.g. http://127.0.0.1:PORT */
  url: string
  apiKey: string
  serverId: 'localhost'
  dnsPort: number
  dir: string
  /** The RRsets of a zone, read through the API. */
  rrsets(zone: string): Promise<PdnsApiRRSet[]>
  /** One RRset's record contents (sorted), or undefined. */
  contents(zone: string, name: string, type: string): Promise<string[] | undefined>
  createZone(zone: PdnsZoneSpec): Promise<void>
  seed(zone: string, records: PdnsSeedRecord[]): Promise<void>
  /** `dig @127.0.0.1 -p DNSPORT NAME TYPE +short`, one answer per line. */
  dig(name: string, type: string): Promise<string[]>
  /** The server's log so far. */
  log(): string
  stop(): Promise<void>
}

export interface StartPdnsOptions {
  zones?: PdnsZoneSpec[]
  /** `webserver-max-bodysize` in megabytes (PowerDNS default 2). */
  maxBodyMB?: number
}

async function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4')
    sock.once('error', () => resolve(false))
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)))
  })
}

async function freeDnsPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort()
    if (await udpPortFree(port)) return port
  }
  throw new Error('no free loopback port for DNS (TCP and UDP)')
}

export async function startPdns(options: StartPdnsOptions = {}): Promise<StartedPdns> {
  if (!existsSync(PDNS_BINARY)) throw new Error(`${PDNS_BINARY} not found: install pdns-server and pdns-backend-sqlite3`)
  const schema = SCHEMA_CANDIDATES.find((p) => existsSync(p))
  if (!schema) throw new Error(`the gsqlite3 schema is missing (looked in ${SCHEMA_CANDIDATES.join(', ')}): install pdns-backend-sqlite3`)

  const dir = await mkdtemp(join(tmpdir(), 'roster-pdns-'))
  const db = join(dir, 'pdns.sqlite3')
  await execFileAsync('sqlite3', [db, `.read ${schema}`])
  const apiPort = await freePort()
  const dnsPort = await freeDnsPort()
  const apiKey = `test-key-${Math.random().toString(36).slice(2)}`
  const conf = [
    'launch=gsqlite3',
    `gsqlite3-database=${db}`,
    'api=yes',
    `api-key=${apiKey}`,
    'webserver=yes',
    'webserver-address=127.0.0.1',
    `webserver-port=${apiPort}`,
    'webserver-allow-from=127.0.0.0/8',
    `webserver-max-bodysize=${options.maxBodyMB ?? 2}`,
    'local-address=127.0.0.1',
    `local-port=${dnsPort}`,
    `socket-dir=${dir}`,
    'guardian=no',
    'daemon=no',
    'disable-syslog=yes',
    'security-poll-suffix=',
    'loglevel=4',
    '',
  ].join('\n')
  await writeFile(join(dir, 'pdns.conf'), conf)

  let output = ''
  const child: ChildProcess = spawn(PDNS_BINARY, [`--config-dir=${dir}`], {stdio: ['ignore', 'pipe', 'pipe']})
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  let exited = false
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())))

  const url = `http://127.0.0.1:${apiPort}`
  const api = `${url}/api/v1/servers/localhost`
  const headers = {'X-API-Key': apiKey, 'Content-Type': 'application/json'}

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exitPromise
      clearTimeout(t)
    }
    await rm(dir, {recursive: true, force: true})
  }

  try {
    const deadline = Date.now() + 15_000
    for (;;) {
      if (exited) throw new Error(`pdns_server exited during start-up:\n${output}`)
      try {
        const res = await fetch(api, {headers, signal: AbortSignal.timeout(1000)})
        if (res.ok) break
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`pdns_server did not become ready in 15 s:\n${output}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  } catch (error) {
    await stop()
    throw error
  }

  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(api + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)})
    const text = await res.text()
    if (!res.ok) throw new Error(`PowerDNS ${method} ${path}: HTTP ${res.status} ${text}`)
    return text ? JSON.parse(text) : undefined
  }
  const fq = (n: string): string => (n.endsWith('.') ? n : `${n}.`)

  const seed = async (zone: string, records: PdnsSeedRecord[]): Promise<void> => {
    if (records.length === 0) return
    await call('PATCH', `/zones/${fq(zone)}`, {
      rrsets: records.map((r) => ({
        name: fq(r.name),
        type: r.type,
        ttl: r.ttl ?? 300,
        changetype: 'REPLACE',
        records: r.contents.map((content) => ({content, disabled: false})),
      })),
    })
  }

  const createZone = async (zone: PdnsZoneSpec): Promise<void> => {
    const z = fq(zone.name)
    await call('POST', '/zones', {
      name: z,
      kind: 'Native',
      nameservers: [],
      rrsets: [
        {name: z, type: 'SOA', ttl: 3600, records: [{content: `ns1.${z} hostmaster.${z} 1 10800 3600 604800 300`, disabled: false}]},
        {name: z, type: 'NS', ttl: 3600, records: [{content: `ns1.${z}`, disabled: false}]},
      ],
    })
    await seed(zone.name, zone.records ?? [])
  }

  try {
    for (const zone of options.zones ?? []) await createZone(zone)
  } catch (error) {
    await stop()
    throw error
  }

  const rrsets = async (zone: string): Promise<PdnsApiRRSet[]> => {
    const z = (await call('GET', `/zones/${fq(zone)}`)) as {rrsets: PdnsApiRRSet[]}
    return z.rrsets
  }

  return {
    url,
    apiKey,
    serverId: 'localhost',
    dnsPort,
    dir,
    rrsets,
    async contents(zone, name, type) {
      const r = (await rrsets(zone)).find((s) => s.name === fq(name) && s.type === type)
      return r?.records.map((x) => x.content).sort()
    },
    createZone,
    seed,
    async dig(name, type) {
      const {stdout} = await execFileAsync('dig', [`@127.0.0.1`, '-p', String(dnsPort), name, type, '+short', '+time=2', '+tries=2'])
      return stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length > 0)
        .sort()
    },
    log: () => output,
    stop,
  }
}
