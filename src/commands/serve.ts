import path from 'node:path'

import {Flags} from '@oclif/core'

import {RosterCommand, storeFlags} from '../command/base-command.js'
import {InvalidInputError} from '../lib/errors.js'
import {oidcOptionsOf, oidcServeFlags} from '../command/oidc-flags.js'
import {consoleOptionsOf, consoleServeFlags} from '../command/console-flags.js'
import {LIMITS} from '../lib/server/limits.js'
import {SCHEMA_CODE_FILE} from '../lib/server/schema-compilers.js'

/** One flag per limit of serve's limits table, named as its setting. */
const limitFlags = Object.fromEntries(
  LIMITS.map((limit) => [limit.setting, Flags.string({description: limit.description, default: limit.default, helpGroup: 'LIMITS'})]),
)

export default class Serve extends RosterCommand<typeof Serve> {
  static override description = `Serve the registry (SQLite or etcd) over HTTP/JSON: the API under /v1/ (OpenAPI at /v1/openapi.json), Prometheus http_sd at /v1/sd/SERVER[/NAMESPACE], /metrics, /healthz and /readyz.
Every /v1 request needs a bearer token (roster token create); --auth none makes every caller admin and is accepted only on a loopback --listen. Off loopback, HTTPS (--tls-cert, --tls-key) is required: serve never sends tokens in clear over a network.
Every limit against misbehaving clients (timeouts, connections in total and per client address, request sizes, http_sd renders at once) has a flag below and a counter in /metrics (docs/serve.md).
Answers come from an in-memory view of the registry that follows the store (etcd's watch; on SQLite, a poll of the store revision every 100 ms): a change made anywhere is served within a second. SIGTERM stops accepting connections, finishes the requests in flight and exits 0.`

  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --registry etcd://10.0.0.5:2379 --listen 0.0.0.0:3002 --tls-cert /etc/roster/tls.crt --tls-key /etc/roster/tls.key',
    'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3002/v1/sd/prom1',
  ]

  static override flags = {
    listen: Flags.string({
      description:
        'Address to listen on: PORT or :PORT (127.0.0.1), HOST:PORT, [IPv6]:PORT; 0.0.0.0:PORT or [::]:PORT for every interface (needs TLS).',
      default: '127.0.0.1:3002',
    }),
    'tls-cert': Flags.string({description: 'PEM certificate (chain) file: serve HTTPS.'}),
    'tls-key': Flags.string({description: 'PEM private key file for --tls-cert.'}),
    auth: Flags.string({
      description: 'token: bearer machine tokens; none: every caller is admin (loopback only).',
      options: ['token', 'none'],
      default: 'token',
    }),
    ...oidcServeFlags,
    ...consoleServeFlags,
    ...storeFlags,
    ...limitFlags,
  }

  async run(): Promise<void> {
    const {isRemoteRegistry} = await import('../lib/store/open-store.js')
    if (isRemoteRegistry(this.flags.registry)) {
      throw InvalidInputError.forField(
        'registry',
        this.flags.registry,
        'serve needs a store (sqlite:PATH or etcd://HOST:PORT), not another roster serve',
      )
    }
    const oidc = oidcOptionsOf(this.flags)
    const {serve} = await import('../lib/server/serve.js')
    await serve({
      openStore: () => this.openStore(),
      listen: this.flags.listen,
      tlsCert: this.flags['tls-cert'],
      tlsKey: this.flags['tls-key'],
      auth: this.flags.auth as 'token' | 'none',
      oidc,
      version: this.config.version,
      log: (line) => process.stderr.write(`roster serve: ${line}\n`),
      console: await consoleOptionsOf(this.flags, this.config.root),
      schemaCode: path.join(this.config.root, SCHEMA_CODE_FILE),
      limits: Object.fromEntries(
        LIMITS.map((limit) => [limit.setting, (this.flags as Record<string, unknown>)[limit.setting] as string | undefined]),
      ),
    })
  }
}
