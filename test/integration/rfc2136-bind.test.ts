/**
 * The rfc2136 provider against a real BIND 9: signed AXFR, signed UPDATE messages, error
 * mapping, batching. Everything written is read back with dig.
 */
import assert from 'node:assert/strict'
import {createServer, type Server, Socket} from 'node:net'
import {after, before, describe, it} from 'node:test'

import {type Endpoint, emptyChanges} from '../../src/lib/dns/endpoint.js'
import {Rfc2136Provider, type Rfc2136ProviderOptions} from '../../src/lib/dns/providers/rfc2136.js'
import {BackendUnavailableError, InvalidInputError, NotAllowedError, exitCodeOf} from '../../src/lib/errors.js'
import {parseMessage} from '../../src/lib/dns/wire/message.js'
import {type BindServer, FOREIGN_RECORDS, startBind} from '../support/bind-server.js'
import {freePort} from '../support/free-port.js'

const ZONE = 'example.test'
const SECRET = Buffer.from('rfc2136 integration test secret, 32+ octets').toString('base64')
const OTHER_SECRET = Buffer.from('a different secret of the same sort, 32+ oct').toString('base64')

function providerFor(bind: BindServer, overrides: Partial<Rfc2136ProviderOptions> = {}): Rfc2136Provider {
  return new Rfc2136Provider({
    host: bind.host,
    port: bind.port,
    zone: bind.zone,
    tsigKeyName: bind.keyName,
    tsigSecret: bind.secret,
    tsigAlgorithm: bind.algorithm,
    timeoutMs: 5000,
    ...overrides,
  })
}

function byKey(endpoints: Endpoint[]): Map<string, Endpoint> {
  return new Map(endpoints.map((ep) => [`${ep.dnsName} ${ep.recordType}`, ep]))
}

/** The foreign records as dig prints them, to compare before and after. */
async function foreignSnapshot(bind: BindServer): Promise<string[][]> {
  return Promise.all(FOREIGN_RECORDS.map((r) => bind.lookup(`${r.name}.${bind.zone}`, r.type)))
}

