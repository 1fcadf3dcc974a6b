import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/util/token-bucket.js';
import { FakeClock } from '../../testkit/fake-clock.js';

test('a full bucket allows exactly its burst, then refuses', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(10, 5, clock.now());
  for (let i = 0; i < 5; i++) assert.equal(b.take(1, clock.now()), true, `take ${i}`);
  assert.equal(b.take(1, clock.now()), false);
});

test('refills at ratePerSec, never above burst', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(10, 5, clock.now());
  assert.equal(b.take(5, clock.now()), true);
  clock.advance(100); // 10/s * 0.1 s = 1 token
  assert.equal(b.take(1, clock.now()), true);
  assert.equal(b.take(1, clock.now()), false);
  clock.advance(60_000);
  assert.equal(b.available(clock.now()), 5);
});

test('a refused take leaves the bucket unchanged', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(1_000, 100, clock.now());
  assert.equal(b.take(60, clock.now()), true);
  assert.equal(b.take(50, clock.now()), false);
  assert.equal(b.available(clock.now()), 40);
  assert.equal(b.take(40, clock.now()), true);
});

test('more than the burst at once is never allowed', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(1_000_000, 10, clock.now());
  clock.advance(10_000);
  assert.equal(b.take(11, clock.now()), false);
});

test('a clock stepping backwards adds nothing', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(10, 10, clock.now());
  assert.equal(b.take(10, clock.now()), true);
  assert.equal(b.take(1, clock.now() - 5_000), false);
  assert.equal(b.available(clock.now()), 0);
});

test('sustained rate over a long run matches ratePerSec', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(100, 10, clock.now());
  let granted = 0;
  for (let i = 0; i < 10_000; i++) {
    clock.advance(1);
    if (b.take(1, clock.now())) granted++;
  }
  // 10 s at 100/s plus the initial burst of 10.
  assert.ok(granted >= 1_000 && granted <= 1_010, `granted ${granted}`);
});

test('rejects nonsense parameters with a ConfigError naming them', () => {
  assert.throws(() => new TokenBucket(0, 1, 0), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE' && /ratePerSec/.test(e.message));
  assert.throws(() => new TokenBucket(1, Number.NaN, 0), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE' && /burst/.test(e.message));
});
