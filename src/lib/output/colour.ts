/**
 * Colours for the words that carry a state in a terminal table: server states (joining, active,
 * leaving), node readiness (Ready, NotReady, Unknown) and DNS plan actions (create, update,
 * delete). Only on a terminal: never when NO_COLOR is set (https://no-color.org), with
 * no-color, on a dumb terminal, or in JSON, YAML, CSV and tab-separated output.
 * Cells are coloured by their column's header, so commands need no colour code of their own.
 */
const GREEN = '\u001B[32m'
const YELLOW = '\u001B[33m'
const RED = '\u001B[31m'
const RESET = '\u001B[39m'

/** The columns whose values are states, and the colour of each state. */
const COLOURS: Record<string, Record<string, string>> = {
  STATE: {active: GREEN, joining: YELLOW, leaving: RED},
  STATUS: {Ready: GREEN, NotReady: RED, Unknown: YELLOW},
  ACTION: {create: GREEN, update: YELLOW, delete: RED},
}

export interface ColourContext {
  /** Whether stdout is a terminal. */
  tty: boolean
  /** The no-color setting. */
  noColor?: boolean
  env?: NodeJS.ProcessEnv
}

export function colourEnabled({tty, noColor, env = process.env}: ColourContext): boolean {
  if (!tty || noColor) return false
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return env.TERM !== 'dumb'
}

/**
 * The cell, coloured when its column holds states and it starts with a known one
 * (`NotReady,SchedulingDisabled` takes NotReady's colour); otherwise unchanged.
 */
export function colourCell(header: string, text: string): string {
  const colours = COLOURS[header]
  if (!colours) return text
  const colour = colours[text.split(',')[0] ?? '']
  return colour ? `${colour}${text}${RESET}` : text
}
