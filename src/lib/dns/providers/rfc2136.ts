/**
 * The rfc2136 provider: any DNS server that accepts dynamic updates (BIND, Knot, PowerDNS,
 * Windows DNS…) for one zone.
 *
 * - records(): one zone transfer (AXFR, RFC 5936) over TCP, TSIG-signed, every signed response
 *   message verified (RFC 8945 §5.3.1). Every record of the zone comes back as an endpoint, one
 *   per record set (name + type), except the SOA, which is the transfer's bookend and never a
 *   record roster manages. The apex NS set and other unmanaged types are returned; the plan
 *   leaves types it does not manage alone.
 * - applyChanges(): RFC 2136 UPDATE messages over one TCP connection, each TSIG-signed: deletes
 *   remove the endpoint's records one by one (class NONE, so a record added by someone else
 *   meanwhile survives); an update deletes the record set (class ANY) and adds the new records in
 *   the same message, so it is atomic; creates add records (class IN). Messages are packed up to
 *   MAX_RECORDS_PER_MESSAGE records and MAX_MESSAGE_BYTES octets and sent in order: deletes,
 *   updates, creates. Each message is applied atomically by the server, the whole change set is
 *   not: a failure part-way leaves the messages already acknowledged applied, and the error says
 *   how many.
 *
 * stats: one AXFR is one read call; one UPDATE message is one write call.
 */
import {randomInt} from 'node:crypto'

import {BackendUnavailableError, InvalidInputError, NotAllowedError, RosterError, setting} from '../../errors.js'
import {type Changes, type Endpoint, type Provider, type ProviderStats, normalizeEndpoint, normalizeName} from '../endpoint.js'
import {RCODE, TYPE, type ParsedMessage, WireFormatError, parseMessage, rcodeName, typeCode, typeName} from '../wire/message.js'
import {RdataError, rdataToText} from '../wire/rdata.js'
import {DnsTcpClient, DnsTransportError} from '../wire/tcp-client.js'
import {DEFAULT_DNS_PORT, DEFAULT_TSIG_ALGORITHM, DEFAULT_TTL, TSIG_ALGORITHMS} from '../options.js'
import {type TsigKey, TsigError, TsigResponseVerifier, parseTsigAlgorithm, readTsig, signMessage, tsigErrorName} from '../wire/tsig.js'
import {type UpdateOperation, buildAxfrQuery, buildUpdateMessage, packUpdateBatches} from '../wire/update.js'

export interface Rfc2136ProviderOptions {
  host: string
  /** Default DEFAULT_DNS_PORT (53). */
  port?: number
  /** The zone to list and update ("example.com"). */
  zone: string
  tsigKeyName?: string
  /** The key's secret, base64 as in named.conf. */
  tsigSecret?: string
  /** One of TSIG_ALGORITHMS; default DEFAULT_TSIG_ALGORITHM. */
  tsigAlgorithm?: string
  timeoutMs: number
  /** Batching limits; the defaults suit BIND, Knot and PowerDNS. */
  maxRecordsPerMessage?: number
  maxMessageBytes?: number
}

export const MAX_RECORDS_PER_MESSAGE = 1000
/** Update-section bound per message; with the header, zone and TSIG a message stays under 61 KB. */
export const MAX_MESSAGE_BYTES = 60_000

interface ChangeGroup {
  operations: UpdateOperation[]
}

export class Rfc2136Provider implements Provider {
  readonly name = 'rfc2136'
  readonly stats: ProviderStats = {readCalls: 0, writeCalls: 0}

  private readonly host: string
  private readonly port: number
  private readonly zone: string
  private readonly key: TsigKey | undefined
  private readonly timeoutMs: number
  private readonly maxRecords: number
  private readonly maxBytes: number
  /** RDATA of TXT records as the server sent them, so a delete matches them exactly. */
  private readonly seenRdata = new Map<string, Buffer>()

