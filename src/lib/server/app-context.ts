/**
 * What every part of serve's app is given (the store, the registry, the view, the token
 * authority…), and the type of the fastify instance they register routes on.
 */
import type {FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault} from 'fastify'

import type {OidcVerifier} from '../auth/oidc-verifier.js'
import type {TokenAuthority} from '../auth/tokens.js'
import type {ServeLimits} from './limits.js'
import type {Registry} from '../registry/registry.js'
import type {Store} from '../store/store.js'
import type {ServeMetrics} from './metrics.js'
import type {SchemaCompilers} from './schema-compilers.js'
import type {ApiTypeProvider} from './schemas.js'
import type {ConsoleOptions} from './ui/options.js'
import type {RegistryView} from './view.js'

export interface AppContext {
  store: Store
  registry: Registry
  view: RegistryView
  /** Undefined when serve runs with auth `none` (every caller is admin; loopback only). */
  tokens?: TokenAuthority
  /** People's tokens from an OpenID Provider (serve's `oidc-issuer` setting). */
  oidc?: OidcVerifier
  /** Whether the server listens on loopback only: then /healthz, /readyz and /metrics need no token. */
  loopback: boolean
  metrics: ServeMetrics
  /** One line per request and per unexpected error (never a token). */
  log: (line: string) => void
  https?: {cert: Buffer; key: Buffer}
  version: string
  /** The web console under /ui/ (ui/console.ts); absent: no console. */
  console?: ConsoleOptions
  /** serve's limits (limits.ts); their defaults when left out. */
  limits?: ServeLimits
  /** fastify's schema compilers (schema-compilers.ts: code made at build time); absent: fastify's own. */
  schemaCompilers?: SchemaCompilers
}

/** serve's fastify instance: requests and answers typed from the route schemas. */
export type ServeApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ApiTypeProvider
>
