import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerTable } from '../../src/relay/peer-table.js';
import { toHex } from '../../src/crypto/bytes.js';

test('a table key (toHex of the peer id) is lowercase hex and does not alias the source buffer', () => {
  const buf = new Uint8Array(40);
  buf.fill(0xab, 4, 36);
  const id = buf.subarray(4, 36);
  const key = toHex(id);
  assert.equal(key, 'ab'.repeat(32));
  buf.fill(0);
  assert.equal(key, 'ab'.repeat(32));
});

test('admit returns the replaced connection, and not the same one twice', () => {
  const t = new PeerTable<string>();
  assert.equal(t.admit('k', 'first'), undefined);
  assert.equal(t.admit('k', 'first'), undefined);
  assert.equal(t.admit('k', 'second'), 'first');
  assert.equal(t.get('k'), 'second');
  assert.equal(t.size, 1);
});

test('a replaced connection closing late cannot evict its successor', () => {
  const t = new PeerTable<string>();
  t.admit('k', 'old');
  t.admit('k', 'new');
  assert.equal(t.remove('k', 'old'), false);
  assert.equal(t.get('k'), 'new');
  assert.equal(t.remove('k', 'new'), true);
  assert.equal(t.get('k'), undefined);
  assert.equal(t.size, 0);
});

test('connections() is a snapshot', () => {
  const t = new PeerTable<string>();
  t.admit('a', 'A');
  t.admit('b', 'B');
  const snap = t.connections();
  t.remove('a', 'A');
  assert.deepEqual(snap.sort(), ['A', 'B']);
  assert.deepEqual(t.connections(), ['B']);
});
