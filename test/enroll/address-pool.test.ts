/**
 * The address pool (src/enroll/address-pool.ts): lowest free host address
 * first, skipping taken, network and broadcast addresses, IPv4 and IPv6,
 * and a coded error when exhausted; malformed pools are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lowestFreeAddress, parsePool } from '../../src/enroll/address-pool.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

test('the lowest free host address, with the pool prefix', () => {
  const pool = parsePool('10.10.0.77/24');
  assert.equal(pool.text, '10.10.0.0/24');
  assert.equal(lowestFreeAddress(pool, new Set()), '10.10.0.1/24');
  assert.equal(lowestFreeAddress(pool, new Set(['10.10.0.1', '10.10.0.2', '10.10.0.4'])), '10.10.0.3/24');
  const v6 = parsePool('fd00:10::/120');
  assert.equal(lowestFreeAddress(v6, new Set()), 'fd00:10::1/120');
  assert.equal(lowestFreeAddress(v6, new Set(['fd00:10::1'])), 'fd00:10::2/120');
});

test('network and broadcast addresses are never handed out; a full pool is SM_ERR_ENROLL_POOL_EXHAUSTED', () => {
  const pool = parsePool('10.10.0.0/30');
  assert.equal(lowestFreeAddress(pool, new Set(['10.10.0.1'])), '10.10.0.2/30');
  throwsWithCode(() => lowestFreeAddress(pool, new Set(['10.10.0.1', '10.10.0.2'])), 'SM_ERR_ENROLL_POOL_EXHAUSTED');
  const all = new Set(Array.from({ length: 254 }, (_, i) => `10.9.0.${i + 1}`));
  throwsWithCode(() => lowestFreeAddress(parsePool('10.9.0.0/24'), all), 'SM_ERR_ENROLL_POOL_EXHAUSTED');
});

test('a large pool is scanned only so far, and answers quickly from its start', () => {
  assert.equal(lowestFreeAddress(parsePool('10.0.0.0/8'), new Set(['10.0.0.1'])), '10.0.0.2/8');
  assert.equal(lowestFreeAddress(parsePool('fd00::/64'), new Set()), 'fd00::1/64');
});

test('malformed pools are refused with SM_ERR_CONFIG_VALUE', () => {
  for (const p of ['', '10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/31', '10.0.0.0/4', 'fd00::/48', 'fd00::/127', 'x/24', '10.0.0.0/024x', '10.0.0.0/24/1']) {
    throwsWithCode(() => parsePool(p), 'SM_ERR_CONFIG_VALUE');
  }
});
