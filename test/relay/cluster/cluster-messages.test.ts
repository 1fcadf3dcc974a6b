/**
 * The bytes relays exchange over NATS (src/relay/cluster/cluster-messages.ts):
 * what is encoded decodes to the same message, and anything else is an
 * 'invalid' result with a reason, never an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CLUSTER_HEADER_BYTES,
  decodeClusterMessage,
  encodeForward,
  encodeHeartbeat,
  encodeHello,
  encodeLeave,
  encodeMembers,
  encodeSyncBegin,
  encodeSyncEnd,
  MEMBERS_BATCH_BYTES,
} from '../../../src/relay/cluster/cluster-messages.js';
import { MAX_CLUSTER_MESSAGE_BYTES } from '../../../src/relay/cluster/cluster-options.js';
import { FrameType, PROTOCOL_VERSION } from '../../../src/wire/constants.js';

const ID = new Uint8Array(16).fill(0xab);
const HEX = 'ab'.repeat(16);

function deliver(payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(36 + payload.length);
  f[0] = PROTOCOL_VERSION;
  f[1] = FrameType.Deliver;
  f.fill(7, 4, 36);
  f.set(payload, 36);
  return f;
}

test('every message type decodes to what was encoded', () => {
  assert.deepEqual(decodeClusterMessage(encodeHello(ID, 'relay-a')), { type: 'hello', relayId: HEX, name: 'relay-a' });
  assert.deepEqual(decodeClusterMessage(encodeHeartbeat(ID, 'relay-a', 42)), { type: 'heartbeat', relayId: HEX, name: 'relay-a', members: 42 });
  assert.deepEqual(decodeClusterMessage(encodeSyncBegin(ID, 9)), { type: 'sync-begin', relayId: HEX, syncId: 9 });
  assert.deepEqual(decodeClusterMessage(encodeSyncEnd(ID, 9, 3)), { type: 'sync-end', relayId: HEX, syncId: 9, count: 3 });
  const peer = new Uint8Array(32).fill(3);
  const leave = decodeClusterMessage(encodeLeave(ID, peer, 1_700_000_000_123));
  assert.equal(leave.type, 'leave');
  if (leave.type === 'leave') {
    assert.deepEqual([...leave.peerId], [...peer]);
    assert.equal(leave.admittedAtMs, 1_700_000_000_123);
  }
  const frame = deliver(new Uint8Array([1, 2, 3]));
  const fwd = decodeClusterMessage(encodeForward(ID, peer, frame));
  assert.equal(fwd.type, 'forward');
  if (fwd.type === 'forward') {
    assert.deepEqual([...fwd.frame], [...frame], 'the DELIVER frame crosses byte for byte');
    assert.deepEqual([...fwd.dst], [...peer]);
  }
  const certs = [new Uint8Array(100).fill(1), new Uint8Array(8000).fill(2)];
  const msgs = encodeMembers(ID, 5, certs.map((cert, i) => ({ admittedAtMs: 1_000 + i, cert })));
  assert.equal(msgs.length, 1);
  const m = decodeClusterMessage(msgs[0] as Buffer);
  assert.equal(m.type, 'members');
  if (m.type === 'members') {
    assert.equal(m.syncId, 5);
    assert.deepEqual(m.members.map((e) => [e.admittedAtMs, e.cert.length]), [[1_000, 100], [1_001, 8000]]);
  }
});

test('a long member list is split below the batch size and every part decodes', () => {
  const list = Array.from({ length: 200 }, (_, i) => ({ admittedAtMs: i, cert: new Uint8Array(7_000).fill(i & 0xff) }));
  const msgs = encodeMembers(ID, 1, list);
  assert.ok(msgs.length > 1);
  let n = 0;
  for (const msg of msgs) {
    assert.ok(msg.length <= MEMBERS_BATCH_BYTES + CLUSTER_HEADER_BYTES + 6);
    const d = decodeClusterMessage(msg);
    assert.equal(d.type, 'members');
    if (d.type === 'members') n += d.members.length;
  }
  assert.equal(n, 200);
});

test('malformed messages are invalid with a reason', () => {
  const reason = (b: Uint8Array): string => {
    const d = decodeClusterMessage(b);
    return d.type === 'invalid' ? d.reason : `decoded as ${d.type}`;
  };
  assert.equal(reason(new Uint8Array(5)), 'truncated');
  const hello = encodeHello(ID, 'x');
  assert.equal(reason(Uint8Array.from([9, ...hello.subarray(1)])), 'version');
  assert.equal(reason(Uint8Array.from([1, 99, ...hello.subarray(2)])), 'type');
  assert.equal(reason(Buffer.concat([hello, Buffer.from([0])])), 'length');
  assert.equal(reason(encodeHello(ID, 'bad name')), 'name', 'names are printable ASCII without spaces');
  assert.equal(reason(encodeSyncBegin(ID, 1).subarray(0, CLUSTER_HEADER_BYTES + 3)), 'length');
  const peer = new Uint8Array(32);
  const notDeliver = deliver(new Uint8Array([1]));
  notDeliver[1] = FrameType.Send;
  assert.equal(reason(encodeForward(ID, peer, notDeliver)), 'frame');
  assert.equal(reason(encodeForward(ID, peer, deliver(new Uint8Array(0)))), 'frame', 'an empty payload');
  assert.equal(reason(new Uint8Array(MAX_CLUSTER_MESSAGE_BYTES + 1)), 'too-large');
  const members = encodeMembers(ID, 1, [{ admittedAtMs: 1, cert: new Uint8Array(10) }])[0] as Buffer;
  assert.equal(reason(members.subarray(0, members.length - 1)), 'length');
  const huge = Buffer.from(members);
  huge.writeUInt16BE(9_000, CLUSTER_HEADER_BYTES + 6 + 8);
  assert.equal(reason(huge), 'certificate-size');
});

test('arbitrary bytes never throw', () => {
  for (let i = 0; i < 5_000; i++) {
    const b = randomBytes(1 + (i % 300));
    if (i % 3 === 0) b[0] = 1;
    if (i % 5 === 0) b[1] = 1 + (i % 8);
    assert.doesNotThrow(() => decodeClusterMessage(b));
  }
});
