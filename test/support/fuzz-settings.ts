/**
 * The bounds and the seed of the fuzz tests (faults-fuzz*.test.ts), read from the environment:
 *
 * - ROSTER_FUZZ_SEED replays a run (the seed is printed first; fast-check prints the seed and the
 *   path of any counterexample, and ROSTER_FUZZ_PATH with the seed replays that one scenario);
 * - ROSTER_FUZZ_RUNS scenarios (each test has its default, sized for `npm test`), or as many as fit
 *   in ROSTER_FUZZ_SECONDS when that is set (`npm run fuzz`: ten minutes).
 *
 * CI explores a fixed sequence (the same runs every time, so a red CI is a regression, not a new
 * draw); elsewhere every run draws a new seed.
 */
import assert from 'node:assert/strict'

import type fc from 'fast-check'
import {underCi} from './needs.js'

const CI_SEED = 20261129

export interface FuzzSettings {
  seed: number
  seconds?: number
  runs: number
  /** "1000 runs" or "600 s", for the test's name. */
  bound: string
  /** The test's timeout: the bound, and two minutes for a run that never ends. */
  timeoutMs: number
  /** fast-check's parameters for these settings. */
  parameters: fc.Parameters<unknown>
}

export function fuzzSettings(defaultRuns: number): FuzzSettings {
  const seed = process.env.ROSTER_FUZZ_SEED ? Number(process.env.ROSTER_FUZZ_SEED) : underCi ? CI_SEED : Date.now() % 2 ** 31
  const seconds = process.env.ROSTER_FUZZ_SECONDS ? Number(process.env.ROSTER_FUZZ_SECONDS) : undefined
  const runs = seconds === undefined ? Number(process.env.ROSTER_FUZZ_RUNS ?? defaultRuns) : 1_000_000_000
  return {
    seed,
    seconds,
    runs,
    bound: seconds === undefined ? `${runs} runs` : `${seconds} s`,
    timeoutMs: ((seconds ?? runs) + 120) * 1000,
    parameters: {
      seed,
      numRuns: runs,
      ...(seconds === undefined ? {} : {interruptAfterTimeLimit: seconds * 1000}),
      markInterruptAsFailure: false,
      endOnFailure: true,
      ...(process.env.ROSTER_FUZZ_PATH ? {path: process.env.ROSTER_FUZZ_PATH} : {}),
    },
  }
}

/** Fails the test with the counterexample and how to replay it. */
export function assertNoCounterexample<T>(out: fc.RunDetails<T>, settings: FuzzSettings, what: string): void {
  if (!out.failed) return
  const error = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
  assert.fail(`${what} (replay: ROSTER_FUZZ_SEED=${settings.seed} ROSTER_FUZZ_PATH=${out.counterexamplePath}): ${error}`)
}