describe('rfc2136 provider against BIND (hmac-sha256)', () => {
  let bind: BindServer
  let foreignBefore: string[][]

  before(async () => {
    bind = await startBind({zone: ZONE, keyName: 'roster-key', secret: SECRET, algorithm: 'hmac-sha256'})
    foreignBefore = await foreignSnapshot(bind)
  })
  after(async () => {
    await bind?.stop()
  })

  it('lists the zone with one signed AXFR, every record set but the SOA', async () => {
    const provider = providerFor(bind)
    const records = byKey(await provider.records())
    assert.deepEqual(provider.stats, {readCalls: 1, writeCalls: 0})
    assert.equal(records.has(`${ZONE} SOA`), false)
    assert.deepEqual(records.get(`${ZONE} NS`)?.targets, [`ns1.${ZONE}`])
    assert.deepEqual(records.get(`foreign.${ZONE} A`), {
      dnsName: `foreign.${ZONE}`,
      recordType: 'A',
      targets: ['192.0.2.10'],
      recordTTL: 300,
    })
    assert.deepEqual(records.get(`foreign.${ZONE} TXT`)?.targets, ["hand-written, not roster's"])
    assert.deepEqual(records.get(`mail.${ZONE} MX`)?.targets, ['10 mx.example.net'])
    assert.deepEqual(records.get(`_ldap._tcp.${ZONE} SRV`)?.targets, ['0 5 389 ldap.example.net'])
    assert.deepEqual(records.get(`legacy.${ZONE} CNAME`)?.targets, [`foreign.${ZONE}`])
  })

  it('creates, updates and deletes A, AAAA, CNAME, TXT and SRV records; foreign records survive', async () => {
    const provider = providerFor(bind)
    const progress: Array<[number, number]> = []
    const created: Endpoint[] = [
      {dnsName: `web.${ZONE}`, recordType: 'A', targets: ['192.0.2.1', '192.0.2.2'], recordTTL: 120},
      {dnsName: `web.${ZONE}`, recordType: 'AAAA', targets: ['2001:db8::1']},
      {dnsName: `alias.${ZONE}`, recordType: 'CNAME', targets: [`web.${ZONE}`]},
      {
        dnsName: `a-web.${ZONE}`,
        recordType: 'TXT',
        targets: ['heritage=external-dns,external-dns/owner=roster,external-dns/resource=file/web'],
      },
      {dnsName: `_node._tcp.${ZONE}`, recordType: 'SRV', targets: ['0 10 9100 db1.example.net', '0 10 9100 db2.example.net']},
      {dnsName: `long.${ZONE}`, recordType: 'TXT', targets: ['x'.repeat(300)]},
    ]
    await provider.applyChanges({...emptyChanges(), create: created}, (done, total) => progress.push([done, total]))
    assert.deepEqual(provider.stats, {readCalls: 0, writeCalls: 1})
    assert.deepEqual(progress, [[6, 6]])

    assert.deepEqual(await bind.lookup(`web.${ZONE}`, 'A'), ['192.0.2.1', '192.0.2.2'])
    assert.match(await bind.dig(`web.${ZONE}`, 'A', '+noall', '+answer'), /\t120\tIN\tA\t/)
    assert.deepEqual(await bind.lookup(`web.${ZONE}`, 'AAAA'), ['2001:db8::1'])
    assert.match(await bind.dig(`web.${ZONE}`, 'AAAA', '+noall', '+answer'), /\t300\tIN\tAAAA\t/, 'default TTL 300')
    assert.deepEqual(await bind.lookup(`alias.${ZONE}`, 'CNAME'), [`web.${ZONE}.`])
    assert.deepEqual(await bind.lookup(`a-web.${ZONE}`, 'TXT'), [
      '"heritage=external-dns,external-dns/owner=roster,external-dns/resource=file/web"',
    ])
    assert.deepEqual(await bind.lookup(`_node._tcp.${ZONE}`, 'SRV'), ['0 10 9100 db1.example.net.', '0 10 9100 db2.example.net.'])
    assert.deepEqual(await bind.lookup(`long.${ZONE}`, 'TXT'), [`"${'x'.repeat(255)}" "${'x'.repeat(45)}"`])

    // What records() returns is what was written, in endpoint conventions.
    const listed = byKey(await provider.records())
    for (const ep of created) {
      assert.deepEqual(listed.get(`${ep.dnsName} ${ep.recordType}`)?.targets, [...ep.targets].sort(), `${ep.dnsName} ${ep.recordType}`)
    }

    // Update: a new target set and TTL for the A set, a new SRV set; delete the CNAME and the long TXT.
    const webA = listed.get(`web.${ZONE} A`)
    const srv = listed.get(`_node._tcp.${ZONE} SRV`)
    const alias = listed.get(`alias.${ZONE} CNAME`)
    const long = listed.get(`long.${ZONE} TXT`)
    assert.ok(webA && srv && alias && long)
    await provider.applyChanges({
      create: [{dnsName: `alias.${ZONE}`, recordType: 'A', targets: ['192.0.2.50']}],
      updateOld: [webA, srv],
      updateNew: [
        {dnsName: `web.${ZONE}`, recordType: 'A', targets: ['192.0.2.3'], recordTTL: 60},
        {dnsName: `_node._tcp.${ZONE}`, recordType: 'SRV', targets: ['0 10 9101 db3.example.net']},
      ],
      delete: [alias, long],
    })
    assert.deepEqual(await bind.lookup(`web.${ZONE}`, 'A'), ['192.0.2.3'])
    assert.match(await bind.dig(`web.${ZONE}`, 'A', '+noall', '+answer'), /\t60\tIN\tA\t192\.0\.2\.3/)
    assert.deepEqual(await bind.lookup(`_node._tcp.${ZONE}`, 'SRV'), ['0 10 9101 db3.example.net.'])
    assert.deepEqual(await bind.lookup(`alias.${ZONE}`, 'CNAME'), [])
    assert.deepEqual(
      await bind.lookup(`alias.${ZONE}`, 'A'),
      ['192.0.2.50'],
      'the CNAME was deleted before the A at the same name was added',
    )
    assert.deepEqual(await bind.lookup(`long.${ZONE}`, 'TXT'), [])
    assert.deepEqual(await bind.lookup(`web.${ZONE}`, 'AAAA'), ['2001:db8::1'], 'untouched set survives')

    assert.deepEqual(await foreignSnapshot(bind), foreignBefore)
  })

  it('deletes only the records it names: a record added meanwhile by someone else survives', async () => {
    const provider = providerFor(bind)
    await provider.applyChanges({...emptyChanges(), create: [{dnsName: `shared.${ZONE}`, recordType: 'A', targets: ['192.0.2.60']}]})
    const ours = byKey(await provider.records()).get(`shared.${ZONE} A`)
    assert.ok(ours)
    await providerFor(bind).applyChanges({
      ...emptyChanges(),
      create: [{dnsName: `shared.${ZONE}`, recordType: 'A', targets: ['192.0.2.61']}],
    })
    await provider.applyChanges({...emptyChanges(), delete: [ours]})
    assert.deepEqual(await bind.lookup(`shared.${ZONE}`, 'A'), ['192.0.2.61'])
  })

  it('a wrong secret is NotAllowedError (exit 4) naming the key and BADSIG, and changes nothing', async () => {
    const provider = providerFor(bind, {tsigSecret: OTHER_SECRET})
    await assert.rejects(
      provider.applyChanges({...emptyChanges(), create: [{dnsName: `intruder.${ZONE}`, recordType: 'A', targets: ['192.0.2.66']}]}),
      (error: unknown) => {
        assert.ok(error instanceof NotAllowedError, String(error))
        assert.equal(exitCodeOf(error), 4)
        assert.match(error.message, /BADSIG/)
        assert.match(error.message, /"roster-key"/)
        assert.match(error.message, /example\.test/)
        return true
      },
    )
    assert.deepEqual(await bind.lookup(`intruder.${ZONE}`, 'A'), [])
    await assert.rejects(provider.records(), (error: unknown) => error instanceof NotAllowedError && /BADSIG/.test(error.message))
  })

  it('an unknown key name is NotAllowedError with BADKEY; no key at all is REFUSED', async () => {
    await assert.rejects(
      providerFor(bind, {tsigKeyName: 'no-such-key'}).records(),
      (error: unknown) => error instanceof NotAllowedError && /BADKEY/.test(error.message),
    )
    const unsigned = providerFor(bind, {tsigKeyName: undefined, tsigSecret: undefined})
    await assert.rejects(
      unsigned.applyChanges({...emptyChanges(), create: [{dnsName: `anon.${ZONE}`, recordType: 'A', targets: ['192.0.2.67']}]}),
      (error: unknown) => error instanceof NotAllowedError && /REFUSED/.test(error.message) && /unsigned requests/.test(error.message),
    )
    await assert.rejects(unsigned.records(), (error: unknown) => error instanceof NotAllowedError && /REFUSED/.test(error.message))
    assert.deepEqual(await bind.lookup(`anon.${ZONE}`, 'A'), [])
  })

  it('a zone the server does not serve is NotAllowedError', async () => {
    await assert.rejects(
      providerFor(bind, {zone: 'not-served.test'}).records(),
      (error: unknown) => error instanceof NotAllowedError && /not-served\.test/.test(error.message),
    )
  })

  it('splits a batch larger than one message and every record arrives; AXFR spans many signed messages', async () => {
    const provider = providerFor(bind)
    const create: Endpoint[] = Array.from({length: 3000}, (_, i) => ({
      dnsName: `bulk-${i}.${ZONE}`,
      recordType: 'A',
      targets: [`10.1.${i >> 8}.${i & 255}`],
    }))
    const progress: Array<[number, number]> = []
    await provider.applyChanges({...emptyChanges(), create}, (done, total) => progress.push([done, total]))
    assert.equal(provider.stats.writeCalls, 3, '3,000 records at 1,000 per message')
    assert.deepEqual(progress, [
      [1000, 3000],
      [2000, 3000],
      [3000, 3000],
    ])
    assert.deepEqual(await bind.lookup(`bulk-0.${ZONE}`, 'A'), ['10.1.0.0'])
    assert.deepEqual(await bind.lookup(`bulk-2999.${ZONE}`, 'A'), ['10.1.11.183'])
    const listed = byKey(await provider.records())
    for (const ep of create) assert.deepEqual(listed.get(`${ep.dnsName} A`)?.targets, ep.targets)
    assert.equal(provider.stats.readCalls, 1)
  })

  it('a message byte limit splits too', async () => {
    const provider = providerFor(bind, {maxMessageBytes: 2000})
    const create: Endpoint[] = Array.from({length: 40}, (_, i) => ({
      dnsName: `txt-${i}.${ZONE}`,
      recordType: 'TXT',
      targets: [`value ${i} `.padEnd(200, '.')],
    }))
    await provider.applyChanges({...emptyChanges(), create})
    assert.ok(provider.stats.writeCalls >= 4, `${provider.stats.writeCalls} messages`)
    assert.equal((await bind.lookup(`txt-39.${ZONE}`, 'TXT')).length, 1)
  })

  it('a target that does not fit its type is InvalidInputError before anything is written', async () => {
    const provider = providerFor(bind)
    await assert.rejects(
      provider.applyChanges({
        ...emptyChanges(),
        create: [
          {dnsName: `fine.${ZONE}`, recordType: 'A', targets: ['192.0.2.70']},
          {dnsName: `bad.${ZONE}`, recordType: 'A', targets: ['not-an-address']},
        ],
      }),
      (error: unknown) => error instanceof InvalidInputError && /not-an-address/.test(error.message),
    )
    assert.equal(provider.stats.writeCalls, 0)
    assert.deepEqual(await bind.lookup(`fine.${ZONE}`, 'A'), [])
    await assert.rejects(
      provider.applyChanges({...emptyChanges(), create: [{dnsName: 'www.elsewhere.test', recordType: 'A', targets: ['192.0.2.1']}]}),
      (error: unknown) => error instanceof InvalidInputError && /elsewhere/.test(error.message),
    )
  })

  it('a transfer altered in transit fails TSIG verification (NotAllowedError)', async () => {
    // Enough records that the AXFR spans several messages, whatever ran before.
    const create: Endpoint[] = Array.from({length: 1000}, (_, i) => ({
      dnsName: `transit-${i}.${ZONE}`,
      recordType: 'A',
      targets: [`10.2.${i >> 8}.${i & 255}`],
    }))
    await providerFor(bind).applyChanges({...emptyChanges(), create})
    // A proxy that flips one bit of a record in the second message of every AXFR.
    const proxy = await tamperingProxy(bind.port)
    try {
      const provider = providerFor(bind, {port: proxy.port})
      await assert.rejects(provider.records(), (error: unknown) => error instanceof NotAllowedError && /BADSIG/.test(error.message))
    } finally {
      await proxy.close()
    }
  })
})

