/**
 * The sync pipeline (runSync) through the webhook provider to a webhook provider written for the
 * tests: dry-run posts no change, a real run posts one, ownership TXT travels as external-dns
 * sends it, and names outside the provider's domain filter are never sent.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import type {Endpoint, Source} from '../../src/lib/dns/endpoint.js'
import {WebhookProvider} from '../../src/lib/dns/providers/webhook.js'
import {runSync} from '../../src/lib/dns/sync.js'
import {startWebhookServer, type StartedWebhookServer} from '../support/webhook-provider-server.js'

function source(endpoints: Endpoint[]): Source {
  return {name: 'test', endpoints: async () => endpoints}
}

describe('runSync through the webhook provider', () => {
  let server: StartedWebhookServer
  before(async () => {
    server = await startWebhookServer({
      domainFilter: {include: ['example.com']},
      records: [
        {dnsName: 'foreign.example.com', recordType: 'A', targets: ['203.0.113.1']},
        {dnsName: 'theirs.example.com', recordType: 'A', targets: ['203.0.113.2']},
        {
          dnsName: 'a-theirs.example.com',
          recordType: 'TXT',
          targets: ['"heritage=external-dns,external-dns/owner=other,external-dns/resource=service/x/y"'],
        },
      ],
    })
  })
  after(async () => {
    await server?.stop()
  })

  const desired: Endpoint[] = [
    {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], recordTTL: 300},
    {dnsName: 'theirs.example.com', recordType: 'A', targets: ['192.0.2.2']},
    {dnsName: 'www.example.org', recordType: 'A', targets: ['192.0.2.3']},
  ]
  const posts = (): number => server.log.filter((r) => r.method === 'POST' && r.path === '/records').length

  it('under dry-run nothing is posted to /records', async () => {
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    const result = await runSync({sources: [source(desired)], provider: p, policy: 'sync', ownerId: 'roster', dryRun: true})
    assert.equal(result.summary.create, 1, 'www.example.com only: the .org name is outside the provider filter, theirs is owned by another')
    assert.equal(posts(), 0)
    assert.equal(p.stats.writeCalls, 0)
  })

  it('a real run posts once; the ownership TXT is sent quoted, as external-dns sends it', async () => {
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    await runSync({sources: [source(desired)], provider: p, policy: 'sync', ownerId: 'roster'})
    assert.equal(posts(), 1)
    assert.deepEqual(server.find('www.example.com', 'A')?.targets, ['192.0.2.1'])
    assert.deepEqual(server.find('a-www.example.com', 'TXT')?.targets, ['"heritage=external-dns,external-dns/owner=roster"'])
    assert.deepEqual(server.find('theirs.example.com', 'A')?.targets, ['203.0.113.2'])
    assert.deepEqual(server.find('foreign.example.com', 'A')?.targets, ['203.0.113.1'])
    const sent = JSON.stringify(server.log.filter((r) => r.method === 'POST').map((r) => r.body))
    assert.ok(!sent.includes('example.org'), 'names outside the domain filter are never sent')

    const again = new WebhookProvider({url: server.url, timeoutMs: 5000})
    const second = await runSync({sources: [source(desired)], provider: again, policy: 'sync', ownerId: 'roster'})
    assert.deepEqual(second.summary, {create: 0, update: 0, delete: 0})
    assert.equal(posts(), 1)
  })
})
