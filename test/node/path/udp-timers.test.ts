/**
 * Timer policy of the direct UDP transport (src/node/path/udp-timers.ts):
 * the values keep the relations their comments give, and probes back to a
 * source are rate limited on a fake clock.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  DEFAULT_PUNCH_INTERVAL_MS,
  DEFAULT_PUNCH_TIMEOUT_MS,
  DEFAULT_STUN_INTERVAL_MS,
  PROBE_BACK_MIN_INTERVAL_MS,
  probeBackDue,
  PUNCH_GRACE_MS,
  STUN_ON_CONNECT_MIN_AGE_MS,
} from '../../../src/node/path/udp-timers.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

test('punching: many rounds per attempt, and the grace for late answers is shorter than an attempt', () => {
  assert.ok(DEFAULT_PUNCH_TIMEOUT_MS / DEFAULT_PUNCH_INTERVAL_MS >= 10);
  assert.ok(PUNCH_GRACE_MS < DEFAULT_PUNCH_TIMEOUT_MS);
});

test('STUN refreshes stay under the 30 s UDP timeout of common NATs, and connect() re-asks only for an older answer', () => {
  assert.ok(DEFAULT_STUN_INTERVAL_MS < 30_000);
  assert.ok(STUN_ON_CONNECT_MIN_AGE_MS < DEFAULT_STUN_INTERVAL_MS);
});

test('a probe back to one source goes out at most every PROBE_BACK_MIN_INTERVAL_MS', () => {
  const clock = new FakeClock();
  assert.equal(probeBackDue(undefined, clock.now()), true, 'never probed: due');
  const last = clock.now();
  clock.advance(PROBE_BACK_MIN_INTERVAL_MS - 1);
  assert.equal(probeBackDue(last, clock.now()), false);
  clock.advance(1);
  assert.equal(probeBackDue(last, clock.now()), true);
});
