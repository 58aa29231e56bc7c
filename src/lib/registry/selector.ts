/**
 * Kubernetes label selectors (k8s.io/apimachinery/pkg/labels.Parse), equality- and set-based:
 *
 *   a=b  a==b  a!=b  a in (x,y)  a notin (x)  a  !a  a>1  a<1
 *
 * Requirements are separated by commas and all must hold; whitespace around tokens is ignored;
 * the empty selector matches everything. As in Kubernetes, `a!=b` and `a notin (...)` match
 * label sets that do not have `a` at all.
 */
import {InvalidInputError} from '../errors.js'
import {labelKeyProblem, labelValueProblem} from './validation.js'

export type Operator = 'equals' | 'notEquals' | 'in' | 'notIn' | 'exists' | 'doesNotExist' | 'greaterThan' | 'lessThan'

export interface Requirement {
  key: string
  operator: Operator
  /** One value for equals/notEquals/greaterThan/lessThan, one or more for in/notIn, none otherwise. */
  values: string[]
}

export interface Selector {
  /** The selector as given (trimmed). */
  readonly text: string
  readonly requirements: readonly Requirement[]
  matches(labels: Readonly<Record<string, string>>): boolean
}

type TokenType = 'identifier' | 'in' | 'notin' | '(' | ')' | ',' | '!' | '=' | '==' | '!=' | '>' | '<' | 'end'

interface Token {
  type: TokenType
  value: string
  /** 1-based position in the selector text. */
  position: number
}

const SPECIAL = new Set(['(', ')', ',', '!', '=', '>', '<'])

function tokenize(text: string, fail: (position: number, reason: string) => never): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i] as string
    if (/\s/.test(c)) {
      i++
      continue
    }
    const position = i + 1
    if (SPECIAL.has(c)) {
      const next = text[i + 1]
      if ((c === '!' || c === '=') && next === '=') {
        tokens.push({type: c === '!' ? '!=' : '==', value: c + next, position})
        i += 2
      } else {
        tokens.push({type: c as TokenType, value: c, position})
        i++
      }
      continue
    }
    let j = i
    while (j < text.length && !SPECIAL.has(text[j] as string) && !/\s/.test(text[j] as string)) j++
    const word = text.slice(i, j)
    tokens.push({type: word === 'in' ? 'in' : word === 'notin' ? 'notin' : 'identifier', value: word, position})
    i = j
  }
  if (tokens.length > 10_000) fail(1, 'too long')
  tokens.push({type: 'end', value: '', position: text.length + 1})
  return tokens
}

function describe(token: Token): string {
  return token.type === 'end' ? 'end of selector' : `"${token.value}"`
}

