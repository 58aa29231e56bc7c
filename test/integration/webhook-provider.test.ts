import assert from 'node:assert/strict'
import {after, afterEach, describe, it} from 'node:test'

import {emptyChanges} from '../../src/lib/dns/endpoint.js'
import {WEBHOOK_MEDIA_TYPE, WebhookProvider} from '../../src/lib/dns/providers/webhook.js'
import {BackendUnavailableError, InvalidInputError} from '../../src/lib/errors.js'
import {closedPort} from '../support/free-port.js'
import {startWebhookServer, type StartedWebhookServer} from '../support/webhook-provider-server.js'

const OWNERSHIP = 'heritage=external-dns,external-dns/owner=roster,external-dns/resource=file/records.yaml'

describe('WebhookProvider against a webhook provider speaking protocol v1', () => {
  const servers: StartedWebhookServer[] = []
  const start = async (options: Parameters<typeof startWebhookServer>[0] = {}): Promise<StartedWebhookServer> => {
    const s = await startWebhookServer(options)
    servers.push(s)
    return s
  }
  afterEach(async () => {
    while (servers.length > 0) await servers.pop()?.stop()
  })
  after(async () => {
    while (servers.length > 0) await servers.pop()?.stop()
  })

  it('negotiates: sends the media type in Accept and reads the domain filter', async () => {
    const server = await start({domainFilter: {include: ['example.com'], exclude: ['internal.example.com']}})
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    const filter = await p.negotiate()
    assert.deepEqual(filter, {include: ['example.com'], exclude: ['internal.example.com']})
    assert.equal(server.log[0]?.method, 'GET')
    assert.equal(server.log[0]?.path, '/')
    assert.equal(server.log[0]?.accept, WEBHOOK_MEDIA_TYPE)
    assert.equal(p.handles('www.example.com'), true)
    assert.equal(p.handles('db.internal.example.com'), false)
    await p.negotiate()
    assert.equal(server.log.length, 1, 'negotiates once')
  })

  it('records() returns the provider records, TXT quotes removed, outside the domain filter left out', async () => {
    const server = await start({
      domainFilter: {include: ['example.com']},
      records: [
        {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], recordTTL: 300},
        {dnsName: 'a-www.example.com', recordType: 'TXT', targets: [`"${OWNERSHIP}"`], recordTTL: 300},
        {dnsName: 'www.example.org', recordType: 'A', targets: ['198.51.100.1']},
      ],
    })
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    const eps = await p.records()
    assert.deepEqual(eps, [
      {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], recordTTL: 300},
      {dnsName: 'a-www.example.com', recordType: 'TXT', targets: [OWNERSHIP], recordTTL: 300},
    ])
    assert.deepEqual(p.stats, {readCalls: 2, writeCalls: 0})
  })

  it('applyChanges round trip: one POST /records in external-dns JSON, answered 204', async () => {
    const server = await start({
      domainFilter: {include: ['example.com']},
      records: [
        {dnsName: 'old.example.com', recordType: 'A', targets: ['192.0.2.1']},
        {dnsName: 'gone.example.com', recordType: 'CNAME', targets: ['old.example.com']},
        {dnsName: 'foreign.example.com', recordType: 'A', targets: ['203.0.113.9']},
      ],
    })
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    const current = await p.records()
    const old = current.find((e) => e.dnsName === 'old.example.com')
    const gone = current.find((e) => e.dnsName === 'gone.example.com')
    assert.ok(old && gone)
    const progress: [number, number][] = []
    await p.applyChanges(
      {
        create: [
          {dnsName: 'new.example.com', recordType: 'A', targets: ['192.0.2.7'], recordTTL: 120, labels: {owner: 'roster'}},
          {dnsName: 'a-new.example.com', recordType: 'TXT', targets: [OWNERSHIP]},
          {dnsName: '_http._tcp.new.example.com', recordType: 'SRV', targets: ['10 5 8080 new.example.com']},
          {dnsName: 'outside.example.org', recordType: 'A', targets: ['192.0.2.8']},
        ],
        updateOld: [old],
        updateNew: [{...old, targets: ['192.0.2.2']}],
        delete: [gone],
      },
      (d, t) => progress.push([d, t]),
    )
    assert.equal(p.stats.writeCalls, 1)
    assert.deepEqual(progress, [[5, 5]])
    const post = server.log.find((r) => r.method === 'POST' && r.path === '/records')
    assert.ok(post)
    assert.equal(post.contentType, WEBHOOK_MEDIA_TYPE)
    assert.equal(post.status, 204)
    const body = post.body as Record<string, {dnsName: string; targets: string[]; recordTTL?: number; labels?: Record<string, string>}[]>
    assert.deepEqual(Object.keys(body).sort(), ['create', 'delete', 'updateNew', 'updateOld'])
    assert.deepEqual(
      body.create?.map((e) => e.dnsName),
      ['new.example.com', 'a-new.example.com', '_http._tcp.new.example.com'],
      'the record outside the domain filter is never sent',
    )
    assert.deepEqual(body.create?.[0], {
      dnsName: 'new.example.com',
      recordType: 'A',
      targets: ['192.0.2.7'],
      recordTTL: 120,
      labels: {owner: 'roster'},
    })
    assert.deepEqual(body.create?.[1]?.targets, [`"${OWNERSHIP}"`], 'TXT as external-dns sends it')
    assert.equal(p.skippedOutsideDomainFilter, 1)

    assert.deepEqual(server.find('old.example.com', 'A')?.targets, ['192.0.2.2'])
    assert.equal(server.find('gone.example.com', 'CNAME'), undefined)
    assert.deepEqual(server.find('foreign.example.com', 'A')?.targets, ['203.0.113.9'])
    assert.equal(server.find('outside.example.org', 'A'), undefined)

    const back = await new WebhookProvider({url: server.url, timeoutMs: 5000}).records()
    assert.deepEqual(back.find((e) => e.dnsName === 'a-new.example.com')?.targets, [OWNERSHIP])
    assert.deepEqual(back.find((e) => e.dnsName === '_http._tcp.new.example.com')?.targets, ['10 5 8080 new.example.com'])
  })

  it('sends PascalCase change keys when asked (external-dns before v0.16)', async () => {
    const server = await start()
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000, changesKeyCase: 'pascal'})
    await p.applyChanges({...emptyChanges(), create: [{dnsName: 'p.example.com', recordType: 'A', targets: ['192.0.2.1']}]})
    const post = server.log.find((r) => r.method === 'POST')
    assert.deepEqual(Object.keys(post?.body as object), ['Create'])
    assert.deepEqual(server.find('p.example.com', 'A')?.targets, ['192.0.2.1'])
  })

  it('an empty change set sends nothing', async () => {
    const server = await start()
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    await p.applyChanges(emptyChanges())
    assert.equal(server.log.filter((r) => r.method === 'POST').length, 0)
    assert.equal(p.stats.writeCalls, 0)
  })

  it('adjustEndpoints posts the endpoints and returns what the provider made of them', async () => {
    const server = await start({domainFilter: {include: ['example.com']}, minTtl: 60})
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    const adjusted = await p.adjustEndpoints([
      {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], recordTTL: 5, labels: {resource: 'file/x'}},
      {dnsName: 't.example.com', recordType: 'TXT', targets: ['some text'], recordTTL: 300},
      {dnsName: 'www.example.org', recordType: 'A', targets: ['192.0.2.1']},
    ])
    assert.deepEqual(adjusted, [
      {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], recordTTL: 60, labels: {resource: 'file/x'}},
      {dnsName: 't.example.com', recordType: 'TXT', targets: ['some text'], recordTTL: 300},
    ])
    const post = server.log.find((r) => r.path === '/adjustendpoints')
    assert.equal(post?.contentType, WEBHOOK_MEDIA_TYPE)
    assert.equal(post?.accept, WEBHOOK_MEDIA_TYPE)
    assert.equal((post?.body as unknown[]).length, 2, 'the endpoint outside the domain filter is not sent')
    assert.equal(server.log.filter((r) => r.method === 'POST' && r.path === '/records').length, 0)
  })

  it('a provider answering another media type fails negotiation with a clear error, and nothing is posted', async () => {
    const server = await start({negotiateContentType: 'application/json'})
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    await assert.rejects(
      p.applyChanges({...emptyChanges(), create: [{dnsName: 'x.example.com', recordType: 'A', targets: ['192.0.2.1']}]}),
      (e: unknown) =>
        e instanceof InvalidInputError &&
        e.exitCode === 2 &&
        e.message.includes('"application/json"') &&
        e.message.includes(WEBHOOK_MEDIA_TYPE) &&
        e.message.includes(server.url),
    )
    assert.equal(server.log.filter((r) => r.method === 'POST').length, 0)
  })

  it('a provider at another protocol version is refused, naming the version', async () => {
    const server = await start({negotiateContentType: 'application/external.dns.webhook+json;version=2'})
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    await assert.rejects(p.records(), (e: unknown) => e instanceof InvalidInputError && /version 2/.test(e.message))
  })

  it('a provider that fails to apply is BackendUnavailableError with its answer', async () => {
    const server = await start({records: [{dnsName: 'dup.example.com', recordType: 'A', targets: ['192.0.2.1']}]})
    const p = new WebhookProvider({url: server.url, timeoutMs: 5000})
    await assert.rejects(
      p.applyChanges({...emptyChanges(), create: [{dnsName: 'dup.example.com', recordType: 'A', targets: ['192.0.2.2']}]}),
      (e: unknown) => e instanceof BackendUnavailableError && /HTTP 500/.test(e.message) && /exists/.test(e.message),
    )
  })

  it('a provider that is down is BackendUnavailableError naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const p = new WebhookProvider({url, timeoutMs: 2000})
    await assert.rejects(p.records(), (e: unknown) => e instanceof BackendUnavailableError && e.exitCode === 3 && e.message.includes(url))
  })
})
