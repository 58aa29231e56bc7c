import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {requireRegistryUnderSystemd} from '../../command/systemd-hook.js'
import {InvalidInputError} from '../../lib/errors.js'
import type {UnregisterServicesResult} from '../../lib/registry/registry.js'
import type {RegistryClient} from '../../lib/registry/registry-client.js'
import {splitEndpointList, validateEndpoint} from '../../lib/registry/validation.js'

export default class ServiceUnregister extends RosterCommand<typeof ServiceUnregister> {
  static override description = `Unregister services by endpoint URL or service ID. Idempotent: a service that is not registered is reported, not an error (exit 0).
URLs are looked up in --namespace (default "default"); IDs in --namespace, or in every namespace when none is given. A URL not found in that namespace is reported with the namespaces that do hold it. For systemd units: with no argument, unregisters the endpoints in ROSTER_ENDPOINTS; under systemd (INVOCATION_ID set) the registry must be configured (ROSTER_REGISTRY, registry: in a config file, or --registry), else exit 2.
--if-revision R unregisters one service only if it is still at revision R (its "revision" in service list -o json): if it moved, exit 6 and nothing is removed; one that is not registered is reported as without it.`

  static override examples = [
    '<%= config.bin %> service unregister http://db1:9100/metrics',
    '<%= config.bin %> service unregister 0b8c7a8e-3f0e-5d8a-9c1b-2f4e6a7d9b10',
    'ROSTER_ENDPOINTS=http://$(hostname):9100/metrics <%= config.bin %> service unregister',
    '<%= config.bin %> service unregister http://db1:9100/metrics --if-revision 42',
  ]

  static override strict = false

  static override args = {
    service: Args.string({description: 'Endpoint URLs or service IDs (default: $ROSTER_ENDPOINTS).', required: false}),
  }

  static override flags = {
    namespace: Flags.string({char: 'n', description: 'Namespace of the services.'}),
    'if-revision': Flags.integer({
      description: 'Only if the service is still at this revision (one service); else exit 6, nothing removed.',
      min: 0,
    }),
    ...registryFlags,
  }

  async run(): Promise<UnregisterServicesResult & {registeredElsewhere?: RegisteredElsewhere[]}> {
    requireRegistryUnderSystemd(this.valueSources.get('registry'))
    const refs = this.argvParsed.length > 0 ? this.argvParsed : splitEndpointList(process.env.ROSTER_ENDPOINTS ?? '')
    if (refs.length === 0) throw InvalidInputError.forField('service', '', 'give endpoint URLs or service IDs, or set ROSTER_ENDPOINTS')
    const registry = await this.registry()
    const ifRevision = this.flags['if-revision']
    if (ifRevision !== undefined && refs.length !== 1)
      throw InvalidInputError.forField('if-revision', ifRevision, `applies to one service: give one endpoint URL or ID, not ${refs.length}`)
    const result = await registry.unregisterServices(refs, this.flags.namespace, {
      expectRevisions: ifRevision === undefined ? undefined : [ifRevision],
    })
    const elsewhere = await registeredElsewhere(registry, result.notFound, this.flags.namespace ?? 'default')
    if (!this.jsonEnabled()) {
      for (const s of result.removed) this.log(`unregistered ${s.namespace}/${s.name} ${s.endpoint} (${s.id})`)
      for (const ref of result.notFound) {
        const other = elsewhere.find((e) => e.ref === ref)
        if (!other) this.logToStderr(`not registered: ${ref}`)
        else {
          const where = other.namespaces.map((n) => JSON.stringify(n)).join(', ')
          const searched = JSON.stringify(this.flags.namespace ?? 'default')
          this.logToStderr(
            `not registered in namespace ${searched}: ${ref}; it is registered in namespace ${where}: roster service unregister ${ref} -n ${other.namespaces[0]}`,
          )
        }
      }
    }
    return elsewhere.length > 0 ? {...result, registeredElsewhere: elsewhere} : result
  }
}

interface RegisteredElsewhere {
  ref: string
  namespaces: string[]
}

/**
 * The namespaces other than `searched` that hold an endpoint URL that was not found, so that
 * "not registered" can say where it is (a URL is looked up in one namespace only).
 */
async function registeredElsewhere(registry: RegistryClient, notFound: string[], searched: string): Promise<RegisteredElsewhere[]> {
  const urls = new Map<string, string>()
  for (const ref of notFound) {
    try {
      urls.set(validateEndpoint('endpoint', ref), ref)
    } catch {
      // a service ID, looked up in every namespace already
    }
  }
  if (urls.size === 0) return []
  const pattern = `^(${[...urls.keys()].map((u) => u.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`
  const found = new Map<string, Set<string>>()
  for await (const service of registry.listServices({endpoint: pattern})) {
    const ref = urls.get(service.endpoint)
    if (ref === undefined || service.namespace === searched) continue
    found.set(ref, (found.get(ref) ?? new Set()).add(service.namespace))
  }
  return [...found].map(([ref, namespaces]) => ({ref, namespaces: [...namespaces].sort()}))
}