/** Parses a selector; throws InvalidInputError naming the field, the selector and the position. */
export function parseSelector(text: string | undefined, field = 'selector'): Selector {
  const source = (text ?? '').trim()
  const fail = (position: number, reason: string): never => {
    throw InvalidInputError.forField(field, source, `${reason} at position ${position}`)
  }
  const tokens = tokenize(source, fail)
  let index = 0
  const peek = (): Token => tokens[index] as Token
  const next = (): Token => tokens[index++] as Token

  const checkKey = (token: Token): string => {
    if (token.type !== 'identifier' && token.type !== 'in' && token.type !== 'notin')
      fail(token.position, `expected a label name, found ${describe(token)}`)
    const problem = labelKeyProblem(token.value)
    if (problem) fail(token.position, problem)
    return token.value
  }
  const checkValue = (token: Token): string => {
    const problem = labelValueProblem(token.value)
    if (problem) fail(token.position, problem)
    return token.value
  }

  const requirements: Requirement[] = []
  if (peek().type !== 'end') {
    for (;;) {
      requirements.push(parseRequirement())
      const t = next()
      if (t.type === 'end') break
      if (t.type !== ',') fail(t.position, `expected "," or end of selector, found ${describe(t)}`)
    }
  }

  function parseRequirement(): Requirement {
    const first = next()
    if (first.type === '!') {
      const key = checkKey(next())
      const after = peek()
      if (after.type !== ',' && after.type !== 'end')
        fail(after.position, `expected "," or end of selector after "!${key}", found ${describe(after)}`)
      return {key, operator: 'doesNotExist', values: []}
    }
    const key = checkKey(first)
    const op = next()
    switch (op.type) {
      case ',':
      case 'end':
        index--
        return {key, operator: 'exists', values: []}
      case '=':
      case '==':
      case '!=': {
        const operator: Operator = op.type === '!=' ? 'notEquals' : 'equals'
        const v = peek()
        // `a=` (followed by "," or the end) compares with the empty value, as Kubernetes does.
        if (v.type === ',' || v.type === 'end') return {key, operator, values: ['']}
        if (v.type !== 'identifier' && v.type !== 'in' && v.type !== 'notin')
          fail(v.position, `expected a value after "${op.value}", found ${describe(v)}`)
        next()
        return {key, operator, values: [checkValue(v)]}
      }
      case '>':
      case '<': {
        const v = next()
        if (v.type !== 'identifier' || !/^-?\d+$/.test(v.value))
          fail(v.position, `expected an integer after "${op.value}", found ${describe(v)}`)
        return {key, operator: op.type === '>' ? 'greaterThan' : 'lessThan', values: [v.value]}
      }
      case 'in':
      case 'notin': {
        const open = next()
        if (open.type !== '(') fail(open.position, `expected "(" after "${op.value}", found ${describe(open)}`)
        const values: string[] = []
        // Kubernetes allows empty members: "a in (,b)" is {"", "b"}.
        let expectValue = true
        for (;;) {
          const t = next()
          if (t.type === ')') {
            // "(b,)" and "()" hold the empty value too.
            if (expectValue) values.push('')
            break
          }
          if (t.type === ',') {
            if (expectValue) values.push('')
            expectValue = true
            continue
          }
          if ((t.type === 'identifier' || t.type === 'in' || t.type === 'notin') && expectValue) {
            values.push(checkValue(t))
            expectValue = false
            continue
          }
          fail(t.position, t.type === 'end' ? `missing ")"` : `expected a value, "," or ")", found ${describe(t)}`)
        }
        return {key, operator: op.type === 'in' ? 'in' : 'notIn', values: [...new Set(values)].sort()}
      }
      default:
        return fail(op.position, `expected an operator (=, ==, !=, in, notin, >, <) or "," after "${key}", found ${describe(op)}`)
    }
  }

  return makeSelector(source, requirements)
}

function makeSelector(text: string, requirements: Requirement[]): Selector {
  return {
    text,
    requirements,
    matches(labels) {
      for (const r of requirements) if (!requirementMatches(r, labels)) return false
      return true
    },
  }
}

export function requirementMatches(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key)
  const value = has ? labels[r.key] : undefined
  switch (r.operator) {
    case 'exists':
      return has
    case 'doesNotExist':
      return !has
    case 'equals':
      return has && value === r.values[0]
    case 'notEquals':
      return !has || value !== r.values[0]
    case 'in':
      return has && r.values.includes(value as string)
    case 'notIn':
      return !has || !r.values.includes(value as string)
    case 'greaterThan':
    case 'lessThan': {
      if (!has || !/^-?\d+$/.test(value as string)) return false
      const a = Number(value)
      const b = Number(r.values[0])
      return r.operator === 'greaterThan' ? a > b : a < b
    }
  }
}

/** The selector that matches everything. */
export const EVERYTHING: Selector = makeSelector('', [])

/** Parses each distinct selector text once (distribution evaluates the same few selectors often). */
export class SelectorCache {
  private readonly cache = new Map<string, Selector>()
  get(text: string, field = 'selector'): Selector {
    let s = this.cache.get(text)
    if (!s) {
      s = parseSelector(text, field)
      if (this.cache.size > 10_000) this.cache.clear()
      this.cache.set(text, s)
    }
    return s
  }
}
