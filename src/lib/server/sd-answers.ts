/**
 * serve's http_sd answers, kept as bytes and kept current change by change, so that an unchanged
 * answer costs a lookup and a changed one costs the groups that changed.
 *
 * An answer is made of parts: the groups of one namespace's services on one server in one shape
 * (standard or blackbox); /v1/sd/SERVER/NS is one part, /v1/sd/SERVER the parts of every exported
 * namespace in order, which shares the part's bytes when only one of them has groups. A part holds
 * its services sorted as their groups are (targets.ts), in chunks of a few hundred, each chunk's
 * groups rendered as bytes, and the whole answer as one Buffer that the chunks point into. The
 * view tells every change of a service: its old record leaves the parts it was in and the new one
 * enters the parts it belongs to, which clears the text of the one chunk each touches; the next
 * request renders those chunks again and copies the chunks into a new Buffer. A relist of the
 * view forgets every part; a removed server forgets its own. A part nobody asked for in
 * IDLE_MS is forgotten too, so that answers asked for once do not hold memory for ever.
 *
 * Rendering a new part yields to the event loop between batches of chunks, so that a render of
 * a large answer does not hold up the requests that come meanwhile; changes that come meanwhile
 * clear the chunks they touch, which the render then does again.
 */
import type {Revisioned, Service} from '../registry/model.js'
import {GroupRenderer, SD_CONFIGS, compareServices, selectServices, type SdConfig} from '../sd/targets.js'
import type {RegistryView, ViewListener} from './view.js'

/** Groups per chunk when a part is made; a chunk that grows to twice this splits. */
export const CHUNK = 256
/** Chunks rendered between two turns of the event loop. */
const CHUNKS_PER_TURN = 32
/** A part or a joined answer unused this long is forgotten. */
export const IDLE_MS = 10 * 60_000

const EMPTY = Buffer.from('[]\n')
const OPEN = Buffer.from('[\n')
const COMMA = Buffer.from(',\n')
const CLOSE = Buffer.from('\n]\n')

/** One part of an answer: a namespace, and the shape of its groups. */
export interface PartKey {
  namespace: string
  config: SdConfig
}

type ServiceRecord = Revisioned<Service>

interface Chunk {
  /** Sorted as their groups are. */
  services: ServiceRecord[]
  /**
   * The groups, separated by COMMA: bytes of the part's body, or the text just rendered, which
   * bytes() writes into the next body; undefined until rendered again.
   */
  text?: Buffer | string
}

class Part {
  readonly chunks: Chunk[] = []
  /** The whole answer of this part alone; undefined while a chunk changed. */
  body?: Buffer
  usedAt = Date.now()

  constructor(
    readonly server: string,
    readonly namespace: string,
    readonly config: SdConfig,
    services: ServiceRecord[],
  ) {
    for (let i = 0; i < services.length; i += CHUNK) this.chunks.push({services: services.slice(i, i + CHUNK)})
  }

  /** Renders up to `max` chunks that lack their text; whether any is left. */
  /** Renders at most `budget.chunks` chunks (taking them off it); whether chunks are left to render. */
  renderSome(renderer: GroupRenderer, budget: {chunks: number}, counts: {groupsRendered: number}): boolean {
    for (const chunk of this.chunks) {
      if (chunk.text) continue
      if (budget.chunks === 0) return true
      budget.chunks--
      counts.groupsRendered += chunk.services.length
      chunk.text = chunk.services.map((s) => renderer.text(s, this.server, this.config)).join(',\n')
    }
    return false
  }

  /**
   * The answer, once every chunk is rendered: one Buffer of the kept chunks' bytes and the new
   * chunks' text, written in place, which the chunks then point into. Nothing else is allocated
   * outside the V8 heap: a change costs one body, not a Buffer for each chunk and a copy of them.
   */
  bytes(): Buffer {
    if (this.body) return this.body
    if (this.chunks.length === 0) return (this.body = EMPTY)
    const lengths = this.chunks.map((chunk) => (typeof chunk.text === 'string' ? Buffer.byteLength(chunk.text) : chunk.text!.length))
    let size = OPEN.length + CLOSE.length + COMMA.length * (this.chunks.length - 1)
    for (const length of lengths) size += length
    const body = Buffer.allocUnsafeSlow(size)
    let offset = OPEN.copy(body, 0)
    this.chunks.forEach((chunk, i) => {
      if (i > 0) offset += COMMA.copy(body, offset)
      const text = chunk.text!
      const end = offset + lengths[i]!
      if (typeof text === 'string') body.write(text, offset, 'utf8')
      else text.copy(body, offset)
      chunk.text = body.subarray(offset, end)
      offset = end
    })
    CLOSE.copy(body, offset)
    return (this.body = body)
  }

  insert(service: ServiceRecord): void {
    this.body = undefined
    if (this.chunks.length === 0) {
      this.chunks.push({services: [service]})
      return
    }
    const i = this.chunkOf(service)
    const chunk = this.chunks[i]!
    chunk.services.splice(lowerBound(chunk.services, service), 0, service)
    chunk.text = undefined
    if (chunk.services.length >= 2 * CHUNK) this.chunks.splice(i + 1, 0, {services: chunk.services.splice(CHUNK)})
  }

  /** Whether `service` (this very record) was there. */
  remove(service: ServiceRecord): boolean {
    if (this.chunks.length === 0) return false
    const i = this.chunkOf(service)
    const chunk = this.chunks[i]!
    const at = lowerBound(chunk.services, service)
    if (chunk.services[at] !== service) return false
    chunk.services.splice(at, 1)
    chunk.text = undefined
    if (chunk.services.length === 0) this.chunks.splice(i, 1)
    this.body = undefined
    return true
  }

