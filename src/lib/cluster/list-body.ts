/**
 * Reads a Kubernetes list response (`{"kind":…,"metadata":{…},"items":[{…},{…}]}`, or a Table's
 * `rows`) as its bytes arrive, without parsing the whole page at once:
 *   - the list's metadata is handed over as soon as it is complete (the API server writes it
 *     before the items, so the next page can be asked for while this one is still arriving);
 *   - each item is cut out of the text and parsed on its own (JSON.parse of one object), so only
 *     one raw item is alive at a time: a page of 500 nodes never sits in memory as one string and
 *     one object graph, and what is garbage dies young (cheap scavenges, a heap that stays small);
 *   - fields nobody reads (a node's status.images, every object's metadata.managedFields: most of
 *     the bytes of a real node) are dropped before parsing, their values replaced by null.
 *
 * Streaming JSON libraries tokenize every value in JavaScript: on a page of 500 nodes,
 * @streamparser/json took 2.3× and stream-json 10× the time of JSON.parse. This tracks only
 * nesting, strings and the few keys it needs (string search for the end of each string, which is
 * where most bytes are); V8's JSON.parse does the rest, and rejects what is not JSON.
 */
import {StringDecoder} from 'node:string_decoder'

export interface ListBodyHandlers {
  /** The key of the collection: "items" in a list (default), "rows" in a Table. */
  collection?: string
  /**
   * Each other top-level object or array, parsed, as soon as it is complete: the list's metadata
   * (resourceVersion, continue, remainingItemCount), a Table's columnDefinitions.
   */
  onField?: (key: string, value: unknown) => void
  /** One item of the collection, parsed, in order. */
  onItem: (item: unknown) => void
  /**
   * Item fields to leave out, as "field.child" paths below the item ("status.images",
   * "metadata.managedFields"): an object or array there is replaced by null before parsing.
   */
  drop?: readonly string[]
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const COLON = 0x3a
const COMMA = 0x2c

// Nesting depths (1 = the list object): the list's keys are read at LIST, its metadata and its
// items array open ITEMS, each item opens ITEM, and the item's fields (metadata, spec, status)
// open FIELD; a container opening at FIELD + 1 may be dropped.
const LIST = 1
const ITEMS = 2
const ITEM = 3
const FIELD = 4

export class ListBodyReader {
  private readonly decoder = new StringDecoder('utf8')
  /** Text not yet consumed: from the start of the capture in progress, or the scan position. */
  private text = ''
  /** Scan position in `text` (at the opening quote of a string the last chunk cut). */
  private pos = 0
  private depth = 0
  /** Per depth: the container is an object (its strings alternate key, value). */
  private readonly isObject: boolean[] = []
  private expectKey = false
  /** The list object closed. */
  private complete = false
  private listKey = ''
  private itemKey = ''
  private fieldKey = ''
  /** What is being captured (from captureStart in `text`): a top-level field, or an item. */
  private capture: 'field' | 'item' | undefined
  private captureKey = ''
  private captureStart = 0
  /** Dropped ranges of the item being captured, as offsets from captureStart. */
  private drops: number[] = []
  /** Depth whose closing ends a dropped value (0: not dropping). */
  private dropUntil = 0
  private readonly drop = new Map<string, Set<string>>()

  private readonly collection: string

  constructor(private readonly handlers: ListBodyHandlers) {
    this.collection = handlers.collection ?? 'items'
    for (const path of handlers.drop ?? []) {
      const [field, child] = path.split('.') as [string, string]
      const set = this.drop.get(field) ?? new Set<string>()
      set.add(child)
      this.drop.set(field, set)
    }
  }

  write(chunk: Buffer): void {
    this.scan(this.decoder.write(chunk))
  }

  /** The body ended: throws a SyntaxError unless it was one complete JSON object. */
  finish(): void {
    this.scan(this.decoder.end())
    if (!this.complete || !this.isObject[LIST]) throw new SyntaxError('not a complete list response')
  }

  private scan(more: string): void {
    if (more === '') return
    let s = this.text === '' ? more : this.text + more
    const n = s.length
    const isObject = this.isObject
    let i = this.pos
    let depth = this.depth
    let expectKey = this.expectKey
    let dropUntil = this.dropUntil
    while (i < n) {
      const c = s.charCodeAt(i)
      if (c === QUOTE) {
        // The closing quote: the next one not escaped (not after an odd run of backslashes).
        let q = s.indexOf('"', i + 1)
        while (q > 0 && s.charCodeAt(q - 1) === BACKSLASH) {
          let k = q - 2
          while (k > i && s.charCodeAt(k) === BACKSLASH) k--
          if ((q - 1 - k) % 2 === 0) break
          q = s.indexOf('"', q + 1)
        }
        // The string goes on in the next chunk: scan it again from its opening quote then.
        if (q < 0) break
        if (expectKey && (depth === LIST || depth === ITEM || depth === FIELD)) {
          const key = s.slice(i + 1, q)
          if (depth === LIST) this.listKey = key
          else if (depth === ITEM) this.itemKey = key
          else this.fieldKey = key
        }
        i = q + 1
        continue
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        depth++
        expectKey = c === OPEN_OBJECT
        isObject[depth] = expectKey
        if (dropUntil === 0) {
          if (depth === ITEMS && isObject[LIST] && this.listKey !== this.collection && !this.capture) {
            this.capture = 'field'
            this.captureKey = this.listKey
            this.captureStart = i
          } else if (depth === ITEM && expectKey && this.listKey === this.collection && !this.capture) {
            this.capture = 'item'
            this.captureStart = i
          } else if (depth === FIELD + 1 && this.capture === 'item' && isObject[FIELD] && this.drop.get(this.itemKey)?.has(this.fieldKey)) {
            dropUntil = depth
            this.drops.push(i - this.captureStart)
          }
        }
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (depth < 1) throw new SyntaxError('unbalanced brackets in a list response')
        expectKey = false
        if (dropUntil === depth) {
          dropUntil = 0
          this.drops.push(i + 1 - this.captureStart)
        } else if (dropUntil === 0 && this.capture && depth === (this.capture === 'item' ? ITEM : ITEMS)) {
          const what = this.capture
          const text = this.captured(s, i + 1)
          this.capture = undefined
          if (what === 'item') this.handlers.onItem(JSON.parse(text))
          else this.handlers.onField?.(this.captureKey, JSON.parse(text))
        }
        depth--
        if (depth === 0) this.complete = true
      } else if (c === COLON) expectKey = false
      else if (c === COMMA) expectKey = isObject[depth] === true
      i++
    }
    this.depth = depth
    this.expectKey = expectKey
    this.dropUntil = dropUntil
    // Keep what the capture in progress, or a string cut by the chunk's end, still needs.
    const keep = this.capture && this.captureStart < i ? this.captureStart : i
    if (keep > 0) {
      s = s.slice(keep)
      i -= keep
      if (this.capture) this.captureStart -= keep
    }
    this.text = s
    this.pos = i
  }

  /** The captured text up to `end`, dropped ranges replaced by null. */
  private captured(s: string, end: number): string {
    const start = this.captureStart
    if (this.drops.length === 0) return s.slice(start, end)
    let text = ''
    let from = start
    for (let d = 0; d + 1 < this.drops.length; d += 2) {
      text += `${s.slice(from, start + (this.drops[d] as number))}null`
      from = start + (this.drops[d + 1] as number)
    }
    this.drops = []
    return text + s.slice(from, end)
  }
}