  constructor(options: Rfc2136ProviderOptions) {
    this.host = options.host
    const port = options.port ?? DEFAULT_DNS_PORT
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw InvalidInputError.forField('rfc2136-port', port, 'must be a port number from 1 to 65535')
    }
    this.port = port
    this.zone = normalizeName(options.zone)
    if (this.zone === '') throw InvalidInputError.forField('rfc2136-zone', options.zone, 'is required (the zone to update)')
    this.timeoutMs = options.timeoutMs
    this.maxRecords = options.maxRecordsPerMessage ?? MAX_RECORDS_PER_MESSAGE
    this.maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES
    this.key = tsigKeyFrom(options)
  }

  private get address(): string {
    return `${this.host}:${this.port}`
  }

  private get keyDescription(): string {
    return this.key ? `TSIG key "${this.key.name}" (${this.key.algorithm})` : 'no TSIG key'
  }

  async records(): Promise<Endpoint[]> {
    this.stats.readCalls++
    const client = await this.connect()
    try {
      const id = randomInt(0x10000)
      const query = this.sign(buildAxfrQuery(id, this.zone))
      const verifier = query.mac && this.key ? new TsigResponseVerifier(this.key, query.mac) : undefined
      client.send(query.message)

      const sets = new Map<string, Endpoint>()
      this.seenRdata.clear()
      let soaSeen = 0
      let messages = 0
      while (soaSeen < 2) {
        const msg = this.parse(await client.receive().catch((e: unknown) => this.rethrow(e, 'the zone transfer')))
        messages++
        if (msg.id !== id) throw this.malformed(`the transfer answered with ID ${msg.id}, expected ${id}`)
        if (msg.rcode !== RCODE.NOERROR) throw this.rcodeError(msg, 'transfer (AXFR)')
        this.verify(verifier, msg, 'the zone transfer')
        if (messages === 1 && msg.answers[0]?.type !== TYPE.SOA) {
          throw this.malformed(`the transfer of zone "${this.zone}" does not start with its SOA record`)
        }
        for (const rr of msg.answers) {
          if (rr.type === TYPE.SOA) {
            soaSeen++
            continue
          }
          if (rr.type === TYPE.TSIG || rr.type === TYPE.OPT) continue
          const recordType = typeName(rr.type)
          const target = this.decode(() => rdataToText(rr.type, msg.buf, rr.rdataOffset, rr.rdataLength))
          const key = `${rr.name} ${recordType}`
          const set = sets.get(key)
          if (set) set.targets.push(target)
          else sets.set(key, {dnsName: rr.name, recordType, targets: [target], recordTTL: rr.ttl})
          if (rr.type === TYPE.TXT)
            this.seenRdata.set(`${key} ${target}`, Buffer.from(msg.buf.subarray(rr.rdataOffset, rr.rdataOffset + rr.rdataLength)))
        }
      }
      this.finishVerify(verifier, 'the zone transfer')
      return [...sets.values()].map((ep) => normalizeEndpoint(ep))
    } finally {
      client.close()
    }
  }

  async applyChanges(changes: Changes, onProgress?: (done: number, total: number) => void): Promise<void> {
    const groups = this.changeGroups(changes)
    const total = groups.length
    if (total === 0) return
    const batches = packUpdateBatches(groups, {maxBytes: this.maxBytes, maxRecords: this.maxRecords})
    // Encode every message before the first is sent: a target that does not fit its type fails
    // the run with nothing written.
    const encoded = batches.map((batch) => {
      const operations = batch.flatMap((g) => g.operations)
      try {
        return {groups: batch.length, operations, size: buildUpdateMessage(0, this.zone, operations).length}
      } catch (error) {
        if (error instanceof RdataError)
          throw InvalidInputError.forField(`${error.recordType} target`, error.target, error.message.replace(/^.*?: /, ''))
        throw error
      }
    })

    const client = await this.connect()
    let done = 0
    let acknowledged = 0
    try {
      for (const batch of encoded) {
        const id = randomInt(0x10000)
        const request = this.sign(buildUpdateMessage(id, this.zone, batch.operations))
        const verifier = request.mac && this.key ? new TsigResponseVerifier(this.key, request.mac) : undefined
        const progress = acknowledged > 0 ? ` after ${acknowledged} of ${encoded.length} update messages were applied` : ''
        this.stats.writeCalls++
        try {
          client.send(request.message)
        } catch (error) {
          this.rethrow(error, `an update${progress}`)
        }
        const msg = this.parse(await client.receive().catch((e: unknown) => this.rethrow(e, `an update${progress}`)))
        if (msg.id !== id) throw this.malformed(`the update answered with ID ${msg.id}, expected ${id}`)
        if (msg.rcode !== RCODE.NOERROR) throw this.rcodeError(msg, 'update', progress)
        this.verify(verifier, msg, 'the update response')
        this.finishVerify(verifier, 'the update response')
        acknowledged++
        done += batch.groups
        onProgress?.(done, total)
      }
    } finally {
      client.close()
    }
  }

  /** One group per endpoint: its operations must travel in one message. Deletes, updates, creates. */
  private changeGroups(changes: Changes): ChangeGroup[] {
    const groups: ChangeGroup[] = []
    for (const ep of changes.delete) {
      const {name, type} = this.identify(ep)
      groups.push({
        operations: ep.targets.map((target) => {
          const rdata = type === TYPE.TXT ? this.seenRdata.get(`${name} ${typeName(type)} ${target}`) : undefined
          return rdata ? {op: 'deleteRecord', name, type, target, rdata} : {op: 'deleteRecord', name, type, target}
        }),
      })
    }
    if (changes.updateOld.length !== changes.updateNew.length) {
      throw new InvalidInputError(`changes: ${changes.updateOld.length} updateOld but ${changes.updateNew.length} updateNew endpoints`)
    }
    changes.updateNew.forEach((next, i) => {
      const old = changes.updateOld[i] ?? next
      const o = this.identify(old)
      const n = this.identify(next)
      const operations: UpdateOperation[] = [{op: 'deleteRRset', name: o.name, type: o.type}]
      if (o.name !== n.name || o.type !== n.type) operations.push({op: 'deleteRRset', name: n.name, type: n.type})
      for (const target of next.targets)
        operations.push({op: 'add', name: n.name, type: n.type, ttl: next.recordTTL ?? DEFAULT_TTL, target})
      groups.push({operations})
    })
    for (const ep of changes.create) {
      const {name, type} = this.identify(ep)
      groups.push({operations: ep.targets.map((target) => ({op: 'add', name, type, ttl: ep.recordTTL ?? DEFAULT_TTL, target}))})
    }
    return groups.filter((g) => g.operations.length > 0)
  }

  private identify(ep: Endpoint): {name: string; type: number} {
    const name = normalizeName(ep.dnsName)
    if (name !== this.zone && !name.endsWith(`.${this.zone}`)) {
      throw InvalidInputError.forField(
        'dnsName',
        ep.dnsName,
        `is not in zone "${this.zone}", the zone this provider updates; limit the names with ${setting('domain-filter')}`,
      )
    }
    const type = typeCode(ep.recordType)
    if (
      type === undefined ||
      type === TYPE.SOA ||
      type === TYPE.TSIG ||
      type === TYPE.OPT ||
      type === TYPE.AXFR ||
      type === TYPE.IXFR ||
      type === TYPE.ANY
    ) {
      throw InvalidInputError.forField('recordType', ep.recordType, `cannot be written with an RFC 2136 update (${ep.dnsName})`)
    }
    return {name, type}
  }

  private sign(message: Buffer): {message: Buffer; mac?: Buffer} {
    if (!this.key) return {message}
    return signMessage(message, this.key)
  }

  private async connect(): Promise<DnsTcpClient> {
    try {
      return await DnsTcpClient.connect(this.host, this.port, this.timeoutMs)
    } catch (error) {
      return this.rethrow(error, 'connecting')
    }
  }

  private parse(buf: Buffer): ParsedMessage {
    try {
      return parseMessage(buf)
    } catch (error) {
      if (error instanceof WireFormatError) throw this.malformed(error.message)
      throw error
    }
  }

  private decode(fn: () => string): string {
    try {
      return fn()
    } catch (error) {
      if (error instanceof WireFormatError || error instanceof RangeError) throw this.malformed(error.message)
      throw error
    }
  }

  private verify(verifier: TsigResponseVerifier | undefined, msg: ParsedMessage, what: string): void {
    if (!verifier) return
    try {
      verifier.verify(msg)
    } catch (error) {
      throw this.tsigFailure(error, what)
    }
  }

  private finishVerify(verifier: TsigResponseVerifier | undefined, what: string): void {
    try {
      verifier?.finish()
    } catch (error) {
      throw this.tsigFailure(error, what)
    }
  }

  private tsigFailure(error: unknown, what: string): Error {
    if (!(error instanceof TsigError)) return error instanceof Error ? error : new RosterError(String(error))
    return new NotAllowedError(
      `rfc2136 server ${this.address}: ${what} for zone "${this.zone}" failed TSIG verification with ${this.keyDescription}: ${error.code}: ${error.message}`,
      {cause: error},
    )
  }

  /** The error for a response whose RCODE is not NOERROR. */
  private rcodeError(msg: ParsedMessage, action: string, progress = ''): RosterError {
    let tsigCode = 0
    try {
      tsigCode = readTsig(msg)?.error ?? 0
    } catch {
      // a malformed TSIG in an error response: report the RCODE
    }
    const prefix = `rfc2136 server ${this.address} refused the ${action} of zone "${this.zone}"${progress}`
    if (tsigCode !== 0) {
      const name = tsigErrorName(tsigCode)
      const hint =
        name === 'BADKEY'
          ? 'the server does not know this key name and algorithm'
          : name === 'BADTIME'
            ? 'the clocks of this host and the server differ by more than the fudge (300 s)'
            : 'the signature does not verify (check the secret and the algorithm)'
      return new NotAllowedError(`${prefix}: TSIG ${name} for ${this.keyDescription}: ${hint}`)
    }
    const rcode = rcodeName(msg.rcode)
    switch (msg.rcode) {
      case RCODE.NOTAUTH:
        return new NotAllowedError(
          `${prefix}: NOTAUTH (the server is not authoritative for the zone, or did not accept ${this.keyDescription})`,
        )
      case RCODE.REFUSED: {
        const who = this.key ? `TSIG key "${this.key.name}"` : 'unsigned requests (the zone wants a TSIG key)'
        const clause = action.startsWith('transfer') ? 'allow-transfer' : 'allow-update or update-policy'
        return new NotAllowedError(`${prefix}: REFUSED: the server does not allow ${who} here (see the zone's ${clause})`)
      }
      case RCODE.SERVFAIL:
        return new BackendUnavailableError(`${prefix}: SERVFAIL (the server failed; retry later)`)
      case RCODE.NOTZONE:
        return new InvalidInputError(`${prefix}: NOTZONE (a record name is outside zone "${this.zone}")`)
      default:
        return new RosterError(`${prefix}: ${rcode}`)
    }
  }

  private malformed(detail: string): BackendUnavailableError {
    return new BackendUnavailableError(`rfc2136 server ${this.address} sent a malformed answer: ${detail}`)
  }

  /** Transport failures become BackendUnavailableError naming host:port; others pass through. */
  private rethrow(error: unknown, during: string): never {
    if (error instanceof DnsTransportError) {
      const reason =
        error.code === 'ECONNREFUSED'
          ? 'connection refused'
          : error.code === 'ETIMEDOUT'
            ? `timed out after ${this.timeoutMs} ms`
            : error.message
      throw new BackendUnavailableError(`rfc2136 server ${this.address} unavailable (${during}): ${reason}`, {cause: error})
    }
    throw error
  }
}

function tsigKeyFrom(options: Rfc2136ProviderOptions): TsigKey | undefined {
  const keyName = options.tsigKeyName?.trim()
  const secret = options.tsigSecret?.trim()
  if (!keyName && !secret) return undefined
  if (!keyName) throw new InvalidInputError('rfc2136-tsig-keyname is required with a TSIG secret', {field: 'rfc2136-tsig-keyname'})
  if (!secret) throw new InvalidInputError(`rfc2136-tsig-secret is required with TSIG key "${keyName}"`, {field: 'rfc2136-tsig-secret'})
  const compact = secret.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw InvalidInputError.forField('rfc2136-tsig-secret', '(redacted)', 'is not base64 (the secret line of the key in named.conf)')
  }
  const algorithmText = options.tsigAlgorithm?.trim() || DEFAULT_TSIG_ALGORITHM
  const algorithm = parseTsigAlgorithm(algorithmText)
  if (!algorithm) throw InvalidInputError.forField('rfc2136-tsig-alg', algorithmText, `must be one of ${TSIG_ALGORITHMS.join(', ')}`)
  return {name: normalizeName(keyName), algorithm, secret: Buffer.from(compact, 'base64')}
}