  /** The chunk `service` belongs in: the last whose first group does not sort after it. */
  private chunkOf(service: ServiceRecord): number {
    let lo = 0
    let hi = this.chunks.length
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1
      if (compareServices(this.chunks[mid]!.services[0]!, service) <= 0) lo = mid
      else hi = mid
    }
    return lo
  }
}

function lowerBound(services: ServiceRecord[], service: ServiceRecord): number {
  let lo = 0
  let hi = services.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareServices(services[mid]!, service) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** An answer of several parts, and the part answers it was joined from. */
interface Joined {
  from: Buffer[]
  body: Buffer
  usedAt: number
}

export class SdAnswers implements ViewListener {
  private readonly parts = new Map<string, Part>()
  private readonly joined = new Map<string, Joined>()
  private readonly renderer = new GroupRenderer()
  private readonly stopListening: () => void
  /** Groups rendered since the start: what the answers cost, as a change touches only its chunks. */
  readonly counts = {groupsRendered: 0}

  constructor(private readonly view: RegistryView) {
    this.stopListening = view.listen(this)
  }

  /** The answer of `parts` of `server` if it is kept as it stands; undefined when something must be rendered first. */
  kept(server: string, parts: readonly PartKey[]): Buffer | undefined {
    const now = Date.now()
    const bodies: Buffer[] = []
    for (const key of parts) {
      const part = this.parts.get(partKey(server, key))
      if (!part?.body) return undefined
      part.usedAt = now
      bodies.push(part.body)
    }
    if (bodies.length <= 1) return bodies[0] ?? EMPTY
    const joined = this.joined.get(answerKey(server, parts))
    if (!joined || joined.from.some((body, i) => body !== bodies[i])) return undefined
    joined.usedAt = now
    return joined.body
  }

  /** The answer of `parts` of `server`, rendering what is not kept; it yields to the event loop between batches of chunks. */
  async render(server: string, parts: readonly PartKey[]): Promise<Buffer> {
    for (;;) {
      const made = parts.map((key) => this.part(server, key))
      // One budget for the turn, whatever the number of parts (namespaces) the answer joins.
      const budget = {chunks: CHUNKS_PER_TURN}
      let more = false
      for (const part of made) if (part.renderSome(this.renderer, budget, this.counts)) more = true
      // Without a turn of the event loop since the last chunk, no change came in between.
      if (!more)
        return this.join(
          server,
          parts,
          made.map((part) => part.bytes()),
        )
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** Forgets the parts and joined answers nobody asked for since `before` (epoch ms). */
  forgetUnused(before: number): void {
    for (const [key, part] of this.parts) if (part.usedAt < before) this.parts.delete(key)
    for (const [key, joined] of this.joined) if (joined.usedAt < before) this.joined.delete(key)
  }

  close(): void {
    this.stopListening()
    this.replaced()
  }

  service(before: ServiceRecord | undefined, after: ServiceRecord | undefined): void {
    if (this.parts.size === 0) return
    if (before) {
      for (const server of before.servers) {
        for (const config of SD_CONFIGS) {
          const key = partKey(server, {namespace: before.namespace, config})
          // A part that does not hold what the view held is made again when asked.
          if (this.parts.get(key)?.remove(before) === false) this.parts.delete(key)
        }
      }
    }
    if (after) {
      for (const server of after.servers)
        for (const config of SD_CONFIGS) this.parts.get(partKey(server, {namespace: after.namespace, config}))?.insert(after)
    }
  }

  serverRemoved(name: string): void {
    const prefix = `${name}\u0000`
    for (const key of this.parts.keys()) if (key.startsWith(prefix)) this.parts.delete(key)
    for (const key of this.joined.keys()) if (key.startsWith(prefix)) this.joined.delete(key)
  }

  replaced(): void {
    this.parts.clear()
    this.joined.clear()
  }

  private part(server: string, key: PartKey): Part {
    const k = partKey(server, key)
    let part = this.parts.get(k)
    if (!part) {
      part = new Part(
        server,
        key.namespace,
        key.config,
        selectServices(this.view.servicesIn(key.namespace), {server, namespace: key.namespace}),
      )
      this.parts.set(k, part)
    }
    part.usedAt = Date.now()
    return part
  }

  /** One answer of the parts' answers: their groups in order, in one list. */
  private join(server: string, parts: readonly PartKey[], bodies: Buffer[]): Buffer {
    if (bodies.length <= 1) return bodies[0] ?? EMPTY
    const withGroups = bodies.filter((body) => body.length > EMPTY.length)
    let body: Buffer
    if (withGroups.length === 0) body = EMPTY
    else if (withGroups.length === 1) body = withGroups[0]!
    else {
      const pieces: Buffer[] = [OPEN]
      for (const b of withGroups) pieces.push(b.subarray(OPEN.length, b.length - CLOSE.length), COMMA)
      pieces[pieces.length - 1] = CLOSE
      body = Buffer.concat(pieces)
    }
    this.joined.set(answerKey(server, parts), {from: bodies, body, usedAt: Date.now()})
    return body
  }
}

function partKey(server: string, key: PartKey): string {
  return `${server}\u0000${key.namespace}\u0000${key.config}`
}

function answerKey(server: string, parts: readonly PartKey[]): string {
  return `${server}\u0000${parts.map((p) => `${p.namespace}\u0000${p.config}`).join('\u0000')}`
}
