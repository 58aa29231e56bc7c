import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {CLASS, OPCODE, TYPE, WireWriter, flagsFor, parseMessage, writeHeader} from '../../src/lib/dns/wire/message.js'
import {
  type TsigKey,
  TSIG_ERROR,
  TsigError,
  TsigResponseVerifier,
  messageWithoutTsig,
  parseTsigAlgorithm,
  readTsig,
  signMessage,
  signSubsequent,
  verifyRequest,
} from '../../src/lib/dns/wire/tsig.js'

/*
 * Known answers captured from BIND 9.18: `dig -y ALG:roster-key:SECRET +noedns www.example.test A`
 * sent REQUEST through a recording UDP proxy to named (key roster-key, same secret), and named
 * answered RESPONSE (NXDOMAIN with the SOA, TSIG-signed).
 */
const SECRET = Buffer.from('cm9zdGVyLXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY=', 'base64')
const TIME_SIGNED = 1795462228 // 0x00006b049454, from the captured TSIG records

const BIND = {
  'hmac-sha256': {
    request:
      '5a830120000100000000000103777777076578616d706c65047465737400000100010a726f737465722d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b049454012c0020a78ffa9d83ced9bc1d6eed6b73809cbfde782f9a30003cd2175d6db7c96c776f5a8300000000',
    response:
      '5a838503000100000001000103777777076578616d706c6504746573740000010001c010000600010000012c0027036e7331c0100a686f73746d6173746572c0100000000100000e100000025800093a800000012c0a726f737465722d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b049454012c0020200b88c5dee8c3531cd7084eef6e0b2b9cabb9d7288794f219b3afdf837b5c995a8300000000',
  },
  'hmac-sha512': {
    request:
      '8af40120000100000000000103777777076578616d706c65047465737400000100010a726f737465722d6b65790000fa00ff00000000005d0b686d61632d7368613531320000006b049454012c0040e548e3a446f66a8b6617cd0f68cd02f81063d60002ccac055e981b4278fd39d91cdf5a731b22913d53eceb8218efbe633ea83085ee3c0e3c858ff35c5f3b3bf88af400000000',
    response:
      '8af48503000100000001000103777777076578616d706c6504746573740000010001c010000600010000012c0027036e7331c0100a686f73746d6173746572c0100000000100000e100000025800093a800000012c0a726f737465722d6b65790000fa00ff00000000005d0b686d61632d7368613531320000006b049454012c0040a57654b05a12c193547d3bed2ca263d2b7ea86200881bc6e482aedfb2384e7ab0cf5200c3ed5f5092df4ad1a029df12a3f4b11a674964d6999aa114633f36aa58af400000000',
  },
} as const

function keyFor(algorithm: 'hmac-sha256' | 'hmac-sha512', secret = SECRET): TsigKey {
  return {name: 'roster-key', algorithm, secret}
}

function tamper(buf: Buffer, offset: number): Buffer {
  const out = Buffer.from(buf)
  out[offset] = (out[offset] ?? 0) ^ 0x01
  return out
}

function expectTsigError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof TsigError && error.code === code)
}

function query(id: number): Buffer {
  const w = new WireWriter()
  writeHeader(w, {id, flags: flagsFor(OPCODE.QUERY), qdcount: 1, ancount: 0, nscount: 0, arcount: 0})
  w.name('example.test').u16(TYPE.AXFR).u16(CLASS.IN)
  return w.finish()
}

/** A response message with one TXT answer carrying `text`. */
function answer(id: number, text: string): Buffer {
  const w = new WireWriter()
  writeHeader(w, {id, flags: flagsFor(OPCODE.QUERY, 0, true), qdcount: 0, ancount: 1, nscount: 0, arcount: 0})
  const data = Buffer.from(text)
  w.name('t.example.test')
    .u16(TYPE.TXT)
    .u16(CLASS.IN)
    .u32(60)
    .u16(data.length + 1)
    .u8(data.length)
    .bytes(data)
  return w.finish()
}

