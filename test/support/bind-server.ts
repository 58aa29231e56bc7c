/**
 * Starts a real BIND 9 (`named`) for tests: one primary zone that a TSIG key may update and
 * transfer, on a free loopback port, in a fresh temporary directory.
 *
 *   const bind = await startBind({zone: 'example.test', keyName: 'roster-key', secret, algorithm: 'hmac-sha256'})
 *   await bind.dig('www.example.test', 'A', '+short')
 *   await bind.stop()
 *
 * The zone file holds the SOA, the apex NS with its address, and FOREIGN_RECORDS: records that
 * roster did not write and must never touch. A missing `named` is an error, never a skip.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {freePort} from './free-port.js'

const run = promisify(execFile)

export const NAMED = '/usr/sbin/named'
export const DIG = '/usr/bin/dig'

/** Records present in every test zone that roster must leave alone (relative names, zone-file syntax). */
export const FOREIGN_RECORDS = [
  {name: 'foreign', type: 'A', value: '192.0.2.10'},
  {name: 'foreign', type: 'TXT', value: '"hand-written, not roster\'s"'},
  {name: 'mail', type: 'MX', value: '10 mx.example.net.'},
  {name: '_ldap._tcp', type: 'SRV', value: '0 5 389 ldap.example.net.'},
  {name: 'legacy', type: 'CNAME', value: 'foreign'},
] as const

export interface BindOptions {
  zone: string
  /** Extra zone-file lines ("www 300 IN A 192.0.2.1"), appended after the foreign records. */
  records?: string[]
  keyName: string
  /** base64, as in named.conf. */
  secret: string
  algorithm: string
}

export interface BindServer {
  host: '127.0.0.1'
  port: number
  zone: string
  keyName: string
  secret: string
  algorithm: string
  dir: string
  /** Runs `dig @127.0.0.1 -p PORT ...args` and returns its stdout. */
  dig(...args: string[]): Promise<string>
  /** The sorted lines of `dig NAME TYPE +short`. */
  lookup(name: string, type: string): Promise<string[]>
  /** named's stderr so far (for failure messages). */
  log(): string
  stop(): Promise<void>
}

function zoneFile(zone: string, extra: string[]): string {
  const lines = [
    `$ORIGIN ${zone}.`,
    '$TTL 300',
    `@ 3600 IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 604800 300`,
    `@ 3600 IN NS ns1.${zone}.`,
    'ns1 3600 IN A 127.0.0.1',
    ...FOREIGN_RECORDS.map((r) => `${r.name} 300 IN ${r.type} ${r.value}`),
    ...extra,
    '',
  ]
  return lines.join('\n')
}

function namedConf(dir: string, port: number, options: BindOptions): string {
  return `options {
  directory "${dir}";
  pid-file "${join(dir, 'named.pid')}";
  session-keyfile "${join(dir, 'session.key')}";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
};
controls { };
key "${options.keyName}" {
  algorithm ${options.algorithm};
  secret "${options.secret}";
};
zone "${options.zone}" {
  type primary;
  file "${join(dir, 'zone.db')}";
  allow-update { key "${options.keyName}"; };
  allow-transfer { key "${options.keyName}"; };
};
`
}

export async function startBind(options: BindOptions): Promise<BindServer> {
  if (!existsSync(NAMED)) throw new Error(`${NAMED} not found: install bind9 (apt-get install bind9 bind9-dnsutils)`)
  if (!existsSync(DIG)) throw new Error(`${DIG} not found: install bind9-dnsutils`)
  const dir = await mkdtemp(join(tmpdir(), 'roster-bind-'))
  const port = await freePort()
  await writeFile(join(dir, 'zone.db'), zoneFile(options.zone, options.records ?? []))
  await writeFile(join(dir, 'named.conf'), namedConf(dir, port, options))

  let stderr = ''
  let exited: number | null | undefined
  const child: ChildProcess = spawn(NAMED, ['-g', '-4', '-n', '1', '-c', join(dir, 'named.conf')], {stdio: ['ignore', 'ignore', 'pipe']})
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exitedPromise = new Promise<void>((resolve) => {
    child.on('exit', (code) => {
      exited = code
      resolve()
    })
  })

  const dig = async (...args: string[]): Promise<string> => {
    const {stdout} = await run(DIG, ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=2', ...args], {maxBuffer: 256 * 1024 * 1024})
    return stdout
  }

  const stop = async (): Promise<void> => {
    if (exited === undefined) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exitedPromise
      clearTimeout(timer)
    }
    await rm(dir, {recursive: true, force: true})
  }

  const deadline = Date.now() + 20_000
  for (;;) {
    if (exited !== undefined) {
      await rm(dir, {recursive: true, force: true})
      throw new Error(`named exited with code ${exited} before answering:\n${stderr}`)
    }
    try {
      const out = await dig(options.zone, 'SOA', '+short')
      if (out.trim() !== '') break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`named did not answer on 127.0.0.1:${port} within 20 s:\n${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }

  return {
    host: '127.0.0.1',
    port,
    zone: options.zone,
    keyName: options.keyName,
    secret: options.secret,
    algorithm: options.algorithm,
    dir,
    dig,
    async lookup(name: string, type: string): Promise<string[]> {
      const out = await dig(name, type, '+short')
      return out
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '')
        .sort()
    },
    log: () => stderr,
    stop,
  }
}
