/**
 * Every path a user passes, to every command that takes one, when it is not usable as what the
 * command wants: a directory (or, where a directory is wanted, a file), a FIFO, a device, a
 * dangling symbolic link, a path too long, a file the user may not read (run as nobody), and, where
 * the command writes, a file on a read-only file system (a tmpfs remounted read-only; root is
 * needed to mount it and to run as nobody, and those cases are skipped, saying so, without it).
 *
 * Each case must end with its documented exit code (2 for what the path is, 4 for permission and
 * read-only), one line on stderr naming what the user typed (the flag, ROSTER_ variable or
 * argument), the path, and what the path is; never exit 1, never a hang (a FIFO has no writer).
 *
 * The table is checked against oclif.manifest.json: every flag or argument of every command that
 * names a file or directory is in it, or in NOT_PATHS with the reason it is not one, so that a new
 * command's path gets its cases (a new flag whose description speaks of a file fails the check).
 *
 * The paths every command shares (--config and ROSTER_CONFIG, read by the base command's init
 * before anything else; the store's --etcd-ca, --etcd-cert, --etcd-key and --registry-ca, read
 * where the base command opens the store) are one reader each: the directory case runs them for
 * every command (each reaches that reader), the other cases for `service list` only (the
 * reader's diagnosis of each kind of path). Every other row runs in every case.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {NOBODY, ROOT, type CliOptions, type CliResult, isolatedEnv, runCli, runCliAs} from '../support/cli.js'
import {closedPort} from '../support/free-port.js'
import {isRoot, needsRoot, skipUnlessCi} from '../support/needs.js'

type Case = 'directory' | 'fifo' | 'device' | 'dangling' | 'too-long' | 'permission' | 'read-only'
const READ_CASES: Case[] = ['directory', 'fifo', 'device', 'dangling', 'too-long', 'permission']

/** One path a command takes: how to put a path there, and what the command wants of it. */
interface Slot {
  /** The command and the flag as the user types them: `service list --registry`. */
  name: string
  /** The manifest's command id and flag (or argument) name, for the coverage check. */
  id: string
  flag: string
  /** What the message names: `--registry`, `file` (an argument). */
  shown: string
  want: 'file' | 'directory'
  /** Whether the command writes there: then a read-only file system is a case too. */
  writes: boolean
  /** argv with `p` in the slot. */
  argv: (p: string) => string[]
  /** The value as the message shows it (`sqlite:PATH`). */
  value?: (p: string) => string
  /** A path every command reads through one reader of the base command (see the file comment). */
  shared?: boolean
}

/** The command whose shared paths every case runs; the directory case runs every command's. */
const SHARED_PATHS_COMMAND = 'service:list'

/** Flags and arguments that hold something else than a path (or a path the command only displays). */
const NOT_PATHS: Record<string, string> = {
  'config:show registry etcd-ca etcd-cert etcd-key registry-ca': 'config show prints the effective values; it opens nothing',
  'login registry': 'a URL (https://), not a path',
  'logout registry': 'a URL (https://), not a path',
  'auth:status registry': 'a URL (https://), not a path',
  'registry:migrate to-etcd-password': 'a password (it names ROSTER_TO_ETCD_PASSWORD and the config file), not a path',
}
/** Flags that hold paths in every command that has them (the coverage check looks for these). */
const PATH_FLAGS = new Set([
  'config',
  'registry',
  'etcd-ca',
  'etcd-cert',
  'etcd-key',
  'registry-ca',
  'file',
  'zone-file',
  'kubeconfig',
  'tls-cert',
  'tls-key',
  'auth-token-file',
  'dir',
  'oidc-ca',
])
/** Flags whose description speaks of files but that take none (checked so that a new path flag is not missed). */
const NOT_PATH_FLAGS = new Set([
  'etcd-password',
  'zone',
  'oidc-roles-claim',
  'source',
  'provider',
  'json',
  'watch',
  'token',
  'namespace',
  'kube-namespace',
  'output',
  'server',
])

