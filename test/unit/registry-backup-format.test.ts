/**
 * The roster-backup format on its own: each line's checksum, a reader that gets the same records
 * however the bytes are cut into chunks, and the checks of the header and the records that a
 * hostile file meets (the whole-file cases run the CLI: test/integration/registry-backup.test.ts).
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {crc32} from 'node:zlib'

import {InvalidInputError} from '../../src/lib/errors.js'
import {encodeLine, lineChecksumProblem} from '../../src/lib/registry/backup/format.js'
import {BLOCK_RECORDS, BackupParser, MAX_LINE_BYTES, type BackupRecord, verifyBackup} from '../../src/lib/registry/backup/read-backup.js'
import {backupChunks, backupHeader} from '../../src/lib/registry/backup/write-backup.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {fillRegistry} from '../support/backup-fixtures.js'

async function backupOf(services: number): Promise<string> {
  const store = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
  try {
    await fillRegistry(store, services)
    const snapshot = await store.snapshot()
    const header = await backupHeader(snapshot, store.description, {includeSecrets: true, rosterVersion: 'test'})
    let text = ''
    for await (const chunk of backupChunks(snapshot, header)) text += chunk
    await snapshot.close()
    return text
  } finally {
    await store.close()
  }
}

function parse(chunks: Buffer[]): {records: BackupRecord[]; parser: BackupParser} {
  const parser = new BackupParser('test.jsonl')
  const records = chunks.flatMap((chunk) => parser.push(chunk))
  parser.end()
  return {records, parser}
}

describe('roster-backup lines', () => {
  it('end with the CRC-32 of the bytes before it; any changed byte is found', () => {
    const line = encodeLine({kind: 'settings', object: {replicas: 2}}).trimEnd()
    assert.match(line, /^\{"kind":"settings","object":\{"replicas":2\},"crc":"[0-9a-f]{8}"\}$/)
    assert.equal(lineChecksumProblem(Buffer.from(line)), undefined)
    for (let i = 0; i < line.length; i++) {
      const bytes = Buffer.from(line)
      bytes[i] = bytes[i]! ^ 0x20
      assert.ok(lineChecksumProblem(bytes), `a change at byte ${i} is found`)
    }
    assert.match(lineChecksumProblem(Buffer.from('{"kind":"settings"}'))!, /does not end with its checksum/)
  })

  it('non-ASCII text is checked as its UTF-8 bytes', () => {
    const line = encodeLine({kind: 'x', object: {description: 'café ☕'}}).trimEnd()
    assert.equal(lineChecksumProblem(Buffer.from(line, 'utf8')), undefined)
  })
})

describe('BackupParser', () => {
  it('reads the same records whatever the chunks: one byte, odd sizes, the whole file', async () => {
    const text = await backupOf(40)
    const bytes = Buffer.from(text)
    const whole = parse([bytes])
    assert.equal(whole.records.length, whole.parser.trailer!.records)
    for (const size of [1, 7, 100, 4096]) {
      const chunks: Buffer[] = []
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
      assert.deepEqual(
        parse(chunks).records.map((r) => [r.line, r.key, r.value]),
        whole.records.map((r) => [r.line, r.key, r.value]),
        `chunks of ${size}`,
      )
    }
    const {header, trailer} = await verifyBackup([text], 'test.jsonl')
    assert.equal(header.counts.service, 40)
    assert.equal(trailer.records, whole.records.length)
  })

  it('a later pass trusts only the bytes the first pass checked: a block that changed in between is refused', async () => {
    const text = await backupOf(2500)
    const first = new BackupParser('test.jsonl')
    for (const record of first.push(Buffer.from(text))) void record
    first.end()
    assert.equal(first.blocks.length, Math.ceil(2511 / BLOCK_RECORDS))
    // The same bytes: every record, a block at a time.
    const again = new BackupParser('test.jsonl', {trusted: first.blocks})
    const records = again.push(Buffer.from(text))
    again.end()
    assert.equal(records.length, 2511)
    // A service changed (its line still well-formed, with a right checksum): refused at the end of its block.
    const lines = text.trimEnd().split('\n')
    const value = JSON.parse(lines[2000]!) as {kind: string; object: Record<string, unknown>}
    value.object.description = 'changed in between'
    lines[2000] = encodeLine({kind: value.kind, object: value.object}).trimEnd()
    const changed = new BackupParser('test.jsonl', {trusted: first.blocks})
    assert.throws(
      () => changed.push(Buffer.from(lines.join('\n') + '\n')),
      /line 2049: the file changed since it was first read and checked/,
    )
  })

  it('refuses Windows line ends, a line longer than the limit, and anything after the trailer', async () => {
    const text = await backupOf(3)
    assert.throws(() => parse([Buffer.from(text.replace(/\n/g, '\r\n'))]), /line 1: its checksum|line 1: .*checksum/)
    assert.throws(() => parse([Buffer.from(text + encodeLine({kind: 'settings', object: {replicas: 1}}))]), /more follows the trailer/)
    assert.throws(() => parse([Buffer.from(text + 'x')]), /more follows the trailer/)
    assert.throws(() => parse([Buffer.alloc(MAX_LINE_BYTES + 10, 0x41)]), /line 1: longer than/)
  })

  it('refuses a byte that is not UTF-8 with its offset, even in a line whose checksum holds', async () => {
    const text = await backupOf(5)
    const at = text.indexOf('service number 0')
    const lineStart = text.lastIndexOf('\n', at) + 1
    const lineEnd = text.indexOf('\n', at)
    const line = Buffer.from(text.slice(lineStart, lineEnd))
    // Lone continuation byte in place of the "u" of "number"; the checksum recomputed over the bytes.
    line[at - lineStart + 'service n'.length] = 0x80
    const body = line.subarray(0, line.lastIndexOf(',"crc":"'))
    const crc = crc32(body).toString(16).padStart(8, '0')
    const resealed = Buffer.concat([body, Buffer.from(`,"crc":"${crc}"}`)])
    assert.equal(lineChecksumProblem(resealed), undefined)
    const bytes = Buffer.concat([Buffer.from(text.slice(0, lineStart)), resealed, Buffer.from(text.slice(lineEnd))])
    const lineNumber = text.slice(0, lineStart).split('\n').length
    const offset = Buffer.byteLength(text.slice(0, at)) + 'service n'.length
    assert.throws(() => parse([bytes]), new RegExp(`test\\.jsonl line ${lineNumber}: invalid UTF-8 at byte ${offset} of the file$`))
    // However the bytes are cut.
    assert.throws(() => parse([bytes.subarray(0, offset), bytes.subarray(offset)]), /invalid UTF-8 at byte/)
  })

  it('refuses a header that is not roster-backup, and a record of an unknown kind, each naming its line', async () => {
    const lines = (await backupOf(3)).trimEnd().split('\n')
    const reseal = (edit: (value: Record<string, unknown>) => void, index: number): Buffer => {
      const copy = [...lines]
      const value = JSON.parse(copy[index]!) as Record<string, unknown>
      delete value.crc
      edit(value)
      copy[index] = encodeLine(value).trimEnd()
      return Buffer.from(copy.join('\n') + '\n')
    }
    const problem = (bytes: Buffer): string => {
      try {
        parse([bytes])
      } catch (error) {
        assert.ok(error instanceof InvalidInputError)
        assert.equal(error.field, 'file')
        return error.message
      }
      assert.fail('refused')
    }
    assert.match(problem(Buffer.from('{"hello":1}\n')), /^test\.jsonl line 1: not a roster backup/)
    assert.match(problem(Buffer.from('not json\n')), /^test\.jsonl line 1: not a roster backup/)
    assert.match(problem(reseal((v) => (v.kind = 'user'), 2)), /^test\.jsonl line 3: unknown kind of record "user"/)
    assert.match(problem(reseal((v) => (v.secrets = false), 0)), /line 1: the header counts a signing key/)
    assert.match(
      problem(
        reseal(
          (v) => ((v.object as Record<string, unknown>).servers = ['nowhere']),
          lines.findIndex((l) => l.includes('"kind":"service"')),
        ),
      ),
      /service record: servers "nowhere": is not among the servers before it/,
    )
  })
})
