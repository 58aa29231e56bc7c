/**
 * Two `roster serve` instances over one real etcd: a registration through one shows in the
 * other's http_sd, and a token revoked through one is refused by the other — both by the watch
 * (the test polls; the time it took is printed, the benchmark measures it).
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {type EtcdServer, startEtcd} from '../support/etcd-server.js'
import {type ServeProcess, createToken, http, startServe} from '../support/serve-server.js'
import {timeUntil, until} from '../support/until.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

describe('two roster serve instances over one etcd', () => {
  let etcd: EtcdServer
  let a: ServeProcess
  let b: ServeProcess
  let admin: string
  let reader: string

  before(async () => {
    etcd = await startEtcd({throwaway: true})
    admin = await createToken(etcd.url, {id: 'admin', role: 'admin', namespaces: ['*']})
    reader = await createToken(etcd.url, {id: 'prometheus', role: 'read', namespaces: ['*']})
    ok(await runCli(['server', 'register', 'prom1', '--registry', etcd.url]))
    a = await startServe({registry: etcd.url})
    b = await startServe({registry: etcd.url})
  })
  after(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()])
    await etcd?.stop()
    assert.deepEqual(codes, [0, 0], 'both instances exit 0 on SIGTERM')
  })

  it('a registration through one is in the other’s http_sd', async () => {
    const env = isolatedEnv({ROSTER_REGISTRY: a.url, ROSTER_TOKEN: admin})
    ok(await runCli(['service', 'register', 'node', '-e', 'http://db7:9100/metrics'], {env}))
    const took = await timeUntil('the registration in the other instance', async () =>
      (await http(`${b.url}/v1/sd/prom1/default`, {token: reader})).text.includes('"db7:9100"'),
    )
    process.stderr.write(`# registration through A visible in B's http_sd after ${took} ms\n`)
    const fromA = await http(`${a.url}/v1/sd/prom1/default`, {token: reader})
    const fromB = await http(`${b.url}/v1/sd/prom1/default`, {token: reader})
    assert.equal(fromA.text, fromB.text)
  })

  it('a revocation through one is refused by the other', async () => {
    assert.equal((await http(`${b.url}/v1/settings`, {token: reader})).status, 200)
    const r = await http(`${a.url}/v1/tokens/prometheus`, {method: 'DELETE', token: admin})
    assert.equal(r.status, 200, r.text)
    const took = await timeUntil('the revocation', async () => (await http(`${b.url}/v1/settings`, {token: reader})).status === 401)
    process.stderr.write(`# revocation through A refused by B after ${took} ms\n`)
    const refused = await http(`${b.url}/v1/sd/prom1/default`, {token: reader})
    assert.equal(refused.status, 401)
    assert.match(refused.text, /revoked/)
  })

  it('a CLI writing to etcd directly is seen by both', async () => {
    ok(await runCli(['service', 'register', 'direct', '-e', 'http://db8:9100/metrics', '--registry', etcd.url]))
    for (const s of [a, b]) {
      await until('the direct write', async () => (await http(`${s.url}/v1/sd/prom1`, {token: admin})).text.includes('"db8:9100"'))
    }
    const ready = await http(`${a.url}/readyz`)
    assert.equal(ready.status, 200, ready.text)
  })
})