const env = isolatedEnv({ROSTER_TIMEOUT: '2s'})
/** Files every case shares, readable by nobody too. */
const shared = mkdtempSync(path.join(tmpdir(), 'roster-paths-'))
const S = (name: string) => path.join(shared, name)
const registryFile = S('registry.db')
const pem = S('ok.pem')
const importFile = S('import.yaml')
const backupFile = S('backup.jsonl')
const recordFile = S('records.yaml')
const zoneFile = S('db.example.com')
const kubeconfig = S('kubeconfig')
const ZONE_TEXT = '$ORIGIN example.com.\n@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\n'
let port = 1

/** dns sync, once, into the zone file: what every dns sync row shares. */
const DNS_SYNC = ['--once', '--policy', 'sync', '--owner-id', 'o', '--provider', 'zonefile', '--zone', 'example.com']

const registryCommands: [string, string[], boolean][] = [
  // [command, its arguments, whether it writes the registry]
  ['namespace list', [], false],
  ['namespace register', ['ns1'], true],
  ['namespace unregister', ['ns1'], true],
  ['server list', [], false],
  ['server register', ['prom1'], true],
  ['server unregister', ['prom1'], true],
  ['service list', [], false],
  ['service register', ['web', '-e', 'http://127.0.0.1:9/m'], true],
  ['service unregister', ['http://127.0.0.1:9/m'], true],
  ['service import', [importFile], true],
  ['service prune', ['--expired'], true],
  ['registry settings', [], false],
  ['registry history', [], false],
  ['registry backup', ['-'], false],
  ['registry restore', [backupFile], true],
  ['registry migrate', ['--to', `sqlite:${S('moved.db')}`], false],
  ['token create', ['t1', '--role', 'admin'], true],
  ['token info', ['x.y.z'], false],
  ['token list', [], false],
  ['token revoke', ['t1'], true],
  ['sd export', ['--once', '--server', 'prom1', '--dir', shared], false],
  ['dns sync', [...DNS_SYNC, '--source', 'registry', '--registry-zone', 'example.com', '--zone-file', zoneFile, '--dry-run'], false],
  ['kube discover', ['--owner-id', 'o', '--once', '--kubeconfig', kubeconfig], true],
  ['serve', ['--listen', '127.0.0.1:0'], true],
]