describe('TSIG against BIND known answers', () => {
  for (const algorithm of ['hmac-sha256', 'hmac-sha512'] as const) {
    const request = Buffer.from(BIND[algorithm].request, 'hex')
    const response = Buffer.from(BIND[algorithm].response, 'hex')

    it(`${algorithm}: signing dig's query again yields dig's bytes and MAC`, () => {
      const parsed = parseMessage(request)
      const tsig = readTsig(parsed)
      assert.ok(tsig)
      assert.equal(tsig.keyName, 'roster-key')
      assert.equal(tsig.algorithmName, algorithm)
      assert.equal(tsig.timeSigned, TIME_SIGNED)
      const {message, mac} = signMessage(messageWithoutTsig(request, tsig), keyFor(algorithm), {
        timeSigned: tsig.timeSigned,
        fudge: tsig.fudge,
      })
      assert.equal(mac.toString('hex'), tsig.mac.toString('hex'))
      assert.equal(message.toString('hex'), request.toString('hex'))
    })

    it(`${algorithm}: verifies dig's query, and rejects it tampered, with another secret, or out of time`, () => {
      const key = keyFor(algorithm)
      assert.equal(verifyRequest(parseMessage(request), key, TIME_SIGNED + 10).originalId, request.readUInt16BE(0))
      expectTsigError(() => verifyRequest(parseMessage(tamper(request, 20)), key, TIME_SIGNED), 'BADSIG')
      expectTsigError(() => verifyRequest(parseMessage(request), keyFor(algorithm, Buffer.from('another secret')), TIME_SIGNED), 'BADSIG')
      expectTsigError(() => verifyRequest(parseMessage(request), key, TIME_SIGNED + 301), 'BADTIME')
      expectTsigError(() => verifyRequest(parseMessage(request), {...key, name: 'other-key'}, TIME_SIGNED), 'BADKEY')
    })

    it(`${algorithm}: verifies named's response with the request MAC`, () => {
      const requestMac = readTsig(parseMessage(request))?.mac ?? Buffer.alloc(0)
      const verifier = new TsigResponseVerifier(keyFor(algorithm), requestMac, {now: () => TIME_SIGNED})
      const tsig = verifier.verify(parseMessage(response))
      assert.equal(tsig?.error, 0)
      verifier.finish()
    })

    it(`${algorithm}: rejects named's response altered in one bit, or checked against another request`, () => {
      const requestMac = readTsig(parseMessage(request))?.mac ?? Buffer.alloc(0)
      // offset 60 is inside the SOA RDATA (the serial area): the message still parses
      const altered = new TsigResponseVerifier(keyFor(algorithm), requestMac, {now: () => TIME_SIGNED})
      expectTsigError(() => altered.verify(parseMessage(tamper(response, 60))), 'BADSIG')
      const otherRequest = new TsigResponseVerifier(keyFor(algorithm), tamper(requestMac, 0), {now: () => TIME_SIGNED})
      expectTsigError(() => otherRequest.verify(parseMessage(response)), 'BADSIG')
      const late = new TsigResponseVerifier(keyFor(algorithm), requestMac, {now: () => TIME_SIGNED + 3600})
      expectTsigError(() => late.verify(parseMessage(response)), 'BADTIME')
    })
  }
})

