/**
 * roster's edits to third-party code, each observed in the built CLI as a user runs it: the work
 * an edit removes is not done, and what it replaces still works. A test here fails when its edit
 * stops taking effect (a new version that reaches the same work another way), not only when the
 * code it replaces moved, which fails `npm run build`.
 *
 * The edits: in scripts/bundle.mjs, @oclif/core's command sort, its package.json and manifest
 * reads, its plugin lookup and its plugin-name matching, cosmiconfig's reads, the built-ins and
 * packages loaded on first use, better-sqlite3's addon lookup, and @kubernetes/client-node's
 * imports; in src/oclif.ts, oclif's module loader (the commands and hooks come from the bundle);
 * in src/lib/cluster/cluster-client.ts, client-node's applyOptions. etcd3's (scripts/bundle-etcd.mjs)
 * are in etcd-bundle.test.ts. The code cache (bin/run.js) is in startup-code-cache.test.ts.
 */
import assert from 'node:assert/strict'
import {cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT, isolatedEnv} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'
import {observeBin, type Observed} from '../support/observe-bin.js'

type Env = Record<string, string | undefined>

/** Runs `roster ...args` observed, after one unobserved call has written the code cache. */
async function observe(args: string[], env: Env, options: {bin?: string; cwd?: string} = {}): Promise<Observed> {
  await observeBin(args, {env, ...options})
  const r = await observeBin(args, {env, ...options})
  assert.equal(r.code, 0, `roster ${args.join(' ')}: ${r.stderr}`)
  return r
}

/** A SQLite registry with one server and one service, in a fresh HOME. */
async function seededEnv(): Promise<Env> {
  const env = isolatedEnv()
  env.ROSTER_REGISTRY = `sqlite:${path.join(env.HOME!, 'registry.db')}`
  for (const args of [
    ['server', 'register', 'prom-a', '-l', 'dc=a'],
    ['service', 'register', 'node', '-e', 'http://127.0.0.1:9100/metrics'],
  ]) {
    const r = await observeBin(args, {env})
    assert.equal(r.code, 0, r.stderr)
  }
  return env
}

const COMMANDS = [['--version'], ['server', 'list'], ['service', 'list', '-o', 'json']]