function slots(): Slot[] {
  const out: Slot[] = []
  const add = (command: string, flag: string, o: Partial<Slot> & Pick<Slot, 'argv'>) =>
    out.push({
      name: `${command} ${o.shown ?? `--${flag}`}`,
      id: command.replace(/ /g, ':'),
      flag,
      shown: `--${flag}`,
      want: 'file',
      writes: false,
      ...o,
    })
  const cmd = (command: string) => command.split(' ')
  for (const [command, args, writes] of registryCommands) {
    add(command, 'registry', {writes, argv: (p) => [...cmd(command), ...args, '--registry', `sqlite:${p}`], value: (p) => `sqlite:${p}`})
    const etcd = ['--registry', `etcd://127.0.0.1:${port}`]
    add(command, 'etcd-ca', {shared: true, argv: (p) => [...cmd(command), ...args, ...etcd, '--etcd-ca', p]})
    add(command, 'etcd-cert', {shared: true, argv: (p) => [...cmd(command), ...args, ...etcd, '--etcd-cert', p, '--etcd-key', pem]})
    add(command, 'etcd-key', {shared: true, argv: (p) => [...cmd(command), ...args, ...etcd, '--etcd-key', p, '--etcd-cert', pem]})
    // serve is the server; restore and migrate write a store themselves (no https:// registry).
    if (!['serve', 'registry restore', 'registry migrate'].includes(command)) {
      const remote = ['--registry', `https://127.0.0.1:${port}`, '--token', 'x.y.z']
      add(command, 'registry-ca', {shared: true, argv: (p) => [...cmd(command), ...args, ...remote, '--registry-ca', p]})
    }
  }
  add('registry settings', 'registry', {
    name: 'registry settings --replicas --registry',
    writes: true,
    argv: (p) => ['registry', 'settings', '--replicas', '2', '--registry', `sqlite:${p}`],
    value: (p) => `sqlite:${p}`,
  })
  const local = ['--registry', `sqlite:${registryFile}`]
  add('service import', 'file', {shown: 'file', argv: (p) => ['service', 'import', p, ...local]})
  add('registry backup', 'file', {shown: 'file', writes: true, argv: (p) => ['registry', 'backup', p, ...local]})
  add('registry restore', 'file', {shown: 'file', argv: (p) => ['registry', 'restore', p, '--registry', `sqlite:${S('restored.db')}`]})
  const migrate = ['registry', 'migrate', ...local]
  add('registry migrate', 'to', {writes: true, argv: (p) => [...migrate, '--to', `sqlite:${p}`], value: (p) => `sqlite:${p}`})
  const toEtcd = ['--to', `etcd://127.0.0.1:${port}`]
  add('registry migrate', 'to-etcd-ca', {argv: (p) => [...migrate, ...toEtcd, '--to-etcd-ca', p]})
  add('registry migrate', 'to-etcd-cert', {argv: (p) => [...migrate, ...toEtcd, '--to-etcd-cert', p, '--to-etcd-key', pem]})
  add('registry migrate', 'to-etcd-key', {argv: (p) => [...migrate, ...toEtcd, '--to-etcd-key', p, '--to-etcd-cert', pem]})
  add('sd export', 'dir', {
    want: 'directory',
    writes: true,
    argv: (p) => ['sd', 'export', '--once', '--server', 'prom1', '--dir', p, ...local],
  })
  const dns = ['dns', 'sync', ...DNS_SYNC]
  add('dns sync', 'file', {argv: (p) => [...dns, '--source', 'file', '--file', p, '--zone-file', zoneFile]})
  add('dns sync', 'zone-file', {writes: true, argv: (p) => [...dns, '--source', 'file', '--file', recordFile, '--zone-file', p]})
  add('dns sync', 'kubeconfig', {argv: (p) => [...dns, '--source', 'kubernetes', '--kubeconfig', p, '--zone-file', zoneFile]})
  add('kube discover', 'kubeconfig', {argv: (p) => ['kube', 'discover', '--owner-id', 'o', '--once', '--kubeconfig', p, ...local]})
  const proxy = ['kube', 'metrics-proxy', '--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig]
  add('kube metrics-proxy', 'kubeconfig', {argv: (p) => ['kube', 'metrics-proxy', '--listen', '127.0.0.1:0', '--kubeconfig', p]})
  add('kube metrics-proxy', 'tls-cert', {argv: (p) => [...proxy, '--tls-cert', p, '--tls-key', pem]})
  add('kube metrics-proxy', 'tls-key', {argv: (p) => [...proxy, '--tls-key', p, '--tls-cert', pem]})
  add('kube metrics-proxy', 'auth-token-file', {argv: (p) => [...proxy, '--auth-token-file', p]})
  add('node-status', 'kubeconfig', {argv: (p) => ['node-status', '--kubeconfig', p]})
  const exporter = ['node-status', '--kubeconfig', kubeconfig, '--serve', '127.0.0.1:0']
  add('node-status', 'tls-cert', {argv: (p) => [...exporter, '--tls-cert', p, '--tls-key', pem]})
  add('node-status', 'tls-key', {argv: (p) => [...exporter, '--tls-key', p, '--tls-cert', pem]})
  const serve = ['serve', '--listen', '127.0.0.1:0', ...local]
  add('serve', 'tls-cert', {argv: (p) => [...serve, '--tls-cert', p, '--tls-key', pem]})
  add('serve', 'tls-key', {argv: (p) => [...serve, '--tls-key', p, '--tls-cert', pem]})
  add('login', 'registry-ca', {argv: (p) => ['login', '--registry', `https://127.0.0.1:${port}`, '--registry-ca', p, '--device']})
  add('login', 'oidc-ca', {argv: (p) => ['login', '--registry', `https://127.0.0.1:${port}`, '--oidc-ca', p, '--device']})
  const oidc = ['--oidc-issuer', `https://127.0.0.1:${port}`, '--oidc-client-id', 'roster']
  add('serve', 'oidc-ca', {argv: (p) => [...serve, ...oidc, '--oidc-ca', p]})
  // --config: every command reads it first, before anything else it does.
  const manifest = readManifest()
  for (const id of Object.keys(manifest.commands)) {
    const command = id.replace(/:/g, ' ')
    add(command, 'config', {shared: true, argv: (p) => [...cmd(command), ...minimalArgs(id), '--config', p]})
    add(command, 'config', {
      name: `${command} ROSTER_CONFIG`,
      shown: 'ROSTER_CONFIG',
      shared: true,
      argv: (p) => [...cmd(command), ...minimalArgs(id), `ROSTER_CONFIG=${p}`],
    })
  }
  return out
}

/** Required arguments of a command, so that it gets as far as reading its config. */
function minimalArgs(id: string): string[] {
  const byId: Record<string, string[]> = {
    'config:delete-secret': ['etcd-password'],
    'config:set-secret': ['etcd-password'],
    'namespace:register': ['ns1'],
    'namespace:unregister': ['ns1'],
    'server:register': ['prom1'],
    'server:unregister': ['prom1'],
    'service:import': [importFile],
    'token:create': ['t1', '--role', 'admin'],
    'token:info': ['x.y.z'],
    'token:revoke': ['t1'],
  }
  return byId[id] ?? []
}

interface ManifestFlag {
  name: string
  type: string
  description?: string
}
function readManifest(): {commands: Record<string, {flags: Record<string, ManifestFlag>; args: Record<string, {description?: string}>}>} {
  return JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as never
}

// ---- the paths of each case -------------------------------------------------------------------

const cases = mkdtempSync(path.join(tmpdir(), 'roster-path-cases-'))
chmodSync(cases, 0o755)
let readOnlyMount: string | undefined
let readOnlySkip: string | false = false

/** The path a case puts in a slot. */
function pathFor(c: Case, slot: Slot): string {
  switch (c) {
    case 'directory':
      return slot.want === 'directory' ? path.join(cases, 'a-file') : path.join(cases, 'a-directory')
    case 'fifo':
      return path.join(cases, 'a-fifo')
    case 'device':
      return '/dev/null'
    case 'dangling':
      return path.join(cases, 'a-dangling-link')
    case 'too-long':
      return path.join(cases, 'n'.repeat(300))
    case 'permission':
      return slot.want === 'directory' ? path.join(cases, 'root-only-dir') : path.join(cases, 'root-only-file')
    case 'read-only':
      return slot.want === 'directory'
        ? readOnlyMount!
        : path.join(readOnlyMount!, slot.flag === 'registry' ? 'registry.db' : 'db.example.com')
  }
}

/** What the message must say the path is. */
const SAYS: Record<Case, (slot: Slot) => RegExp> = {
  directory: (slot) => (slot.want === 'directory' ? /: is a file, not a directory$/ : /: is a directory, not a file$/),
  fifo: (slot) => new RegExp(`: is a FIFO \\(named pipe\\), not a ${slot.want}$`),
  device: (slot) => new RegExp(`: is a character device, not a ${slot.want}$`),
  dangling: () => /: is a dangling symbolic link \(to ".*", which does not exist\)$/,
  'too-long': () => /: the path is too long \(a name over 255 bytes, or a path over 4095\)$/,
  // The registry's own diagnosis names what SQLite needs (the database file, its directory).
  permission: () =>
    /: (permission denied: user 65534 may not (read|write) it|not allowed to (read|write) the database file|not allowed to create)/,
  'read-only': () => /: is on a read-only file system; cannot write it$/,
}

function expectedCode(c: Case): number {
  return c === 'permission' || c === 'read-only' ? 4 : 2
}

/** The arguments and environment of `slot` with `p` in it (a `ROSTER_X=` entry of its argv goes to the environment). */
function invocation(slot: Slot, c: Case, p: string): {args: string[]; options: CliOptions} {
  const argv = slot.argv(p)
  const envArgs = argv.filter((a) => /^ROSTER_[A-Z_]+=/.test(a))
  const caseEnv: Record<string, string | undefined> = {...env}
  for (const a of envArgs) caseEnv[a.slice(0, a.indexOf('='))] = a.slice(a.indexOf('=') + 1)
  const args = argv.filter((a) => !envArgs.includes(a))
  if (c === 'permission') {
    const nobodyHome = path.join(cases, 'home-nobody')
    caseEnv.HOME = nobodyHome
    caseEnv.XDG_CONFIG_HOME = path.join(nobodyHome, '.config')
    caseEnv.XDG_DATA_HOME = path.join(nobodyHome, '.local', 'share')
  }
  return {args, options: {env: caseEnv, timeoutMs: 60_000}}
}

/** Each row's result: the permission case as nobody (all rows in one process), the others in this process. */
async function runRows(rows: Slot[], c: Case): Promise<CliResult[]> {
  const runs = rows.map((slot) => invocation(slot, c, pathFor(c, slot)))
  if (c === 'permission') return runCliAs(NOBODY, runs)
  const results: CliResult[] = []
  for (const {args, options} of runs) results.push(await runCli(args, options))
  return results
}

function checkRefusal(slot: Slot, c: Case, p: string, r: CliResult): void {
  const what = `${slot.name} (${c}): exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`
  assert.equal(r.code, expectedCode(c), what)
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('roster: warning:'))
  assert.equal(lines.length, 1, `not one line: ${what}`)
  const line = lines[0]!
  const value = (slot.value ?? ((x: string) => x))(p)
  // A path too long is shown cut (errors.ts shortValue): its first part is there.
  const head = JSON.stringify(value).slice(0, c === 'too-long' ? 60 : undefined)
  assert.ok(line.startsWith(`roster: ${slot.shown} ${head}`), `does not name ${slot.shown} and the path: ${what}`)
  assert.match(line, SAYS[c](slot), what)
}

