/**
 * Run settings for the wire property tests (test/fuzz/wire-*.test.ts).
 *
 * By default each property runs a small fixed number of cases so that
 * test/wire and test/fuzz together finish in a few seconds on a shared
 * machine. Long mode: set SHADOWMESH_FUZZ_SECONDS=<n> and every property
 * instead runs for about n seconds (time-bounded; reaching the limit is not a
 * failure). SHADOWMESH_FUZZ_SEED=<int> replays a reported failing seed.
 */

import type { Parameters } from 'fast-check';

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name}: expected a positive number, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Seconds each property runs in long mode, or undefined in the default mode. */
export const FUZZ_SECONDS = envNumber('SHADOWMESH_FUZZ_SECONDS');

/** fast-check parameters: `defaultRuns` cases normally, FUZZ_SECONDS of cases in long mode. */
export function fuzzParams<T>(defaultRuns: number): Parameters<T> {
  const seed = envNumber('SHADOWMESH_FUZZ_SEED');
  const base: Parameters<T> = seed === undefined ? {} : { seed: Math.floor(seed) };
  if (FUZZ_SECONDS === undefined) return { ...base, numRuns: defaultRuns };
  return {
    ...base,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: FUZZ_SECONDS * 1000,
    markInterruptAsFailure: false,
  };
}

/** Per-test timeout for node:test that leaves room for long mode. */
export const FUZZ_TEST_TIMEOUT_MS = FUZZ_SECONDS === undefined ? 60_000 : FUZZ_SECONDS * 1000 + 60_000;
