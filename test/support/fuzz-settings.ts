/**
 * The bounds and the seed of the fuzz tests (faults-fuzz*.test.ts), read from the environment:
 *
 * - ROSTER_FUZZ_SEED replays a run (the seed is printed first; fast-check prints the seed and the
 *   path of any counterexample, and ROSTER_FUZZ_PATH with the seed replays that one round);
 * - ROSTER_FUZZ_RUNS scenarios, or as many as fit in ROSTER_FUZZ_SECONDS when that is set (`npm
 *   run fuzz`: ten minutes); without either, each test's default number of rounds, sized for
 *   `npm test`.
 *
 * The scenarios are of several kinds (the CLI's commands, the API's routes) and run in rounds
 * (`roundOf`): one fast-check run is one scenario of every kind, in an order drawn anew, so that
 * `npm test`'s modest default still exercises every kind, whatever the seed.
 *
 * CI explores a fixed sequence (the same runs every time, so a red CI is a regression, not a new
 * draw); elsewhere every run draws a new seed.
 */
import assert from 'node:assert/strict'

import fc from 'fast-check'
import {underCi} from './needs.js'

const CI_SEED = 20261129

export interface FuzzSettings {
  seed: number
  seconds?: number
  /** "8 rounds", "1000 scenarios" or "600 s", for the test's name. */
  bound: string
  /** The test's timeout: the bound, and two minutes for a run that never ends. */
  timeoutMs: number
  /** fast-check's parameters for these settings, a run being a round of `kinds` scenarios. */
  parameters(kinds: number): fc.Parameters<unknown>
}

/** A bound on one round, for the timeout only: a scenario takes milliseconds, a round under a second. */
const ROUND_TIMEOUT_S = 60

export function fuzzSettings(defaultRounds: number): FuzzSettings {
  const seed = process.env.ROSTER_FUZZ_SEED ? Number(process.env.ROSTER_FUZZ_SEED) : underCi ? CI_SEED : Date.now() % 2 ** 31
  const seconds = process.env.ROSTER_FUZZ_SECONDS ? Number(process.env.ROSTER_FUZZ_SECONDS) : undefined
  const scenarios = seconds === undefined && process.env.ROSTER_FUZZ_RUNS ? Number(process.env.ROSTER_FUZZ_RUNS) : undefined
  return {
    seed,
    seconds,
    bound: seconds !== undefined ? `${seconds} s` : scenarios !== undefined ? `${scenarios} scenarios` : `${defaultRounds} rounds`,
    timeoutMs: ((seconds ?? scenarios ?? defaultRounds * ROUND_TIMEOUT_S) + 120) * 1000,
    parameters: (kinds) => ({
      seed,
      numRuns: seconds !== undefined ? 1_000_000_000 : scenarios !== undefined ? Math.ceil(scenarios / kinds) : defaultRounds,
      ...(seconds === undefined ? {} : {interruptAfterTimeLimit: seconds * 1000}),
      markInterruptAsFailure: false,
      endOnFailure: true,
      ...(process.env.ROSTER_FUZZ_PATH ? {path: process.env.ROSTER_FUZZ_PATH} : {}),
    }),
  }
}

/**
 * One round: a scenario of each of `kinds` (`scenarioOf(kind)`), in an order drawn for the round,
 * so that every kind is exercised in every run while the order of writes and refusals still varies.
 */
export function roundOf<K, T>(kinds: readonly K[], scenarioOf: (kind: K) => fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc
    .shuffledSubarray([...kinds], {minLength: kinds.length, maxLength: kinds.length})
    .chain((order) => fc.tuple(...order.map(scenarioOf)))
}

/** Fails the test with the counterexample and how to replay it. */
export function assertNoCounterexample<T>(out: fc.RunDetails<T>, settings: FuzzSettings, what: string): void {
  if (!out.failed) return
  const error = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
  assert.fail(`${what} (replay: ROSTER_FUZZ_SEED=${settings.seed} ROSTER_FUZZ_PATH=${out.counterexamplePath}): ${error}`)
}
