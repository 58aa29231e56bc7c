import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {authorize, mayAccessNamespace, type Caller} from '../../src/lib/auth/caller.js'
import {NotAllowedError, NotAuthenticatedError} from '../../src/lib/errors.js'

const admin: Caller = {subject: 'root-admin', role: 'admin', namespaces: ['*'], kind: 'token'}
const service: Caller = {subject: 'db1', role: 'service', namespaces: ['default', 'team-a'], kind: 'token'}
const read: Caller = {subject: 'prom1', role: 'read', namespaces: ['team-a'], kind: 'token'}
const readAll: Caller = {subject: 'prom-all', role: 'read', namespaces: ['*'], kind: 'token'}
const anonymous: Caller = {subject: '', role: 'read', namespaces: [], kind: 'anonymous'}

function refused(caller: Caller, action: 'read' | 'write' | 'admin', namespace?: string) {
  assert.throws(
    () => authorize(caller, action, namespace),
    (error: unknown) => {
      assert.ok(error instanceof NotAllowedError, String(error))
      assert.equal(error.exitCode, 4)
      assert.ok(!error.message.includes('\n'))
      return true
    },
  )
}

describe('authorize', () => {
  it('lets an admin do everything, anywhere', () => {
    for (const action of ['read', 'write', 'admin'] as const) {
      authorize(admin, action)
      authorize(admin, action, 'any-namespace')
    }
  })

  it('lets a service token read and write in its namespaces only', () => {
    authorize(service, 'read', 'default')
    authorize(service, 'write', 'team-a')
    refused(service, 'write', 'prod')
    refused(service, 'read', 'prod')
    refused(service, 'admin')
    refused(service, 'admin', 'default')
    // servers and settings (registry-wide) are not a service token's business
    refused(service, 'read')
    refused(service, 'write')
  })

  it('lets a read token read in its namespaces and registry-wide, never write', () => {
    authorize(read, 'read', 'team-a')
    authorize(read, 'read')
    refused(read, 'read', 'default')
    refused(read, 'write', 'team-a')
    refused(read, 'admin')
    authorize(readAll, 'read', 'anything')
    refused(readAll, 'write', 'anything')
  })

  it('names the caller and the namespace in a refusal', () => {
    assert.throws(() => authorize(service, 'write', 'prod'), {
      message: 'not allowed: token "db1" (role service) may not write in namespace "prod" (outside its namespaces)',
    })
  })

  it('tells a service token that it may not list servers, not that it may only use its namespaces', () => {
    assert.throws(() => authorize(service, 'read'), /not allowed: a service token may not list servers or read registry settings/)
  })

  it('refuses an anonymous caller as not authenticated', () => {
    assert.throws(() => authorize(anonymous, 'read', 'default'), NotAuthenticatedError)
    assert.equal(mayAccessNamespace(anonymous, 'default'), false)
  })

  it('filters namespaces for lists', () => {
    assert.deepEqual(
      ['default', 'team-a', 'prod'].filter((n) => mayAccessNamespace(service, n)),
      ['default', 'team-a'],
    )
    assert.equal(mayAccessNamespace(admin, 'prod'), true)
    assert.equal(mayAccessNamespace(readAll, 'prod'), true)
  })
})
