/**
 * The path code's view of PATH_PROBE / PATH_PROBE_ACK (src/node/path/probe-frames.ts):
 * exact bytes, round trips, and null (never a throw) for anything malformed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProbe, encodeProbe, isProbeType, PROBE_FRAME_BYTES } from '../../../src/node/path/probe-frames.js';

test('a probe is 20 bytes: version, type 0x28/0x29, zero reserved, id and sentAtMs little-endian', () => {
  const p = encodeProbe({ ack: false, id: 0x0102030405060708n, sentAtMs: 0x1122334455 });
  assert.equal(p.length, PROBE_FRAME_BYTES);
  assert.deepEqual([...p], [1, 0x28, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, 0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0]);
  assert.equal(encodeProbe({ ack: true, id: 1n, sentAtMs: 2 })[1], 0x29);
});

test('round trip for probes and acks, ids across the u64 range', () => {
  for (const ack of [false, true]) {
    for (const id of [0n, 1n, 2n ** 64n - 1n]) {
      const f = { ack, id, sentAtMs: Number.MAX_SAFE_INTEGER };
      assert.deepEqual(decodeProbe(encodeProbe(f)), f);
      assert.equal(isProbeType(encodeProbe(f)), true);
    }
  }
});

test('malformed probes decode to null, never throw', () => {
  const good = encodeProbe({ ack: false, id: 9n, sentAtMs: 9 });
  const variants: Uint8Array[] = [
    good.subarray(0, 19),
    Uint8Array.of(...good, 0),
    Uint8Array.of(2, ...good.subarray(1)),
    Uint8Array.of(1, 0x28, 1, ...good.subarray(3)),
    Uint8Array.of(...good.subarray(0, 12), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // sentAtMs > 2^53 - 1
    Uint8Array.of(1, 0x24, ...good.subarray(2)),
    new Uint8Array(0),
  ];
  for (const v of variants) assert.equal(decodeProbe(v), null, Buffer.from(v).toString('hex'));
  assert.equal(isProbeType(new Uint8Array(0)), false);
  assert.equal(isProbeType(Uint8Array.of(1, 0x24)), false);
  assert.equal(isProbeType(Uint8Array.of(1, 0x28)), true, 'routing looks at the type byte only');
});