describe("@oclif/core's start-up, as edited in the bundle", () => {
  let env: Env
  before(async () => {
    env = await seededEnv()
  })

  it('sorts the commands without localeCompare (no ICU collator is set up)', async () => {
    for (const args of COMMANDS) assert.equal((await observe(args, env)).localeCompare, 0, args.join(' '))
  })

  it('reads package.json files and manifests synchronously', async () => {
    for (const args of COMMANDS) {
      const r = await observe(args, env)
      assert.deepEqual(r.asyncFs, [], args.join(' '))
      for (const file of [
        path.join(ROOT, 'oclif.manifest.json'),
        path.join(ROOT, 'node_modules', '@oclif', 'plugin-help', 'package.json'),
        path.join(ROOT, 'node_modules', '@oclif', 'plugin-autocomplete', 'oclif.manifest.json'),
      ]) {
        assert.ok(r.syncReads.includes(file), `${args.join(' ')} did not read ${file}: ${r.syncReads.join(', ')}`)
      }
    }
  })

  it("finds its plugins in the root's node_modules without require.resolve", async () => {
    for (const args of COMMANDS) {
      const r = await observe(args, env)
      assert.deepEqual(
        r.resolved.filter((request) => request.includes('@oclif/')),
        [],
        args.join(' '),
      )
    }
  })

  it('matches plugin names without minimatch', async () => {
    for (const args of COMMANDS) {
      // minimatch() checks every pattern with assertValidPattern first.
      assert.equal((await observe(args, env)).calls('throw new TypeError("pattern is too long")'), 0, args.join(' '))
    }
  })

  it('loads the built-ins and packages that only rare paths use on first use, and they work there', async () => {
    for (const args of COMMANDS) {
      const r = await observe(args, env)
      for (const builtin of ['child_process', 'readline', 'perf_hooks', 'crypto', 'fs/promises'])
        assert.ok(!r.builtins.includes(builtin), `${args.join(' ')} loaded ${builtin}`)
      // The top level of tinyglobby (a regular expression it defines there) and of lilconfig (its loaders).
      assert.equal(r.calls(String.raw`/^(\/?\.\.)+$/`), 0, `${args.join(' ')} loaded tinyglobby`)
      const lilconfig = /Object\.freeze\(\{"\.js":[\w$]+,"\.json":[\w$]+,"\.cjs":[\w$]+,noExt:/.exec(
        readFileSync(path.join(ROOT, 'dist', 'roster.cjs'), 'latin1'),
      )
      assert.ok(lilconfig, "lilconfig's loaders are not in the bundle as expected: the test needs another needle")
      assert.equal(r.calls(lilconfig[0]), 0, `${args.join(' ')} loaded lilconfig`)
    }
    // A built-in loaded on first use, used: a service is given to its servers by rendezvous scores (crypto.hash).
    const register = await observeBin(['service', 'register', 'web', '-e', 'http://127.0.0.1:9200/metrics', '--json'], {env})
    assert.equal(register.code, 0, register.stderr)
    assert.ok(register.builtins.includes('crypto'), register.builtins.join(', '))
    assert.deepEqual((JSON.parse(register.stdout) as {services: {servers: string[]}[]}).services[0]?.servers, ['prom-a'])
  })
})

describe("cosmiconfig's search, as edited in the bundle", () => {
  it("reads the project's rc files synchronously, and their settings apply", async () => {
    const env = await seededEnv()
    const project = mkdtempSync(path.join(tmpdir(), 'roster-project-'))
    writeFileSync(path.join(project, 'package.json'), '{"name": "a-project"}\n')
    mkdirSync(path.join(project, 'deep', 'er'), {recursive: true})
    writeFileSync(path.join(project, '.rosterrc.yaml'), 'output: json\n')
    const r = await observe(['server', 'list'], env, {cwd: path.join(project, 'deep', 'er')})
    assert.deepEqual(r.asyncFs, [])
    assert.ok(r.syncReads.includes(path.join(project, '.rosterrc.yaml')), r.syncReads.join(', '))
    assert.deepEqual(
      (JSON.parse(r.stdout) as {name: string}[]).map((s) => s.name),
      ['prom-a'],
    )
  })
})

describe("better-sqlite3's addon, as the bundle loads it", () => {
  it('comes from its build/Release without the bindings package searching for it', async () => {
    const r = await observe(['server', 'list'], await seededEnv())
    assert.ok(!r.resolved.includes('bindings'), r.resolved.join(', '))
    assert.ok(
      r.resolved.includes(path.join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')),
      r.resolved.join(', '),
    )
  })
})

describe("oclif's module loader, as src/oclif.ts sets it for the bundle", () => {
  let install: string
  let env: Env

  before(async () => {
    // An installation whose dist/ holds the bundle alone, and whose two plugins have no commands
    // on disk: every command and hook must come from the bundle.
    install = mkdtempSync(path.join(tmpdir(), 'roster-bundle-only-'))
    for (const entry of ['bin', 'package.json', 'oclif.manifest.json'])
      cpSync(path.join(ROOT, entry), path.join(install, entry), {recursive: true})
    mkdirSync(path.join(install, 'dist'))
    cpSync(path.join(ROOT, 'dist', 'roster.cjs'), path.join(install, 'dist', 'roster.cjs'))
    const modules = path.join(install, 'node_modules')
    mkdirSync(path.join(modules, '@oclif'), {recursive: true})
    for (const entry of readdirSync(path.join(ROOT, 'node_modules'))) {
      if (entry !== '@oclif') symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry))
    }
    for (const entry of readdirSync(path.join(ROOT, 'node_modules', '@oclif'))) {
      const from = path.join(ROOT, 'node_modules', '@oclif', entry)
      if (!entry.startsWith('plugin-')) {
        symlinkSync(from, path.join(modules, '@oclif', entry))
        continue
      }
      cpSync(from, path.join(modules, '@oclif', entry), {recursive: true, dereference: true})
      rmSync(path.join(modules, '@oclif', entry, 'lib', 'commands'), {recursive: true, force: true})
    }
    env = await seededEnv()
  })
  after(() => rmSync(install, {recursive: true, force: true}))

  it("runs roster's commands, its plugins' commands and its hook from the bundle", async () => {
    const bin = path.join(install, 'bin', 'run.js')
    const list = await observe(['server', 'list', '-o', 'json'], env, {bin})
    assert.deepEqual(
      (JSON.parse(list.stdout) as {name: string}[]).map((s) => s.name),
      ['prom-a'],
    )
    assert.match((await observe(['help', 'server', 'list'], env, {bin})).stdout, /List the scrape servers/)
    assert.match((await observe(['autocomplete', 'script', 'bash'], env, {bin})).stdout, /roster/)
    // command_not_found (dist/hooks/command-not-found.js, not on disk here) suggests the command.
    const typo = await observeBin(['server', 'lst'], {env, bin})
    assert.equal(typo.code, 2, typo.stderr)
    assert.match(typo.stderr, /server list/)
  })
})

describe('@kubernetes/client-node, as the bundle carries it and cluster-client.ts uses it', () => {
  let api: KubeApiServer
  before(async () => {
    api = await startKubeApiServer({nodes: [makeNode({name: 'n1', roles: ['worker']})]})
  })
  after(async () => {
    await api?.stop()
  })

  it('leaves out its generated API, proxy agents and node-fetch', () => {
    const dist = [
      path.join(ROOT, 'dist', 'roster.cjs'),
      ...readdirSync(path.join(ROOT, 'dist', 'chunks')).map((f) => path.join(ROOT, 'dist', 'chunks', f)),
    ]
    const built = dist.map((f) => readFileSync(f, 'utf8')).join('\n')
    const modules = path.join(ROOT, 'node_modules')
    for (const [file, needle] of [
      ['@kubernetes/client-node/dist/gen/index.js', 'CoreV1Api'],
      ['hpagent/index.js', 'Bad response'],
      ['socks-proxy-agent/dist/index.js', 'socks4a'],
      ['node-fetch/lib/index.js', 'FetchError'],
    ] as const) {
      assert.ok(
        readFileSync(path.join(modules, file), 'utf8').includes(needle),
        `${file} no longer holds ${needle}: the test needs another needle`,
      )
      assert.ok(!built.includes(needle), `${file} is in the built CLI`)
    }
  })

  it('authenticates node-status with the kubeconfig user (its applyOptions), without loading undici or openid-client', async () => {
    const env = isolatedEnv()
    for (const [auth, user] of [
      ['token', 'admin'],
      ['cert', 'carol'],
    ] as const) {
      const before = api.requests.length
      const r = await observe(['node-status', '--kubeconfig', api.kubeconfigPath({auth, user})], env)
      assert.match(r.stdout, /1\/1 nodes ready/)
      const users = api.requests.slice(before).map((q) => q.user)
      assert.ok(users.length > 0 && users.every((u) => u === user), `${auth}: the API server saw ${users.join(', ')}`)
      assert.ok(!r.builtins.some((b) => b.includes('undici')), `${auth}: undici was loaded`)
      assert.equal(r.calls('"oauth4webapi/v'), 0, `${auth}: openid-client was loaded`)
    }
  })
})
