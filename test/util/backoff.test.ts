import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffCeilingMs } from '../../src/util/backoff.js';

test('backoffCeilingMs doubles from the base and stops at the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((a) => backoffCeilingMs(1_000, 60_000, a)), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]);
  assert.equal(backoffCeilingMs(1_000, 1_000, 5), 1_000, 'cap equal to the base: a fixed delay');
});

test('backoffCeilingMs stays finite and capped for any count of attempts', () => {
  for (const attempt of [30, 40, 1_000, Number.MAX_SAFE_INTEGER]) assert.equal(backoffCeilingMs(1, 86_400_000, attempt), 86_400_000);
  assert.equal(backoffCeilingMs(500, 30_000, -1), 500, 'a negative count is the first retry');
});

test('backoffCeilingMs is the doubling a caller would keep as state (min(2 x previous, cap))', () => {
  for (const [base, cap] of [[1_000, 8_000], [500, 30_000], [3, 1_000]] as const) {
    let kept: number = base;
    for (let attempt = 0; attempt < 50; attempt++) {
      assert.equal(backoffCeilingMs(base, cap, attempt), kept, `base ${base} cap ${cap} attempt ${attempt}`);
      kept = Math.min(kept * 2, cap);
    }
  }
});
