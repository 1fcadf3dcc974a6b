import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatDuration, parseDuration } from '../../src/util/duration.js';

test('parseDuration: single units', () => {
  assert.equal(parseDuration('1500ms'), 1500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('365d'), 365 * 86_400_000);
  assert.equal(parseDuration('0s'), 0);
});

test('parseDuration: combined terms, largest unit first', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1d12h'), 36 * 3_600_000);
  assert.equal(parseDuration('1m1s1ms'), 61_001);
});

test('parseDuration: rejects malformed text with SM_ERR_CONFIG_DURATION naming the text', () => {
  for (const bad of ['', '5', 'm', '1.5h', '-5s', '+5s', '5 s', ' 5s', '5s ', '30m1h', '1h1h', '1msms', '5w', '5S', '1e3s', '0x10s', '99999999999999999999d']) {
    assert.throws(
      () => parseDuration(bad),
      (err: Error & { code?: string }) => err.code === 'SM_ERR_CONFIG_DURATION' && err.message.includes(JSON.stringify(bad).slice(0, 10)),
      `expected ${JSON.stringify(bad)} to be refused`,
    );
  }
});

test('formatDuration: shortest combined form', () => {
  assert.equal(formatDuration(0), '0ms');
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(365 * 86_400_000), '365d');
  assert.equal(formatDuration(61_001), '1m1s1ms');
  for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
    assert.throws(() => formatDuration(bad), (err: Error & { code?: string }) => err.code === 'SM_ERR_CONFIG_DURATION');
  }
});

test('parseDuration(formatDuration(x)) === x for every non-negative safe integer', () => {
  fc.assert(
    fc.property(fc.maxSafeNat(), (ms) => parseDuration(formatDuration(ms)) === ms),
    { numRuns: 500 },
  );
});
