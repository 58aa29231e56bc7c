/**
 * The JSON schemas of the HTTP API: fastify validates requests with them (Ajv, unknown fields
 * refused) and @fastify/swagger turns the same objects into /v1/openapi.json, so the document
 * and the validation cannot disagree. The registry's own validation (names, labels, endpoint
 * URLs, selectors) runs after them, with the same messages as the CLI.
 *
 * The TypeScript types of requests and answers are read from these same objects (json-schema-to-ts's
 * FromSchema, at compile time only: nothing of it runs): the server's handlers get them through
 * fastify's type provider (ApiTypeProvider), and the HTTP client (remote-registry.ts) sends
 * ApiBody/ApiQuery and reads ApiReply. A schema change that one side does not follow fails
 * the build. Response objects list what they hold (`required`, no additional properties), which
 * is also what fastify's serializer sends.
 */
import type {JsonSchemaToTsProvider} from '@fastify/type-provider-json-schema-to-ts'
import type {FromSchema, JSONSchema} from 'json-schema-to-ts'

import {ACTOR_KINDS, HISTORY_ACTIONS, OBJECT_KINDS} from '../registry/history/event.js'
import {SORT_KEYS} from '../registry/services.js'

const labels = {type: 'object', additionalProperties: {type: 'string'}, description: 'Label names to values.'} as const
/** Every object read carries its store revision: the ETag of a single object, this field in bodies and lists. */
const revision = {
  type: 'integer',
  minimum: 0,
  description: 'Store revision of the object (0: not stored). A write or delete conditional on it sends If-Match: "<revision>".',
} as const
const name = {type: 'string', maxLength: 253} as const
/** How many services a register or import created, updated and left unchanged. */
const writeCounts = {created: {type: 'integer'}, updated: {type: 'integer'}, unchanged: {type: 'integer'}} as const

export const ErrorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: {
          type: 'string',
          enum: [
            'invalid_input',
            'too_large',
            'not_authenticated',
            'not_allowed',
            'not_found',
            'conflict',
            'precondition_failed',
            'unavailable',
            'failure',
          ],
        },
        message: {type: 'string'},
        field: {type: 'string'},
      },
    },
  },
} as const

export const ServerSchema = {
  $id: 'Server',
  type: 'object',
  required: ['name', 'labels', 'state', 'modified', 'revision'],
  additionalProperties: false,
  properties: {name, labels, state: {type: 'string', enum: ['joining', 'active', 'leaving']}, modified: {type: 'string'}, revision},
} as const

export const NamespaceSchema = {
  $id: 'Namespace',
  type: 'object',
  required: ['name', 'export', 'modified', 'revision'],
  additionalProperties: false,
  properties: {name, export: {type: 'string', enum: ['standard', 'blackbox', 'disabled']}, modified: {type: 'string'}, revision},
} as const

export const ServiceSchema = {
  $id: 'Service',
  type: 'object',
  required: ['id', 'name', 'namespace', 'endpoint', 'labels', 'selector', 'servers', 'description', 'modified', 'revision'],
  additionalProperties: false,
  properties: {
    id: {type: 'string'},
    name,
    namespace: name,
    endpoint: {type: 'string'},
    labels,
    selector: {type: 'string'},
    servers: {type: 'array', items: {type: 'string'}},
    description: {type: 'string'},
    modified: {type: 'string'},
    expires: {type: 'string', description: 'RFC 3339 expiry of a registration made with a TTL; absent: never expires.'},
    registeredBy: {type: 'string', description: 'Who registered or changed it last, as the history names them.'},
    revision,
  },
} as const

export const SettingsSchema = {
  $id: 'Settings',
  type: 'object',
  required: ['replicas', 'revision'],
  additionalProperties: false,
  properties: {
    replicas: {type: 'integer'},
    historyRetention: {type: 'string', description: 'How long the history keeps events.'},
    revision,
  },
} as const

