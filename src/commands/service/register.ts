import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {requireRegistryUnderSystemd} from '../../command/systemd-hook.js'
import {InvalidInputError, NotFoundError} from '../../lib/errors.js'
import {SERVICE_COLUMNS} from '../../lib/registry/columns.js'
import type {RegisterServicesResult} from '../../lib/registry/registry.js'
import {parseLabels, splitEndpointList} from '../../lib/registry/validation.js'

export default class ServiceRegister extends RosterCommand<typeof ServiceRegister> {
  static override description = `Register a service: one service per endpoint, assigned to servers by rendezvous hashing. Idempotent (the ID is derived from namespace and endpoint, so registering again updates in place).
For systemd units: with no NAME, the name, endpoints and namespace come from ROSTER_NAME, ROSTER_ENDPOINTS (comma or space separated) and ROSTER_NAMESPACE. Under systemd (INVOCATION_ID set) the registry must be configured (ROSTER_REGISTRY, registry: in a config file, or --registry), else exit 2: the default is a private file no Prometheus reads. An unreachable registry is retried with backoff until --timeout, then exits 3.
With no server registered yet, services are stored unassigned; when servers exist, a selector matching none of them exits 2.
--ttl 24h stores an expiry (shown by service list) that every registration with --ttl renews, so a systemd timer or the unit's restart that registers again keeps the service; service prune --expired removes the services past it. A service registered without --ttl never expires (and registering it again without --ttl clears an expiry).
--if-revision R registers only if the service is still at revision R (its "revision" in service list -o json; 0: only if it is not registered yet), with one endpoint: otherwise exit 6 and nothing changes (compare-and-swap for scripts).`

  static override examples = [
    '<%= config.bin %> service register node -e http://db1:9100/metrics -e http://db2:9100/metrics',
    '<%= config.bin %> service register api -n team-a -l app=api -s "env=prod" --description "API servers"',
    'ROSTER_NAME=node ROSTER_ENDPOINTS=http://$(hostname):9100/metrics <%= config.bin %> service register',
    '<%= config.bin %> service register node -e http://db1:9100/metrics --ttl 24h',
    '<%= config.bin %> service register node -e http://db1:9100/metrics --if-revision 0',
  ]

  static override args = {
    name: Args.string({description: 'Service name (default: $ROSTER_NAME).', required: false}),
  }

  static override flags = {
    endpoint: Flags.string({
      char: 'e',
      description: 'Endpoint URL (http or https); repeat for several (default: $ROSTER_ENDPOINTS).',
      multiple: true,
    }),
    namespace: Flags.string({char: 'n', description: 'Namespace (must be registered; "default" always is).', default: 'default'}),
    label: Flags.string({char: 'l', description: 'Service labels, k=v[,k=v...].', multiple: true}),
    selector: Flags.string({char: 's', description: 'Kubernetes label selector choosing the servers that may scrape it.'}),
    description: Flags.string({description: 'Free text shown in listings.'}),
    ttl: Flags.string({
      description: 'Expire the registration after this long unless registered again (30s, 90m, 24h, 7d; at most 366d).',
    }),
    'if-revision': Flags.integer({
      description: 'Only if the service is still at this revision (0: only if not registered); else exit 6, nothing changed.',
      min: 0,
    }),
    ...registryFlags,
  }

  async run(): Promise<RegisterServicesResult> {
    requireRegistryUnderSystemd(this.valueSources.get('registry'))
    const name = this.args.name ?? process.env.ROSTER_NAME
    if (name === undefined || name === '') throw InvalidInputError.forField('name', '', 'give a NAME argument or set ROSTER_NAME')
    const endpoints = this.flags.endpoint?.length ? this.flags.endpoint : splitEndpointList(process.env.ROSTER_ENDPOINTS ?? '')
    if (endpoints.length === 0) throw InvalidInputError.forField('endpoint', '', 'give at least one -e URL or set ROSTER_ENDPOINTS')
    const labels = parseLabels('label', this.flags.label)
    const registry = await this.registry()
    const result = await registry
      .registerServices(
        {
          name,
          endpoints,
          namespace: this.flags.namespace,
          labels,
          selector: this.flags.selector,
          description: this.flags.description,
          ttl: this.flags.ttl,
        },
        {expectRevision: this.flags['if-revision']},
      )
      .catch((error: unknown) => {
        // The one thing not found here is the namespace.
        if (error instanceof NotFoundError)
          throw new NotFoundError(`${error.message}; register it first (roster namespace register ${this.flags.namespace})`)
        throw error
      })
    await this.printRows(result.services, SERVICE_COLUMNS)
    return result
  }
}
