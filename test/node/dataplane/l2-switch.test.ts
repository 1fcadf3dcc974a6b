import { test } from 'node:test';
import assert from 'node:assert/strict';
import { L2Switch, isGroupMac, macKey } from '../../../src/node/dataplane/l2-switch.js';

const id = (b: number) => new Uint8Array(32).fill(b);
const mac = (...b: number[]) => new Uint8Array(b);

test('macKey is exact and isGroupMac reads the I/G bit', () => {
  assert.equal(macKey(mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 0), 2 ** 48 - 1);
  assert.equal(macKey(mac(0, 0, 0, 0, 1, 2), 0), 258);
  assert.equal(isGroupMac(mac(0x01, 0, 0x5e, 0, 0, 1), 0), true);
  assert.equal(isGroupMac(mac(0x02, 0, 0, 0, 0, 1), 0), false);
});

test('learned entries age out, move with their MAC, and the table is bounded', () => {
  const sw = new L2Switch({ agingMs: 1_000, maxEntries: 3 });
  const m = mac(2, 0, 0, 0, 0, 1);
  sw.learn(m, 0, id(1), 'p1', 0);
  assert.deepEqual(sw.lookup(m, 0, 500)?.peerId, id(1));
  sw.learn(m, 0, id(2), 'p2', 600);
  assert.deepEqual(sw.lookup(m, 0, 700)?.peerId, id(2), 'a MAC that moved is relearned');
  assert.equal(sw.lookup(m, 0, 700)?.peerHex, 'p2', 'with its hex');
  assert.equal(sw.lookup(m, 0, 1_700), null, 'aged out');
  for (let i = 0; i < 10; i++) sw.learn(mac(2, 0, 0, 0, 1, i), 0, id(3), 'p3', 2_000);
  assert.equal(sw.size, 3);
  assert.equal(sw.lookup(mac(2, 0, 0, 0, 1, 0), 0, 2_000), null, 'oldest evicted');
  assert.deepEqual(sw.lookup(mac(2, 0, 0, 0, 1, 9), 0, 2_000)?.peerId, id(3));
});