export const TokenInfoSchema = {
  $id: 'TokenInfo',
  type: 'object',
  required: ['id', 'role', 'namespaces', 'issuedAt', 'expiresAt', 'issuer', 'audience'],
  additionalProperties: false,
  properties: {
    id: {type: 'string'},
    role: {type: 'string'},
    namespaces: {type: 'array', items: {type: 'string'}},
    issuedAt: {type: 'string'},
    expiresAt: {type: ['string', 'null']},
    issuer: {type: 'string'},
    audience: {type: 'string'},
    revoked: {type: 'boolean'},
    signatureValid: {type: 'boolean'},
    valid: {type: 'boolean'},
    problem: {type: 'string'},
  },
} as const

/** One event of the registry's history (registry/history/event.ts). */
export const EventSchema = {
  $id: 'Event',
  type: 'object',
  required: ['id', 'time', 'actor', 'action', 'object', 'changes'],
  additionalProperties: false,
  properties: {
    id: {type: 'string', description: '<revision>-<n>: the store revision of the write, and the place of the event in it.'},
    time: {type: 'string'},
    actor: {
      type: 'object',
      required: ['kind', 'id'],
      additionalProperties: false,
      properties: {
        kind: {type: 'string', enum: ACTOR_KINDS},
        id: {type: 'string'},
        role: {type: 'string'},
        email: {type: 'string'},
        user: {type: 'string'},
        host: {type: 'string'},
      },
    },
    action: {type: 'string', enum: HISTORY_ACTIONS},
    object: {
      type: 'object',
      required: ['kind', 'name'],
      additionalProperties: false,
      properties: {
        kind: {type: 'string', enum: OBJECT_KINDS},
        namespace: {type: 'string'},
        name: {type: 'string'},
        endpoint: {type: 'string'},
        id: {type: 'string'},
      },
    },
    changes: {
      type: 'object',
      description: 'The fields the write changed, before and after.',
      additionalProperties: {type: 'object', additionalProperties: false, properties: {before: {}, after: {}}},
    },
  },
} as const

export const TargetGroupSchema = {
  $id: 'TargetGroup',
  type: 'object',
  required: ['targets', 'labels'],
  additionalProperties: false,
  properties: {targets: {type: 'array', items: {type: 'string'}}, labels},
} as const

/** The schemas the routes name with `$ref` (registered with fastify, and components of the OpenAPI document). */
export const sharedSchemas = [
  ErrorSchema,
  ServerSchema,
  NamespaceSchema,
  ServiceSchema,
  SettingsSchema,
  TokenInfoSchema,
  EventSchema,
  TargetGroupSchema,
] as const

const ref = <Id extends (typeof sharedSchemas)[number]['$id']>(id: Id) => ({$ref: `${id}#`}) as const
const errors = {'4xx': ref('Error'), '5xx': ref('Error')} as const
const redistribution = {checked: {type: 'integer'}, moved: {type: 'integer'}, unassigned: {type: 'integer'}} as const
const redistributionFields = ['checked', 'moved', 'unassigned'] as const
/** An object answer: every property listed is sent, and nothing else. */
const answer = <P extends Record<string, JSONSchema>, R extends readonly (keyof P & string)[]>(properties: P, required: R) =>
  ({type: 'object', required, additionalProperties: false, properties}) as const
const unregisterServicesResult = answer(
  {removed: {type: 'array', items: ref('Service')}, notFound: {type: 'array', items: {type: 'string'}}},
  ['removed', 'notFound'],
)

const nameParam = {type: 'object', required: ['name'], properties: {name}, additionalProperties: false} as const
/**
 * The request headers of a route that takes a conditional write or delete (conditional.ts). A write
 * route without it answers 412 to any If-Match: it has no entity tag to match.
 */
export const ifMatchHeaders = {
  type: 'object',
  properties: {
    'if-match': {
      type: 'string',
      maxLength: 64,
      description:
        'Change the object only if its revision is still this ETag ("<revision>"; "0": only if it does not exist). Otherwise 412 and nothing changes.',
    },
  },
} as const
const noQuery = {type: 'object', additionalProperties: false, properties: {}} as const

