/**
 * PRESENCE, CERT_REQUEST and CERT (docs/protocol.md §1 "Presence"): byte
 * layouts as drawn in src/wire/relay-frames.ts, the bounds on the entry
 * count, and that the relay's pre-encoded entries (encodePresenceEntry +
 * presenceFrame) give the same bytes as the generic encoder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CERT_FIXED_BYTES,
  CERT_REQUEST_BYTES,
  FrameType,
  MAX_FRAME_BYTES,
  MAX_PRESENCE_ENTRIES,
  PRESENCE_DOWN_ENTRY_BYTES,
  PRESENCE_FIXED_BYTES,
  PRESENCE_UP_ENTRY_BYTES,
  PresenceKind,
} from '../../src/wire/constants.js';
import { decodeRelayFrame, encodePresenceEntry, encodeRelayFrame, presenceFrame, type PresenceEntry } from '../../src/wire/relay-frames.js';

const id = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const up = (n: number): PresenceEntry => ({ kind: PresenceKind.Up, peerId: id(n), certDigest: new Uint8Array(32).fill(n + 100), onlineSinceMs: 1_700_000_000_000 + n });
const down = (n: number): PresenceEntry => ({ kind: PresenceKind.Down, peerId: id(n) });

function wireCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'no error';
}

test('PRESENCE layout: header, count u16 LE, then 73-byte ups and 33-byte downs in order', () => {
  const bytes = encodeRelayFrame({ type: FrameType.Presence, entries: [up(1), down(2)] });
  assert.equal(bytes.length, PRESENCE_FIXED_BYTES + PRESENCE_UP_ENTRY_BYTES + PRESENCE_DOWN_ENTRY_BYTES);
  assert.equal(PRESENCE_UP_ENTRY_BYTES, 73);
  assert.equal(PRESENCE_DOWN_ENTRY_BYTES, 33);
  assert.deepEqual([...bytes.subarray(0, 6)], [1, FrameType.Presence, 0, 0, 2, 0]);
  assert.equal(bytes[6], PresenceKind.Up);
  assert.deepEqual(bytes.subarray(7, 39), id(1));
  assert.deepEqual(bytes.subarray(39, 71), new Uint8Array(32).fill(101));
  assert.equal(Buffer.from(bytes).readBigUInt64LE(71), 1_700_000_000_001n);
  assert.equal(bytes[79], PresenceKind.Down);
  assert.deepEqual(bytes.subarray(80, 112), id(2));
  assert.deepEqual(decodeRelayFrame(bytes), { type: FrameType.Presence, entries: [up(1), down(2)] });
});

test('pre-encoded entries assemble to the same bytes as the generic encoder', () => {
  const entries = [up(1), down(2), up(3)];
  assert.deepEqual(presenceFrame(entries.map(encodePresenceEntry)), encodeRelayFrame({ type: FrameType.Presence, entries }));
});

test('MAX_PRESENCE_ENTRIES ups fit in one frame; zero or one more entry is refused', () => {
  const full = Array.from({ length: MAX_PRESENCE_ENTRIES }, (_, i) => up(i & 0xff));
  const bytes = encodeRelayFrame({ type: FrameType.Presence, entries: full });
  assert.ok(bytes.length <= MAX_FRAME_BYTES, `${bytes.length} bytes`);
  assert.equal((decodeRelayFrame(bytes) as { entries: unknown[] }).entries.length, MAX_PRESENCE_ENTRIES);
  assert.equal(wireCode(() => encodeRelayFrame({ type: FrameType.Presence, entries: [...full, down(1)] })), 'SM_ERR_WIRE_FIELD');
  assert.equal(wireCode(() => encodeRelayFrame({ type: FrameType.Presence, entries: [] })), 'SM_ERR_WIRE_FIELD');
});

test('PRESENCE decoding refuses a bad kind, a zero count, a count larger than the entries, and trailing bytes', () => {
  const good = encodeRelayFrame({ type: FrameType.Presence, entries: [down(1)] });
  const badKind = good.slice();
  badKind[6] = 2;
  assert.equal(wireCode(() => decodeRelayFrame(badKind)), 'SM_ERR_WIRE_FIELD');
  const zero = good.slice();
  zero[4] = 0;
  assert.equal(wireCode(() => decodeRelayFrame(zero)), 'SM_ERR_WIRE_FIELD');
  const more = good.slice();
  more[4] = 2;
  assert.equal(wireCode(() => decodeRelayFrame(more)), 'SM_ERR_WIRE_LENGTH');
  const trailing = new Uint8Array(good.length + 1);
  trailing.set(good);
  assert.equal(wireCode(() => decodeRelayFrame(trailing)), 'SM_ERR_WIRE_LENGTH');
  // A huge count in a short frame ends at the frame's end: no long loop, no allocation by count.
  const liar = good.slice();
  liar[4] = 0xff;
  liar[5] = 0x03;
  assert.equal(wireCode(() => decodeRelayFrame(liar)), 'SM_ERR_WIRE_FIELD');
});

test('CERT_REQUEST is exactly 36 bytes; CERT carries the peer id and a 1..8192-byte certificate', () => {
  const req = encodeRelayFrame({ type: FrameType.CertRequest, peerId: id(5) });
  assert.equal(req.length, CERT_REQUEST_BYTES);
  assert.deepEqual(decodeRelayFrame(req), { type: FrameType.CertRequest, peerId: id(5) });
  assert.equal(wireCode(() => decodeRelayFrame(req.subarray(0, 35))), 'SM_ERR_WIRE_LENGTH');
  const cert = encodeRelayFrame({ type: FrameType.Cert, peerId: id(6), cert: Uint8Array.of(9, 8, 7) });
  assert.equal(cert.length, CERT_FIXED_BYTES + 3);
  assert.deepEqual(decodeRelayFrame(cert), { type: FrameType.Cert, peerId: id(6), cert: Uint8Array.of(9, 8, 7) });
  assert.equal(wireCode(() => encodeRelayFrame({ type: FrameType.Cert, peerId: id(6), cert: new Uint8Array(0) })), 'SM_ERR_WIRE_FIELD');
});
