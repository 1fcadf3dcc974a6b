/**
 * Assertions that a call fails with a ShadowMesh error carrying a given
 * SM_ERR_* code (and, optionally, a message matching a pattern, so messages
 * that must name the argument are checked too). One set for every test:
 * synchronous, asynchronous, and the wire codecs' variant that also insists
 * on the `WireError` class (docs/conventions.md §4).
 */
import { strict as assert } from 'node:assert';

type CodedError = Error & { code: string };

function checkCaught(caught: unknown, thrown: boolean, code: string, message?: RegExp): CodedError {
  assert.ok(thrown, `expected an error with code ${code}, but nothing was thrown`);
  const e = caught as { code?: unknown; message?: unknown };
  assert.equal(e?.code, code, `expected code ${code}, got ${String(e?.code)}: ${String(e?.message)}`);
  if (message) assert.match(String(e.message), message);
  return caught as CodedError;
}

/** Asserts that fn throws an error whose code is `code` (and whose message matches `message`); returns the error. */
export function throwsWithCode(fn: () => unknown, code: string, message?: RegExp): CodedError {
  let caught: unknown;
  let thrown = false;
  try {
    fn();
  } catch (err) {
    caught = err;
    thrown = true;
  }
  return checkCaught(caught, thrown, code, message);
}

/** Asserts that fn throws or rejects with an error whose code is `code`; returns the error. */
export async function rejectsWithCode(fn: () => unknown, code: string, message?: RegExp): Promise<CodedError> {
  let caught: unknown;
  let thrown = false;
  try {
    await fn();
  } catch (err) {
    caught = err;
    thrown = true;
  }
  return checkCaught(caught, thrown, code, message);
}

/** Asserts that `fn` throws a WireError carrying `code`. */
export function throwsWire(fn: () => unknown, code: string): void {
  const err = throwsWithCode(fn, code);
  if (!(err instanceof Error)) return assert.fail(`expected an Error, got ${String(err)}`);
  assert.equal(err.name, 'WireError', `expected WireError, got ${err.name}: ${err.message}`);
}