before(async () => {
  port = await closedPort()
  for (const f of [registryFile]) rmSync(f, {force: true})
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
  writeFileSync(importFile, '- name: web\n  endpoints: [http://127.0.0.1:9/m]\n')
  writeFileSync(recordFile, '- dnsName: www.example.com\n  recordType: A\n  targets: [192.0.2.1]\n')
  writeFileSync(zoneFile, ZONE_TEXT)
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  )
  const r = await runCli(['server', 'register', 'prom1', '--registry', `sqlite:${registryFile}`], {env})
  assert.equal(r.code, 0, r.stderr)
  // What registry restore reads before it opens the registry.
  const b = await runCli(['registry', 'backup', backupFile, '--registry', `sqlite:${registryFile}`], {env})
  assert.equal(b.code, 0, b.stderr)
  for (const f of [registryFile, pem, importFile, recordFile, zoneFile, kubeconfig, backupFile]) chmodSync(f, 0o644)
  chmodSync(shared, 0o755)
  // Runs as nobody use the shared registry (kube discover opens it before its kubeconfig), and
  // its -wal and -shm while this process's connections keep them.
  const companions = ['-wal', '-shm'].map((suffix) => `${registryFile}${suffix}`).filter((f) => existsSync(f))
  if (isRoot) for (const f of [shared, registryFile, ...companions]) chownSync(f, NOBODY.uid, NOBODY.gid)

  mkdirSync(path.join(cases, 'a-directory'))
  writeFileSync(path.join(cases, 'a-file'), 'x\n')
  execFileSync('mkfifo', [path.join(cases, 'a-fifo')])
  symlinkSync(path.join(cases, 'nothing-here'), path.join(cases, 'a-dangling-link'))
  writeFileSync(path.join(cases, 'root-only-file'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', {mode: 0o600})
  mkdirSync(path.join(cases, 'root-only-dir'), {mode: 0o755})
  mkdirSync(path.join(cases, 'home-nobody'))
  if (isRoot) chownSync(path.join(cases, 'home-nobody'), NOBODY.uid, NOBODY.gid)

  // A tmpfs holding a registry and a zone file, remounted read-only.
  if (!isRoot) readOnlySkip = 'needs root to mount a read-only file system'
  else {
    const mount = path.join(cases, 'read-only')
    mkdirSync(mount)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', mount], {stdio: 'pipe'})
      copyFileSync(registryFile, path.join(mount, 'registry.db'))
      writeFileSync(path.join(mount, 'db.example.com'), ZONE_TEXT)
      execFileSync('mount', ['-o', 'remount,ro', mount], {stdio: 'pipe'})
      readOnlyMount = mount
      // Unmounted even when the run is cut short (a timeout, the file watchdog's exit), which skips after().
      process.once('exit', unmountReadOnly)
    } catch (error) {
      readOnlySkip = `cannot mount a read-only tmpfs here (${String((error as Error).message).split('\n')[0]})`
    }
  }
})

