/**
 * Test helper: assert that a call throws a ShadowMesh error with a given
 * SM_ERR_* code and, optionally, a message matching a pattern (so messages
 * that must name the argument are checked too).
 */

import { strict as assert } from 'node:assert';

export function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    const e = err as { code?: unknown; message?: unknown };
    assert.equal(e.code, code, `expected code ${code}, got ${String(e.code)}: ${String(e.message)}`);
    if (message) assert.match(String(e.message), message);
    return true;
  });
}
