/**
 * Assertions shared by the wire property tests (test/fuzz/wire-*.test.ts).
 */

import { strict as assert } from 'node:assert';

const WIRE_CODES = new Set([
  'SM_ERR_WIRE_LENGTH',
  'SM_ERR_WIRE_VERSION',
  'SM_ERR_WIRE_TYPE',
  'SM_ERR_WIRE_RESERVED',
  'SM_ERR_WIRE_FIELD',
  'SM_ERR_WIRE_TOO_LARGE',
]);

/** Assert that `err` is a WireError carrying one of the six SM_ERR_WIRE_* codes. */
export function assertWireErrorCode(err: unknown): void {
  if (!(err instanceof Error)) return assert.fail(`threw a non-Error: ${String(err)}`);
  if (err.name === 'AssertionError') throw err;
  assert.equal(err.name, 'WireError', `threw ${err.name}: ${err.message}`);
  const code = (err as { code?: unknown }).code;
  assert.ok(typeof code === 'string' && WIRE_CODES.has(code), `unexpected code ${String(code)}: ${err.message}`);
}

/** Assert that `decode` fails by length: SM_ERR_WIRE_TOO_LARGE above `maxBytes`, SM_ERR_WIRE_LENGTH otherwise. */
export function expectLengthFailure(decode: () => unknown, length: number, maxBytes: number): void {
  const expected = length > maxBytes ? 'SM_ERR_WIRE_TOO_LARGE' : 'SM_ERR_WIRE_LENGTH';
  assert.throws(decode, (err: unknown) => {
    assertWireErrorCode(err);
    assert.equal((err as { code: string }).code, expected, `length ${length}: ${(err as Error).message}`);
    return true;
  });
}
