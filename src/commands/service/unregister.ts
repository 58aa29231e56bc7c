import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {InvalidInputError} from '../../lib/errors.js'
import type {UnregisterServicesResult} from '../../lib/registry/registry.js'
import {splitEndpointList} from '../../lib/registry/validation.js'

export default class ServiceUnregister extends RosterCommand<typeof ServiceUnregister> {
  static override description = `Unregister services by endpoint URL or service ID. Idempotent: a service that is not registered is reported, not an error (exit 0).
URLs are looked up in --namespace (default "default"); IDs in --namespace, or in every namespace when none is given. For systemd units: with no argument, unregisters the endpoints in ROSTER_ENDPOINTS.`

  static override examples = [
    '<%= config.bin %> service unregister http://db1:9100/metrics',
    '<%= config.bin %> service unregister 0b8c7a8e-3f0e-5d8a-9c1b-2f4e6a7d9b10',
    'ROSTER_ENDPOINTS=http://$(hostname):9100/metrics <%= config.bin %> service unregister',
  ]

  static override strict = false

  static override args = {
    service: Args.string({description: 'Endpoint URLs or service IDs (default: $ROSTER_ENDPOINTS).', required: false}),
  }

  static override flags = {
    namespace: Flags.string({char: 'n', description: 'Namespace of the services.'}),
    ...registryFlags,
  }

  async run(): Promise<UnregisterServicesResult> {
    const refs = this.argvParsed.length > 0 ? this.argvParsed : splitEndpointList(process.env.ROSTER_ENDPOINTS ?? '')
    if (refs.length === 0) throw InvalidInputError.forField('service', '', 'give endpoint URLs or service IDs, or set ROSTER_ENDPOINTS')
    const registry = await this.registry()
    const result = await registry.unregisterServices(refs, this.flags.namespace)
    if (!this.jsonEnabled()) {
      for (const s of result.removed) this.log(`unregistered ${s.namespace}/${s.name} ${s.endpoint} (${s.id})`)
      for (const ref of result.notFound) this.logToStderr(`not registered: ${ref}`)
    }
    return result
  }
}
