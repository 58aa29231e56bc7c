/**
 * serve keeps its http_sd answers and patches them as the registry changes; what a Prometheus
 * reads from a running `roster serve` after each change is byte for byte what a serve started
 * afresh on the same registry answers: after a rename, a delete, a TTL expiry pruned, a
 * namespace's export changed and disabled, a server joining (services move to it) and one leaving
 * (they move back). The fresh serve is serve() in this process (withFreshServe): the answers it
 * is compared with come from the same code, without starting a process for each of the nine.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type CliResult, runCli} from '../support/cli.js'
import {type ServeProcess, createToken, http, startServe, withFreshServe} from '../support/serve-server.js'
import {until} from '../support/until.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

const ANSWERS = ['prom1', 'prom2', 'prom3', 'prom1/default', 'prom2/default', 'prom3/default', 'prom1/web', 'prom2/web', 'prom3/web']

describe('roster serve: kept http_sd answers follow every kind of change', () => {
  let dir: string
  let registry: string
  let serve: ServeProcess
  let reader: string
  const local = (...args: string[]) => runCli([...args, '--registry', registry])
  const read = async (url: string, p: string) => {
    const r = await http(`${url}/v1/sd/${p}`, {token: reader})
    return `${r.status} ${r.text}`
  }
  const readAll = (url: string) => Promise.all(ANSWERS.map((p) => read(url, p)))

  /** The long-running serve's answers become a fresh serve's, on the same registry after `what`. */
  const sameAsFresh = async (what: string) => {
    const expected = await withFreshServe(registry, readAll)
    let got: string[] = []
    await until(
      `the kept answers after ${what}`,
      async () => {
        got = await readAll(serve.url)
        return got.every((text, i) => text === expected[i])
      },
      {describe: () => ANSWERS.filter((_, i) => got[i] !== expected[i]).join(', ') + ' differ'},
    )
    return expected
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-sd-changes-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    ok(await local('server', 'register', 'prom1'))
    ok(await local('server', 'register', 'prom2'))
    ok(await local('namespace', 'register', 'web'))
    for (let i = 0; i < 8; i++)
      ok(await local('service', 'register', `node${i % 3}`, '-e', `http://h${i}:9100/metrics`, '-l', `rack=r${i % 2}`))
    for (let i = 0; i < 4; i++) ok(await local('service', 'register', 'site', '-n', 'web', '-e', `https://w${i}.example.org/health`))
    reader = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['*']})
    serve = await startServe({registry})
    // Every answer is read once, so that each is kept from now on.
    await readAll(serve.url)
  })
  after(async () => {
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('a rename and a relabel', async () => {
    ok(await local('service', 'register', 'renamed', '-e', 'http://h3:9100/metrics', '-l', 'rack=r9'))
    const answers = await sameAsFresh('a rename')
    assert.match(answers.join(''), /"job": "renamed"/)
  })

  it('a delete', async () => {
    ok(await local('service', 'unregister', 'http://h5:9100/metrics'))
    const answers = await sameAsFresh('a delete')
    assert.doesNotMatch(answers.join(''), /h5:9100/)
  })

  it('a TTL expiry, pruned', async () => {
    ok(await local('service', 'register', 'brief', '-e', 'http://brief:9100/metrics', '--ttl', '1s'))
    assert.match((await sameAsFresh('a registration with a TTL')).join(''), /brief:9100/)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    ok(await local('service', 'prune', '--expired', '--force'))
    assert.doesNotMatch((await sameAsFresh('the expired service pruned')).join(''), /brief:9100/)
  })

  it("a namespace's export changed to blackbox, then disabled, then standard again", async () => {
    ok(await local('namespace', 'register', 'web', '--export', 'blackbox'))
    assert.match((await sameAsFresh('export blackbox')).join(''), /"https:\/\/w0\.example\.org\/health"/)
    ok(await local('namespace', 'register', 'web', '--export', 'disabled'))
    assert.doesNotMatch((await sameAsFresh('export disabled')).join(''), /w0\.example\.org/)
    ok(await local('namespace', 'register', 'web', '--export', 'standard'))
    assert.match((await sameAsFresh('export standard')).join(''), /"w0\.example\.org:443"/)
  })

  it('a server joining takes services over, and leaving gives them back', async () => {
    ok(await local('server', 'register', 'prom3'))
    const joined = await sameAsFresh('prom3 joining')
    assert.match(joined[ANSWERS.indexOf('prom3')]!, /"__meta_roster_server": "prom3"/, 'some services moved to prom3')
    ok(await local('server', 'unregister', 'prom3'))
    const left = await sameAsFresh('prom3 leaving')
    assert.match(left[ANSWERS.indexOf('prom3')]!, /^404 /)
  })
})