export const routes = {
  authConfig: {
    tags: ['auth'],
    summary: 'How to sign in: the OpenID Provider this server trusts, if any. Needs no token.',
    security: [],
    response: {
      200: {
        type: 'object',
        additionalProperties: false,
        properties: {issuer: {type: 'string'}, clientId: {type: 'string'}, audience: {type: 'string'}, rolesClaim: {type: 'string'}},
      },
      ...errors,
    },
  },
  getSettings: {
    tags: ['settings'],
    summary: 'The registry settings; ETag: their revision.',
    querystring: noQuery,
    response: {200: ref('Settings'), ...errors},
  },
  putSettings: {
    tags: ['settings'],
    summary: 'Change the registry settings (admin); a change of replicas redistributes the services.',
    headers: ifMatchHeaders,
    body: {
      type: 'object',
      minProperties: 1,
      additionalProperties: false,
      properties: {
        replicas: {type: 'integer'},
        historyRetention: {type: 'string', description: 'How long the history keeps events: 30d, 12h.'},
      },
    },
    response: {200: answer({settings: ref('Settings'), ...redistribution}, ['settings', ...redistributionFields]), ...errors},
  },
  listServers: {
    tags: ['servers'],
    summary: 'Scrape servers, optionally filtered by a label selector.',
    querystring: {type: 'object', additionalProperties: false, properties: {selector: {type: 'string'}}},
    response: {200: {type: 'array', items: ref('Server')}, ...errors},
  },
  getServer: {
    tags: ['servers'],
    summary: 'One scrape server; ETag: its revision.',
    params: nameParam,
    querystring: noQuery,
    response: {200: ref('Server'), ...errors},
  },
  putServer: {
    tags: ['servers'],
    summary: 'Register a scrape server or change its labels (admin).',
    params: nameParam,
    headers: ifMatchHeaders,
    body: {type: 'object', additionalProperties: false, properties: {labels}},
    response: {200: answer({server: ref('Server'), ...redistribution}, ['server', ...redistributionFields]), ...errors},
  },
  deleteServer: {
    tags: ['servers'],
    summary: 'Unregister a scrape server (admin); its services move to the others.',
    params: nameParam,
    headers: ifMatchHeaders,
    response: {200: answer({server: {type: 'string'}, ...redistribution}, ['server', ...redistributionFields]), ...errors},
  },
  listNamespaces: {
    tags: ['namespaces'],
    summary: 'Namespaces (a scoped token sees only its own).',
    querystring: noQuery,
    response: {200: {type: 'array', items: ref('Namespace')}, ...errors},
  },
  getNamespace: {
    tags: ['namespaces'],
    summary: 'One namespace; ETag: its revision ("0" for default when not stored).',
    params: nameParam,
    querystring: noQuery,
    response: {200: ref('Namespace'), ...errors},
  },
  putNamespace: {
    tags: ['namespaces'],
    summary: 'Register a namespace or change its export configuration (admin).',
    params: nameParam,
    headers: ifMatchHeaders,
    body: {type: 'object', additionalProperties: false, properties: {export: {type: 'string', enum: ['standard', 'blackbox', 'disabled']}}},
    response: {200: ref('Namespace'), ...errors},
  },
  deleteNamespace: {
    tags: ['namespaces'],
    summary: 'Unregister a namespace (admin); with force=true, with its services.',
    params: nameParam,
    headers: ifMatchHeaders,
    querystring: {type: 'object', additionalProperties: false, properties: {force: {type: 'string', enum: ['true', 'false']}}},
    response: {200: answer({namespace: {type: 'string'}, servicesRemoved: {type: 'integer'}}, ['namespace', 'servicesRemoved']), ...errors},
  },
  listServices: {
    tags: ['services'],
    summary: 'Services matching the filters (those of `roster service list`), a page at a time.',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        namespace: {type: 'string'},
        name: {type: 'string', description: 'Regular expression (RE2 syntax) over the service name.'},
        endpoint: {type: 'string', description: 'Regular expression (RE2 syntax) over the endpoint.'},
        server: {type: 'string', description: 'Regular expression (RE2 syntax) one of its servers must match.'},
        selector: {type: 'string', description: 'Label selector over the service labels.'},
        sortBy: {type: 'string', enum: SORT_KEYS},
        limit: {type: 'string', pattern: '^[0-9]{1,6}$', description: 'Page size, 1 to 10000 (default 1000).'},
        continue: {type: 'string', maxLength: 2048, description: 'The `continue` of the previous page.'},
      },
    },
    response: {200: answer({items: {type: 'array', items: ref('Service')}, continue: {type: 'string'}}, ['items']), ...errors},
  },
  registerServices: {
    tags: ['services'],
    summary:
      'Register a service: one per endpoint (idempotent). With If-Match: one endpoint, and only if the service is still at that revision.',
    headers: ifMatchHeaders,
    body: {
      type: 'object',
      required: ['name', 'endpoints'],
      additionalProperties: false,
      properties: {
        name: {type: 'string'},
        endpoints: {type: 'array', items: {type: 'string'}, maxItems: 10000},
        namespace: {type: 'string'},
        labels,
        selector: {type: 'string'},
        description: {type: 'string'},
        ttl: {type: 'string', description: 'Expire the registration after this long (30s, 24h, 7d); each registration renews it.'},
        expiresAt: {type: 'string', description: 'RFC 3339 expiry, instead of ttl.'},
      },
    },
    response: {
      200: answer({services: {type: 'array', items: ref('Service')}, ...writeCounts}, ['services', 'created', 'updated', 'unchanged']),
      ...errors,
    },
  },
  unregisterServices: {
    tags: ['services'],
    summary:
      'Unregister services by endpoint URL or service ID (idempotent). Conditional: If-Match with one ref, or `revisions` (one per ref, at most 100): if one moved, 412 and nothing is removed.',
    headers: ifMatchHeaders,
    body: {
      type: 'object',
      required: ['refs'],
      additionalProperties: false,
      properties: {
        refs: {type: 'array', items: {type: 'string'}, minItems: 1, maxItems: 10000},
        namespace: {type: 'string'},
        action: {type: 'string', enum: ['unregister', 'expire', 'prune'], description: 'Why they go, as the history records it.'},
        revisions: {
          type: 'array',
          items: {type: 'integer', minimum: 0},
          maxItems: 10000,
          description: 'The revision each ref is expected at, in the order of refs (0: only if absent).',
        },
      },
    },
    response: {200: unregisterServicesResult, ...errors},
  },
  deleteService: {
    tags: ['services'],
    summary: 'Unregister one service by ID.',
    params: {type: 'object', required: ['id'], properties: {id: {type: 'string'}}, additionalProperties: false},
    headers: ifMatchHeaders,
    querystring: {type: 'object', additionalProperties: false, properties: {namespace: {type: 'string'}}},
    response: {200: unregisterServicesResult, ...errors},
  },
  importServices: {
    tags: ['services'],
    summary: 'Import services, all or nothing.',
    body: {
      type: 'object',
      required: ['document'],
      additionalProperties: false,
      properties: {
        document: {
          description:
            'A list of services, or {services: [...]}. An entry with `revision` (one endpoint) makes the import conditional: at most 100 services, nothing written if one moved (412).',
        },
        source: {type: 'string', maxLength: 200},
      },
    },
    response: {
      200: answer({entries: {type: 'integer'}, services: {type: 'integer'}, ...writeCounts}, [
        'entries',
        'services',
        'created',
        'updated',
        'unchanged',
      ]),
      ...errors,
    },
  },
  createToken: {
    tags: ['tokens'],
    summary: 'Issue a machine token (admin). The token is in the answer only.',
    body: {
      type: 'object',
      required: ['id', 'role', 'namespaces'],
      additionalProperties: false,
      properties: {
        id: {type: 'string'},
        role: {type: 'string', enum: ['admin', 'service', 'read']},
        namespaces: {type: 'array', items: {type: 'string'}},
        expires: {type: 'string', description: '"90d", "12h", "never"…'},
      },
    },
    response: {200: answer({token: {type: 'string'}, info: ref('TokenInfo')}, ['token', 'info']), ...errors},
  },
  listTokens: {
    tags: ['tokens'],
    summary: 'Issued tokens (admin).',
    querystring: noQuery,
    response: {200: {type: 'array', items: ref('TokenInfo')}, ...errors},
  },
  revokeToken: {
    tags: ['tokens'],
    summary: 'Revoke a token (admin); every instance refuses it within a second.',
    params: {type: 'object', required: ['id'], properties: {id: {type: 'string'}}, additionalProperties: false},
    response: {200: answer({id: {type: 'string'}, revoked: {type: 'boolean'}}, ['id', 'revoked']), ...errors},
  },
  inspectToken: {
    tags: ['tokens'],
    summary: 'What a token says and whether it is valid (admin).',
    body: {type: 'object', required: ['token'], additionalProperties: false, properties: {token: {type: 'string'}}},
    response: {200: ref('TokenInfo'), ...errors},
  },
  listEvents: {
    tags: ['history'],
    summary:
      'The registry history, oldest first, a page at a time (admin and read callers; a read token sees its namespaces only). With follow=1: newline-delimited events, from since (else from now) and then each new one.',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        since: {type: 'string', description: 'A duration back from now (1h, 7d) or an RFC 3339 time.'},
        until: {type: 'string', description: 'The same; not with follow.'},
        actor: {type: 'string', description: 'Token id, OIDC subject or e-mail, user@host, or user.'},
        namespace: {type: 'string'},
        endpoint: {type: 'string', description: 'Regular expression (RE2 syntax) over the endpoint.'},
        limit: {type: 'string', pattern: '^[0-9]{1,6}$', description: 'Page size, 1 to 10000 (default 1000).'},
        continue: {type: 'string', maxLength: 2048, description: 'The `continue` of the previous page.'},
        follow: {
          type: 'string',
          enum: ['1', 'true', '0', 'false'],
          description:
            '1 or true: instead of a page, a stream of newline-delimited events (application/x-ndjson) that does not end until the client closes it or the server stops (x-stream); at most max-follows at once, else 503.',
        },
      },
    },
    response: {200: answer({items: {type: 'array', items: ref('Event')}, continue: {type: 'string'}}, ['items']), ...errors},
    // An OpenAPI extension (copied into the operation): the query that makes the answer a stream that never ends, for clients
    // and generated tests to recognise.
    'x-stream': {parameter: 'follow', values: ['1', 'true'], contentType: 'application/x-ndjson', item: '#/components/schemas/Event'},
  },
  backup: {
    tags: ['backup'],
    summary:
      'A backup of the whole registry at one store revision (admin), streamed as roster-backup JSON lines; without the token signing key, which never leaves through the API.',
    querystring: noQuery,
    response: {
      200: {
        description: 'The roster-backup file: a header line, one line per record, a trailer line.',
        content: {'application/x-ndjson': {schema: {description: 'Streamed: the file as it is read from the store.'}}},
      },
      ...errors,
    },
  },
  sdNamespace: {
    tags: ['http_sd'],
    summary: "Prometheus http_sd: the targets of one namespace assigned to a server, in the namespace's export shape or ?config=.",
    params: {type: 'object', required: ['server', 'namespace'], properties: {server: name, namespace: name}, additionalProperties: false},
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {config: {type: 'string'}, 'export-config': {type: 'string', description: 'discovery’s name for config.'}},
    },
    response: {200: {type: 'array', items: ref('TargetGroup')}, ...errors},
  },
  getService: {
    tags: ['services'],
    summary: 'One service by ID (namespace= when the ID is in more than one namespace).',
    params: {type: 'object', required: ['id'], properties: {id: {type: 'string'}}, additionalProperties: false},
    querystring: {type: 'object', additionalProperties: false, properties: {namespace: {type: 'string'}}},
    response: {200: ref('Service'), ...errors},
  },
  serverMoves: {
    tags: ['servers'],
    summary:
      "What would move if this server left (unregistered or leaving): how many of its services each remaining server would take (the registry's rendezvous distribution over the servers that stay), how many no other server would take, and the first `limit` of them (default 100), in the caller's namespaces.",
    params: nameParam,
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {limit: {type: 'string', pattern: '^[0-9]{1,4}$', description: 'How many moves to list, 0 to 1000.'}},
    },
    response: {
      200: answer(
        {
          server: {type: 'string'},
          services: {type: 'integer'},
          unassigned: {type: 'integer', description: 'Services no other server would take (left with fewer servers, or none).'},
          destinations: {
            type: 'object',
            additionalProperties: {type: 'integer'},
            description: 'Server name to the number of services it would gain.',
          },
          moves: {
            type: 'array',
            items: answer({service: ref('Service'), to: {type: 'array', items: {type: 'string'}}}, ['service', 'to']),
          },
        },
        ['server', 'services', 'unassigned', 'destinations', 'moves'],
      ),
      ...errors,
    },
  },
  status: {
    tags: ['status'],
    summary:
      "The in-memory view serve answers from: the store revision it reflects, the seconds since it last confirmed it was current, and its counts (servers, namespaces, services, unassigned services, services per server and per namespace), in the caller's namespaces.",
    querystring: noQuery,
    response: {
      200: answer(
        {
          revision: {type: 'integer'},
          lagSeconds: {type: 'number'},
          servers: {type: 'integer'},
          namespaces: {type: 'integer'},
          services: {type: 'integer'},
          unassigned: {type: 'integer', description: 'Services assigned to no server.'},
          servicesByServer: {type: 'object', additionalProperties: {type: 'integer'}},
          servicesByNamespace: {type: 'object', additionalProperties: {type: 'integer'}},
        },
        ['revision', 'lagSeconds', 'servers', 'namespaces', 'services', 'unassigned', 'servicesByServer', 'servicesByNamespace'],
      ),
      ...errors,
    },
  },
  sdServer: {
    tags: ['http_sd'],
    summary: 'Prometheus http_sd: the targets of every exported namespace assigned to a server.',
    params: {type: 'object', required: ['server'], properties: {server: name}, additionalProperties: false},
    querystring: noQuery,
    response: {200: {type: 'array', items: ref('TargetGroup')}, ...errors},
  },
} as const