function unmountReadOnly(): void {
  if (readOnlyMount) execFileSync('umount', [readOnlyMount])
  readOnlyMount = undefined
}

after(() => {
  unmountReadOnly()
  rmSync(cases, {recursive: true, force: true})
  rmSync(shared, {recursive: true, force: true})
})

describe('the table covers every path of every command (oclif.manifest.json)', () => {
  it('each flag or argument naming a file or directory has its row, or says why it is none', () => {
    const table = new Set(slots().map((s) => `${s.id} ${s.flag}`))
    const manifest = readManifest()
    const notPaths = new Set(
      Object.entries(NOT_PATHS).flatMap(([k]) =>
        k
          .split(' ')
          .slice(1)
          .map((f) => `${k.split(' ')[0]} ${f}`),
      ),
    )
    const missing: string[] = []
    for (const [id, command] of Object.entries(manifest.commands)) {
      for (const flag of Object.values(command.flags)) {
        const key = `${id} ${flag.name}`
        const speaksOfFiles = flag.type === 'option' && /\b(file|directory|path|PEM)\b/i.test(flag.description ?? '')
        if (PATH_FLAGS.has(flag.name) || (speaksOfFiles && !NOT_PATH_FLAGS.has(flag.name))) {
          if (!table.has(key) && !notPaths.has(key)) missing.push(key)
        }
      }
      for (const [name, arg] of Object.entries(command.args ?? {})) {
        if (/\b(file|directory|path)\b/i.test(arg.description ?? '') && !table.has(`${id} ${name}`))
          missing.push(`${id} ${name} (argument)`)
      }
    }
    assert.deepEqual(missing, [], 'paths with no row in the table (add them, or to NOT_PATHS with the reason)')
  })
})

