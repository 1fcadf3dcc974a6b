/**
 * Tests for src/handshake/init-cookie.ts (docs/handshake.md §6): a cookie
 * checks only for the sender and INIT it was made for, survives one secret
 * rotation and not two.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COOKIE_SECRET_ROTATION_MS, InitCookies } from '../../src/handshake/init-cookie.js';
import { randomBytes } from '../../src/crypto/bytes.js';

const alice = new Uint8Array(32).fill(0xa1);
const bob = new Uint8Array(32).fill(0xb0);
const t0 = 1_700_000_000_000;

test('a cookie checks for its sender and INIT only', () => {
  const jar = new InitCookies(randomBytes, t0);
  const init = randomBytes(1700);
  const other = randomBytes(1700);
  const c = jar.make(alice, init, t0);
  assert.equal(c.length, 16);
  assert.equal(jar.check(alice, init, c, t0 + 5), true);
  assert.equal(jar.check(bob, init, c, t0), false, 'another claimed sender');
  assert.equal(jar.check(alice, other, c, t0), false, 'another INIT');
  const flipped = new Uint8Array(c);
  flipped[0]! ^= 1;
  assert.equal(jar.check(alice, init, flipped, t0), false);
  assert.equal(jar.check(alice, init, c.subarray(0, 15), t0), false, 'wrong length');
  assert.deepEqual(new InitCookies(randomBytes, t0).check(alice, init, c, t0), false, 'another responder\'s secret');
});

test('a cookie outlives one secret rotation, not two', () => {
  const jar = new InitCookies(randomBytes, t0);
  const init = randomBytes(100);
  const c = jar.make(alice, init, t0);
  assert.equal(jar.check(alice, init, c, t0 + COOKIE_SECRET_ROTATION_MS), true, 'previous secret still accepted');
  assert.equal(jar.check(alice, init, c, t0 + 2 * COOKIE_SECRET_ROTATION_MS), false);
});

test('after a long silence both secrets are new', () => {
  const jar = new InitCookies(randomBytes, t0);
  const init = randomBytes(100);
  const c = jar.make(alice, init, t0);
  assert.equal(jar.check(alice, init, c, t0 + 5 * COOKIE_SECRET_ROTATION_MS), false);
});
