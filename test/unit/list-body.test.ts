/**
 * ListBodyReader: a Kubernetes list read as its bytes arrive gives the same items and metadata as
 * JSON.parse of the whole body, however the body is cut into chunks (strings, escapes and UTF-8
 * characters cut in two included); dropped fields become null; a Table's rows are its collection;
 * what is not a complete list is a SyntaxError.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {ListBodyReader} from '../../src/lib/cluster/list-body.js'
import type {KubeNode} from '../../src/lib/cluster/kube-types.js'
import {NODE_FIELDS_UNREAD, summarizeNode} from '../../src/lib/cluster/node-readiness.js'
import {makeNode} from '../support/kube-objects.js'

function read(
  body: string | Buffer,
  chunkSize: number,
  options: {drop?: string[]; collection?: string} = {},
): {fields: Array<[string, unknown]>; items: unknown[]} {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')
  const fields: Array<[string, unknown]> = []
  const items: unknown[] = []
  const reader = new ListBodyReader({...options, onField: (k, v) => fields.push([k, v]), onItem: (item) => items.push(item)})
  for (let i = 0; i < bytes.length; i += chunkSize) reader.write(bytes.subarray(i, i + chunkSize))
  reader.finish()
  return {fields, items}
}

const tricky = {
  metadata: {
    name: 'n-1',
    annotations: {
      quote: 'say "hi" {not: [a bracket]}',
      backslashes: 'C:\\dir\\',
      'ends-with-escaped-quote': 'x\\"',
      unicode: 'zürich — 東京 🚀',
      escapes: '\u0001\n\t\\u0041',
    },
    labels: {'kubernetes.io/hostname': 'n-1'},
  },
  spec: {taints: [{key: 'k', effect: 'NoSchedule'}]},
  status: {images: [{names: ['a', 'b'], sizeBytes: 1}], conditions: [{type: 'Ready', status: 'True'}], nodeInfo: {osImage: 'x'}},
}

const page = {
  kind: 'NodeList',
  apiVersion: 'v1',
  metadata: {resourceVersion: '42', continue: 'eyJ2Ijoi"x"', remainingItemCount: 7},
  items: [tricky, makeNode({name: 'n-2', ready: 'Unknown'}), makeNode({name: 'n-3', images: 30}), {metadata: {name: 'empty'}}],
}

describe('ListBodyReader', () => {
  it('gives what JSON.parse gives, for every chunk size from 1 byte to the whole body', () => {
    const body = JSON.stringify(page)
    for (const size of [1, 2, 3, 5, 7, 13, 64, 1000, body.length]) {
      const r = read(body, size)
      assert.deepEqual(r.items, page.items, `chunks of ${size}`)
      assert.deepEqual(r.fields, [['metadata', page.metadata]], `chunks of ${size}`)
    }
  })

  it('reads indented JSON too, and an empty or missing items list', () => {
    assert.deepEqual(read(JSON.stringify(page, null, 2), 11).items, page.items)
    assert.deepEqual(read('{"kind":"NodeList","metadata":{"resourceVersion":"1"},"items":[]}', 4).items, [])
    assert.deepEqual(read('{"kind":"NodeList","metadata":{}}', 4), {fields: [['metadata', {}]], items: []})
  })

  it('drops the fields asked for (objects and arrays), keeping the rest of the item', () => {
    const node = {...tricky, metadata: {...tricky.metadata, managedFields: [{manager: 'kubelet', fieldsV1: {'f:status': {}}}]}}
    const body = JSON.stringify({kind: 'NodeList', metadata: {}, items: [node, node]})
    for (const size of [1, 9, body.length]) {
      const r = read(body, size, {drop: ['status.images', 'metadata.managedFields', 'spec.nothing']})
      const expected = {...node, metadata: {...node.metadata, managedFields: null}, status: {...node.status, images: null}}
      assert.deepEqual(r.items, [expected, expected], `chunks of ${size}`)
    }
    // Only at that place: an "images" key elsewhere is kept.
    const other = {metadata: {name: 'x', labels: {images: 'y'}}, spec: {images: [1]}}
    assert.deepEqual(read(JSON.stringify({items: [other]}), 3, {drop: ['status.images']}).items, [other])
  })

  it("reads a Table's rows, with its column definitions before them", () => {
    const table = {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: {resourceVersion: '9'},
      columnDefinitions: [{name: 'Name', type: 'string', format: 'name', description: '', priority: 0}],
      rows: [{cells: ['n-1'], object: {kind: 'PartialObjectMetadata', metadata: {name: 'n-1'}}}],
    }
    const r = read(JSON.stringify(table), 5, {collection: 'rows'})
    assert.deepEqual(r.items, table.rows)
    assert.deepEqual(r.fields, [
      ['metadata', table.metadata],
      ['columnDefinitions', table.columnDefinitions],
    ])
  })

  it('hands over the metadata before the first item (so the next page can be asked for early)', () => {
    const order: string[] = []
    const reader = new ListBodyReader({onField: (k) => order.push(k), onItem: () => order.push('item')})
    const body = Buffer.from(JSON.stringify(page))
    const cut = body.indexOf('"items"')
    reader.write(body.subarray(0, cut))
    assert.deepEqual(order, ['metadata'])
    reader.write(body.subarray(cut))
    reader.finish()
    assert.deepEqual(order, ['metadata', 'item', 'item', 'item', 'item'])
  })

  it('refuses what is not a complete list: truncated, unbalanced, empty, not an object, broken items', () => {
    const body = JSON.stringify(page)
    for (const bad of [
      body.slice(0, -1),
      body.slice(0, body.length / 2),
      '',
      '   ',
      '[]',
      '"items"',
      '{"items":[{"a":}]}',
      '{"items":[1]}}',
    ]) {
      assert.throws(() => read(bad, 3), SyntaxError, JSON.stringify(bad.slice(0, 40)))
    }
  })

  it('NODE_FIELDS_UNREAD: a node summarized without them is the node summarized whole', () => {
    const nodes = [
      makeNode({name: 'a', ready: 'False', pressure: ['DiskPressure'], externalIP: '203.0.113.1', unschedulable: true, images: 40}),
      makeNode({name: 'b', ready: 'missing', taints: [{key: 'gpu', value: 'yes', effect: 'NoSchedule'}], roles: ['gpu', 'worker']}),
      makeNode({name: 'c', ready: 'Unknown', legacyRole: 'infra'}),
    ]
    for (const node of nodes) {
      ;(node.metadata as Record<string, unknown>).managedFields = [{manager: 'kubelet'}]
      ;(node.status as Record<string, unknown>).volumesInUse = ['kubernetes.io/csi/x']
    }
    const body = JSON.stringify({kind: 'NodeList', metadata: {}, items: nodes})
    const dropped = read(body, 100, {drop: [...NODE_FIELDS_UNREAD]}).items as KubeNode[]
    assert.equal((dropped[0]?.status as Record<string, unknown>).images, null)
    assert.deepEqual(dropped.map(summarizeNode), (nodes as unknown as KubeNode[]).map(summarizeNode))
  })
})