describe('TSIG multi-message responses (RFC 8945 §5.3.1)', () => {
  const key = keyFor('hmac-sha256')
  const now = 1_700_000_000

  /** A server-side stream: first signed with the request MAC, then `pattern` ('s' signed, 'u' unsigned). */
  function stream(requestMac: Buffer, pattern: string): Buffer[] {
    const out: Buffer[] = []
    let prior = requestMac
    let pending: Buffer[] = []
    ;[...pattern].forEach((kind, i) => {
      const msg = answer(7, `message ${i}`)
      if (i === 0) {
        const signed = signMessage(msg, key, {timeSigned: now, requestMac: prior})
        prior = signed.mac
        out.push(signed.message)
      } else if (kind === 's') {
        const signed = signSubsequent(pending, msg, key, prior, now)
        prior = signed.mac
        pending = []
        out.push(signed.message)
      } else {
        pending.push(msg)
        out.push(msg)
      }
    })
    return out
  }

  const requestMac = signMessage(query(7), key, {timeSigned: now}).mac

  it('accepts a stream where every message, or only some, are signed', () => {
    for (const pattern of ['ssss', 'suus', 'susuuus']) {
      const verifier = new TsigResponseVerifier(key, requestMac, {now: () => now})
      for (const m of stream(requestMac, pattern)) verifier.verify(parseMessage(m))
      verifier.finish()
    }
  })

  it('rejects an unsigned message altered before the signed one that covers it', () => {
    const messages = stream(requestMac, 'sus')
    messages[1] = tamper(messages[1] ?? Buffer.alloc(0), 40)
    const verifier = new TsigResponseVerifier(key, requestMac, {now: () => now})
    verifier.verify(parseMessage(messages[0] ?? Buffer.alloc(0)))
    verifier.verify(parseMessage(messages[1]))
    expectTsigError(() => verifier.verify(parseMessage(messages[2] ?? Buffer.alloc(0))), 'BADSIG')
  })

  it('rejects a stream with messages reordered', () => {
    const [a, , c] = stream(requestMac, 'sss')
    const verifier = new TsigResponseVerifier(key, requestMac, {now: () => now})
    verifier.verify(parseMessage(a ?? Buffer.alloc(0)))
    expectTsigError(() => verifier.verify(parseMessage(c ?? Buffer.alloc(0))), 'BADSIG')
  })

  it('rejects a stream whose first or last message is unsigned', () => {
    const unsignedFirst = new TsigResponseVerifier(key, requestMac, {now: () => now})
    expectTsigError(() => unsignedFirst.verify(parseMessage(answer(7, 'x'))), 'UNSIGNED')
    const verifier = new TsigResponseVerifier(key, requestMac, {now: () => now})
    for (const m of stream(requestMac, 'ssu')) verifier.verify(parseMessage(m))
    expectTsigError(() => verifier.finish(), 'UNSIGNED')
  })
})

describe('TSIG details', () => {
  it('reports the TSIG error a server answered with, naming it', () => {
    const key = keyFor('hmac-sha256')
    const response = signMessage(answer(9, 'x'), key, {error: TSIG_ERROR.BADSIG})
    const verifier = new TsigResponseVerifier(key, Buffer.alloc(32))
    assert.throws(
      () => verifier.verify(parseMessage(response.message)),
      (error: unknown) => error instanceof TsigError && error.code === 'BADSIG' && error.reportedByServer,
    )
  })

  it('places the TSIG record last and keeps the original ID', () => {
    const key = keyFor('hmac-sha512')
    const {message} = signMessage(query(0x1234), key, {timeSigned: 1})
    const parsed = parseMessage(message)
    assert.equal(parsed.additional.length, 1)
    const tsig = readTsig(parsed)
    assert.equal(tsig?.originalId, 0x1234)
    assert.equal(tsig?.mac.length, 64)
    assert.equal(tsig?.fudge, 300)
    assert.equal(messageWithoutTsig(message, tsig ?? assert.fail()).toString('hex'), query(0x1234).toString('hex'))
  })

  it('parses algorithm names as users and servers spell them', () => {
    assert.equal(parseTsigAlgorithm('HMAC-SHA256'), 'hmac-sha256')
    assert.equal(parseTsigAlgorithm('hmac-sha512.'), 'hmac-sha512')
    assert.equal(parseTsigAlgorithm('hmac-md5.sig-alg.reg.int'), 'hmac-md5')
    assert.equal(parseTsigAlgorithm('hmac-sha3'), undefined)
  })
})
