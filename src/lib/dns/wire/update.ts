/**
 * RFC 2136 UPDATE messages and the AXFR query.
 *
 * UPDATE: header with opcode 5; the zone section holds one question (zone, SOA, IN); no
 * prerequisites; the update section holds, in order:
 *   - add an RR:         NAME TYPE class IN   TTL    RDATA
 *   - delete one RR:     NAME TYPE class NONE TTL 0  RDATA
 *   - delete an RRset:   NAME TYPE class ANY  TTL 0  RDLENGTH 0
 * The server applies one message atomically, in the order of its records.
 */
import {CLASS, HEADER_LENGTH, OPCODE, TYPE, WireWriter, flagsFor, nameWireLength, writeHeader} from './message.js'
import {rdataLengthBound, writeRdata} from './rdata.js'

export type UpdateOperation =
  | {op: 'add'; name: string; type: number; ttl: number; target: string}
  /** `rdata`, when given, is the record's RDATA exactly as the server sent it (an exact match). */
  | {op: 'deleteRecord'; name: string; type: number; target: string; rdata?: Buffer}
  | {op: 'deleteRRset'; name: string; type: number}

/** Octets the operation takes in a message, with names uncompressed: an upper bound for batching. */
export function operationLengthBound(op: UpdateOperation): number {
  const fixed = nameWireLength(op.name) + 10
  if (op.op === 'deleteRRset') return fixed
  if (op.op === 'deleteRecord' && op.rdata) return fixed + op.rdata.length
  return fixed + rdataLengthBound(op.type, op.target)
}

function writeOperation(w: WireWriter, op: UpdateOperation): void {
  w.name(op.name)
  w.u16(op.type)
  if (op.op === 'deleteRRset') {
    w.u16(CLASS.ANY).u32(0).u16(0)
    return
  }
  w.u16(op.op === 'add' ? CLASS.IN : CLASS.NONE).u32(op.op === 'add' ? op.ttl : 0)
  const rdlengthAt = w.length
  w.u16(0)
  const start = w.length
  if (op.op === 'deleteRecord' && op.rdata) w.bytes(op.rdata)
  else writeRdata(w, op.type, op.target)
  w.patchU16(rdlengthAt, w.length - start)
}

/** One unsigned UPDATE message for `zone` carrying `operations` in order. */
export function buildUpdateMessage(id: number, zone: string, operations: UpdateOperation[]): Buffer {
  const w = new WireWriter(HEADER_LENGTH + 64 + operations.length * 48)
  writeHeader(w, {id, flags: flagsFor(OPCODE.UPDATE), qdcount: 1, ancount: 0, nscount: operations.length, arcount: 0})
  w.name(zone).u16(TYPE.SOA).u16(CLASS.IN)
  for (const op of operations) writeOperation(w, op)
  return w.finish()
}

/** The AXFR query for `zone` (RFC 5936). */
export function buildAxfrQuery(id: number, zone: string): Buffer {
  const w = new WireWriter(HEADER_LENGTH + 64)
  writeHeader(w, {id, flags: flagsFor(OPCODE.QUERY), qdcount: 1, ancount: 0, nscount: 0, arcount: 0})
  w.name(zone).u16(TYPE.AXFR).u16(CLASS.IN)
  return w.finish()
}

export interface BatchLimits {
  /** Upper bound of the update section in octets (names counted uncompressed). */
  maxBytes: number
  /** Upper bound of records per message. */
  maxRecords: number
}

/**
 * Packs groups of operations into messages: a group (the delete and add of one record set
 * update) never straddles two messages, so each record set changes atomically. A group larger
 * than the limits travels alone.
 */
export function packUpdateBatches<T extends {operations: UpdateOperation[]}>(groups: T[], limits: BatchLimits): T[][] {
  const batches: T[][] = []
  let current: T[] = []
  let bytes = 0
  let records = 0
  for (const group of groups) {
    const groupBytes = group.operations.reduce((n, op) => n + operationLengthBound(op), 0)
    const groupRecords = group.operations.length
    if (current.length > 0 && (bytes + groupBytes > limits.maxBytes || records + groupRecords > limits.maxRecords)) {
      batches.push(current)
      current = []
      bytes = 0
      records = 0
    }
    current.push(group)
    bytes += groupBytes
    records += groupRecords
  }
  if (current.length > 0) batches.push(current)
  return batches
}