describe('rfc2136 provider against BIND (hmac-sha512)', () => {
  let bind: BindServer
  before(async () => {
    bind = await startBind({zone: 'sha512.test', keyName: 'sha512-key', secret: SECRET, algorithm: 'hmac-sha512'})
  })
  after(async () => {
    await bind?.stop()
  })

  it('lists and updates with an hmac-sha512 key', async () => {
    const provider = providerFor(bind)
    await provider.applyChanges({...emptyChanges(), create: [{dnsName: 'www.sha512.test', recordType: 'A', targets: ['192.0.2.80']}]})
    assert.deepEqual(await bind.lookup('www.sha512.test', 'A'), ['192.0.2.80'])
    assert.deepEqual(byKey(await provider.records()).get('www.sha512.test A')?.targets, ['192.0.2.80'])
  })

  it('the right secret with the wrong algorithm is refused (BADKEY)', async () => {
    await assert.rejects(
      providerFor(bind, {tsigAlgorithm: 'hmac-sha256'}).records(),
      (error: unknown) => error instanceof NotAllowedError && /BADKEY/.test(error.message),
    )
  })
})

describe('rfc2136 provider with no server', () => {
  it('a closed port is BackendUnavailableError (exit 3) naming host:port', async () => {
    const port = await freePort()
    const provider = new Rfc2136Provider({host: '127.0.0.1', port, zone: ZONE, tsigKeyName: 'k', tsigSecret: SECRET, timeoutMs: 2000})
    for (const call of [
      () => provider.records(),
      () => provider.applyChanges({...emptyChanges(), create: [{dnsName: `x.${ZONE}`, recordType: 'A', targets: ['192.0.2.1']}]}),
    ]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof BackendUnavailableError, String(error))
        assert.equal(exitCodeOf(error), 3)
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`))
        assert.match(error.message, /connection refused/)
        return true
      })
    }
  })

  it('a server that accepts and never answers times out as BackendUnavailableError', async () => {
    const sockets: Socket[] = []
    const silent: Server = createServer((s) => sockets.push(s))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const address = silent.address()
    const port = typeof address === 'object' && address ? address.port : 0
    try {
      const provider = new Rfc2136Provider({host: '127.0.0.1', port, zone: ZONE, timeoutMs: 300})
      const started = Date.now()
      await assert.rejects(
        provider.records(),
        (error: unknown) => error instanceof BackendUnavailableError && /timed out after 300 ms/.test(error.message),
      )
      assert.ok(Date.now() - started < 3000)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it('validates its options, naming the setting (the CLI turns it into the flag)', () => {
    const base = {host: '127.0.0.1', port: 53, zone: ZONE, timeoutMs: 1000}
    assert.throws(
      () => new Rfc2136Provider({...base, tsigKeyName: 'k'}),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'rfc2136-tsig-secret',
    )
    assert.throws(
      () => new Rfc2136Provider({...base, tsigKeyName: 'k', tsigSecret: 'not base64!'}),
      (e: unknown) => e instanceof InvalidInputError && !/not base64!/.test(e.message),
    )
    assert.throws(
      () => new Rfc2136Provider({...base, tsigKeyName: 'k', tsigSecret: SECRET, tsigAlgorithm: 'hmac-sha3'}),
      /rfc2136-tsig-alg "hmac-sha3": must be one of hmac-sha256, /,
    )
    assert.throws(() => new Rfc2136Provider({...base, zone: ''}), /rfc2136-zone "": is required/)
  })
})

/** A TCP proxy to 127.0.0.1:target that flips a bit in a record of the server's second message. */
async function tamperingProxy(target: number): Promise<{port: number; close(): Promise<void>}> {
  const sockets: Socket[] = []
  const server = createServer((client) => {
    const upstream = new Socket()
    sockets.push(client, upstream)
    upstream.connect(target, '127.0.0.1')
    client.on('data', (d) => upstream.write(d))
    let pending = Buffer.alloc(0)
    let count = 0
    upstream.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d])
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0)
        const frame = Buffer.from(pending.subarray(0, 2 + length))
        pending = pending.subarray(2 + length)
        count++
        if (count === 2) {
          const msg = parseMessage(frame.subarray(2))
          const rr = msg.answers[10]
          const at = rr ? 2 + rr.rdataOffset + rr.rdataLength - 1 : -1
          if (at >= 0) frame[at] = (frame[at] ?? 0) ^ 0x01
        }
        client.write(frame)
      }
    })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
