/**
 * metrics-proxy's full garbage collection on demand (src/lib/metrics-proxy/proxy.ts): the peak
 * memory of a scrape depends on it, so a runtime that stops offering it fails here rather than
 * quietly tripling the peak.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {fullCollection} from '../../src/lib/metrics-proxy/proxy.js'

describe('metrics-proxy full collection', () => {
  it('is offered by this runtime and frees buffers nothing refers to', async () => {
    const collect = fullCollection()
    assert.equal(typeof collect, 'function')
    let held: Buffer[] | undefined = Array.from({length: 64}, () => Buffer.alloc(1024 * 1024, 1))
    collect!()
    const before = process.memoryUsage().arrayBuffers
    assert.ok(held.length === 64 && before >= 64 * 1024 * 1024)
    held = undefined
    collect!()
    // V8 frees the buffers' memory on a background thread once the collection has found them.
    let after = process.memoryUsage().arrayBuffers
    for (let i = 0; i < 50 && before - after < 60 * 1024 * 1024; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      after = process.memoryUsage().arrayBuffers
    }
    assert.ok(before - after >= 60 * 1024 * 1024, `freed ${((before - after) / 1048576).toFixed(1)} MiB`)
  })
})