describe('a read-only file system stops only what writes', () => {
  it('the commands that only read a registry or a zone file there work (exit 0)', async (t) => {
    if (readOnlySkip) return t.skip(skipUnlessCi(readOnlySkip) || undefined)
    const registry = `sqlite:${path.join(readOnlyMount!, 'registry.db')}`
    const reads = registryCommands.filter(([command, , writes]) => !writes && command !== 'dns sync' && command !== 'token info')
    for (const [command, args] of reads) {
      const r = await runCli([...command.split(' '), ...args, '--registry', registry], {env})
      assert.equal(r.code, 0, `${command}: ${r.stderr}`)
    }
    const zone = path.join(readOnlyMount!, 'db.example.com')
    const plan = await runCli(['dns', 'sync', ...DNS_SYNC, '--source', 'file', '--file', recordFile, '--zone-file', zone, '--dry-run'], {
      env,
    })
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(plan.stdout, /www\.example\.com/)
  })
})

describe('a path that is not usable as what the command wants: the documented exit code, one line naming it', () => {
  for (const c of [...READ_CASES, 'read-only'] as Case[]) {
    it(`${c}`, {skip: c === 'permission' && needsRoot('to run the CLI as nobody')}, async (t) => {
      if (c === 'read-only' && readOnlySkip) return t.skip(skipUnlessCi(readOnlySkip) || undefined)
      const rows = slots().filter(
        (s) => (c !== 'read-only' || s.writes) && (c === 'directory' || !s.shared || s.id === SHARED_PATHS_COMMAND),
      )
      const failures: string[] = []
      const results = await runRows(rows, c)
      rows.forEach((slot, i) => {
        try {
          checkRefusal(slot, c, pathFor(c, slot), results[i]!)
        } catch (error) {
          failures.push((error as Error).message.split('\n')[0]!)
        }
      })
      t.diagnostic(`${rows.length} (command, path) rows`)
      assert.deepEqual(failures, [], `${failures.length} of ${rows.length} rows failed`)
    })
  }
})