/** How FromSchema reads these schemas: a `$ref` is the shared schema of that `$id`. */
type SchemaOptions = {references: Mutable<typeof sharedSchemas>}
type Mutable<T extends readonly unknown[]> = [...T]

/** The type provider of serve's fastify instance: handlers' requests and answers typed from the route schemas. */
export type ApiTypeProvider = JsonSchemaToTsProvider<{ValidatorSchemaOptions: SchemaOptions; SerializerSchemaOptions: SchemaOptions}>

export type ApiRoute = keyof typeof routes
/** The schema of any route. */
export type RouteSchema = (typeof routes)[ApiRoute]
type Part<S, K extends string> = S extends {readonly [P in K]: infer T extends JSONSchema} ? FromSchema<T, SchemaOptions> : never
/** The validated parts of a request to the route of schema `S`. */
export interface RequestParts<S extends RouteSchema> {
  body: Part<S, 'body'>
  query: Part<S, 'querystring'>
  params: Part<S, 'params'>
}
/** What each route takes and answers: its body, its query parameters, and its answer when it succeeds (200). */
export type Api = {
  [R in ApiRoute]: {
    body: Part<(typeof routes)[R], 'body'>
    query: Part<(typeof routes)[R], 'querystring'>
    reply: Part<(typeof routes)[R]['response'], '200'>
  }
}
/** The request body of a route, as its schema validates it. */
export type ApiBody<R extends ApiRoute> = Api[R]['body']
/** The query parameters of a route. */
export type ApiQuery<R extends ApiRoute> = Api[R]['query']
/** The answer of a route when it succeeds (200). */
export type ApiReply<R extends ApiRoute> = Api[R]['reply']
