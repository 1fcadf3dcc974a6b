/**
 * UDP_PROBE / UDP_PROBE_ACK / UDP_FRAGMENT codec (src/wire/udp-frames.ts,
 * docs/protocol.md §3.5): fixed round trips for every frame and purpose,
 * refusals with their codes, and properties (fast-check):
 *  1. any bytes decode or throw a WireError with an SM_ERR_WIRE_* code, and
 *     the input is left unchanged;
 *  2. decode(encode(x)) gives x back for every valid probe and fragment;
 *  3. re-encoding a decoded datagram reproduces its bytes.
 * Long mode: SHADOWMESH_FUZZ_SECONDS (see testkit/fuzz-config.ts).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  MAX_UDP_DATAGRAM_BYTES,
  MAX_UDP_FRAGMENTS,
  MAX_UDP_PROBE_EMBED_BYTES,
  MIN_UDP_PROBE_BYTES,
  UDP_FRAGMENT_HEADER_BYTES,
  UDP_PROBE_FIXED_BYTES,
  UDP_PROBE_MAC_BYTES,
  UdpFrameType,
  UdpProbePurpose,
} from '../../src/wire/constants.js';
import {
  datagramType,
  decodeUdpFragment,
  decodeUdpProbe,
  encodeUdpProbe,
  isUdpFrameType,
  putUdpFragmentHeader,
  udpProbeSize,
  type UdpFragment,
  type UdpProbeFields,
} from '../../src/wire/udp-frames.js';
import { fixedBytes, frameLikeBytes, mutate, safeMs } from '../../testkit/wire-arbitraries.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../testkit/fuzz-config.js';
import { assertWireErrorCode } from '../../testkit/wire-properties.js';

const PURPOSES = Object.values(UdpProbePurpose);

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assertWireErrorCode(err);
    assert.equal((err as { code: string }).code, code, (err as Error).message);
    return true;
  });
}

function probeFields(over: Partial<UdpProbeFields> = {}): UdpProbeFields {
  return {
    ack: false,
    purpose: UdpProbePurpose.Punch,
    senderPeerId: new Uint8Array(32).fill(0xa1),
    txid: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    timestampMs: 1_700_000_000_123,
    embed: new Uint8Array(0),
    padding: 0,
    ...over,
  };
}

/** A probe's fields as decode returns them (without the signed/mac views). */
function fieldsOf(p: ReturnType<typeof decodeUdpProbe>): UdpProbeFields {
  const { ack, purpose, senderPeerId, txid, timestampMs, embed, padding } = p;
  return { ack, purpose, senderPeerId, txid, timestampMs, embed, padding };
}

function encodeFragment(f: UdpFragment): Uint8Array {
  const out = new Uint8Array(UDP_FRAGMENT_HEADER_BYTES + f.data.length);
  putUdpFragmentHeader(out, 0, f.frameId, f.index, f.count);
  out.set(f.data, UDP_FRAGMENT_HEADER_BYTES);
  return out;
}

describe('UDP probe codec: fixed cases', () => {
  it('sizes follow the layout: 64 signed bytes before the embed, 80 at least', () => {
    assert.equal(UDP_PROBE_FIXED_BYTES, 64);
    assert.equal(MIN_UDP_PROBE_BYTES, 80);
    assert.equal(UDP_FRAGMENT_HEADER_BYTES, 12);
    assert.equal(udpProbeSize(20, 100), 200);
  });

  it('round-trips every purpose, as probe and as ack, bare, embedded and padded', () => {
    const embed = Uint8Array.from({ length: MAX_UDP_PROBE_EMBED_BYTES }, (_, i) => 0x40 + i);
    for (const purpose of PURPOSES) {
      for (const ack of [false, true]) {
        for (const [e, padding] of [[new Uint8Array(0), 0], [embed, 0], [new Uint8Array(0), 1_400 - MIN_UDP_PROBE_BYTES]] as const) {
          const f = probeFields({ ack, purpose, embed: e, padding });
          const bytes = encodeUdpProbe(f);
          assert.equal(bytes.length, udpProbeSize(e.length, padding));
          assert.equal(datagramType(bytes), ack ? UdpFrameType.UdpProbeAck : UdpFrameType.UdpProbe);
          assert.deepEqual([...bytes.subarray(0, 8)], [1, ack ? 0x2b : 0x2a, 0, 0, purpose, e.length, padding & 0xff, padding >>> 8]);
          const d = decodeUdpProbe(bytes);
          assert.deepEqual(fieldsOf(d), f);
          assert.equal(d.signed.length, bytes.length - UDP_PROBE_MAC_BYTES);
          assert.equal(d.signed.buffer, bytes.buffer, 'signed is a view');
          assert.deepEqual(d.mac, new Uint8Array(UDP_PROBE_MAC_BYTES), 'the encoder leaves the MAC to the caller');
        }
      }
    }
  });

  it('places fields at their documented offsets (little-endian)', () => {
    const bytes = encodeUdpProbe(probeFields({ timestampMs: 0x0102_0304_0506, padding: 3 }));
    assert.deepEqual([...bytes.subarray(8, 40)], new Array(32).fill(0xa1));
    assert.deepEqual([...bytes.subarray(40, 56)], Array.from({ length: 16 }, (_, i) => i + 1));
    assert.deepEqual([...bytes.subarray(56, 64)], [6, 5, 4, 3, 2, 1, 0, 0]);
    assert.deepEqual([...bytes.subarray(64, 67)], [0, 0, 0], 'padding is zeros');
  });

  it('refuses bad fields on encode', () => {
    expectCode(() => encodeUdpProbe(probeFields({ purpose: 0 as UdpProbePurpose })), 'SM_ERR_WIRE_FIELD');
    expectCode(() => encodeUdpProbe(probeFields({ purpose: 5 as UdpProbePurpose })), 'SM_ERR_WIRE_FIELD');
    expectCode(() => encodeUdpProbe(probeFields({ embed: new Uint8Array(19) })), 'SM_ERR_WIRE_LENGTH');
    expectCode(() => encodeUdpProbe(probeFields({ padding: -1 })), 'SM_ERR_WIRE_FIELD');
    expectCode(() => encodeUdpProbe(probeFields({ padding: 0.5 })), 'SM_ERR_WIRE_FIELD');
    expectCode(() => encodeUdpProbe(probeFields({ padding: MAX_UDP_DATAGRAM_BYTES - MIN_UDP_PROBE_BYTES + 1 })), 'SM_ERR_WIRE_TOO_LARGE');
    assert.equal(encodeUdpProbe(probeFields({ padding: MAX_UDP_DATAGRAM_BYTES - MIN_UDP_PROBE_BYTES })).length, MAX_UDP_DATAGRAM_BYTES);
  });

  it('refuses bad probes on decode, lengths first', () => {
    const good = encodeUdpProbe(probeFields({ padding: 4 }));
    const edit = (at: number, value: number): Uint8Array => {
      const b = good.slice();
      b[at] = value;
      return b;
    };
    expectCode(() => decodeUdpProbe(good.subarray(0, MIN_UDP_PROBE_BYTES - 1)), 'SM_ERR_WIRE_LENGTH');
    expectCode(() => decodeUdpProbe(good.subarray(0, good.length - 1)), 'SM_ERR_WIRE_LENGTH');
    expectCode(() => decodeUdpProbe(Uint8Array.of(...good, 0)), 'SM_ERR_WIRE_LENGTH');
    expectCode(() => decodeUdpProbe(new Uint8Array(MAX_UDP_DATAGRAM_BYTES + 1).fill(0).map((_, i) => (i === 0 ? 1 : i === 1 ? 0x2a : 0))), 'SM_ERR_WIRE_TOO_LARGE');
    expectCode(() => decodeUdpProbe(edit(0, 2)), 'SM_ERR_WIRE_VERSION');
    expectCode(() => decodeUdpProbe(edit(1, UdpFrameType.UdpFragment)), 'SM_ERR_WIRE_TYPE');
    expectCode(() => decodeUdpProbe(edit(1, 0x24)), 'SM_ERR_WIRE_TYPE');
    expectCode(() => decodeUdpProbe(edit(2, 1)), 'SM_ERR_WIRE_RESERVED');
    expectCode(() => decodeUdpProbe(edit(4, 0)), 'SM_ERR_WIRE_FIELD');
    expectCode(() => decodeUdpProbe(edit(4, 5)), 'SM_ERR_WIRE_FIELD');
    expectCode(() => decodeUdpProbe(edit(5, 7)), 'SM_ERR_WIRE_LENGTH');
    expectCode(() => decodeUdpProbe(edit(64 + 1, 9)), 'SM_ERR_WIRE_RESERVED'); // padding not zero
    expectCode(() => decodeUdpProbe(edit(56 + 7, 0x40)), 'SM_ERR_WIRE_FIELD'); // timestamp above 2^53 - 1
  });
});

describe('UDP fragment codec: fixed cases', () => {
  it('round-trips first, middle and last fragments', () => {
    for (const [index, count] of [[0, 2], [1, 2], [7, 9], [MAX_UDP_FRAGMENTS - 1, MAX_UDP_FRAGMENTS]] as const) {
      const f: UdpFragment = { frameId: 0xdead_beef, index, count, data: Uint8Array.of(1, 2, 3) };
      const bytes = encodeFragment(f);
      assert.deepEqual([...bytes.subarray(0, 12)], [1, 0x2c, 0, 0, 0xef, 0xbe, 0xad, 0xde, index, count, 0, 0]);
      const d = decodeUdpFragment(bytes);
      assert.deepEqual(d, f);
      assert.equal(d.data.buffer, bytes.buffer, 'data is a view');
    }
  });

  it('refuses count < 2 and index >= count, on both sides', () => {
    const b = new Uint8Array(16);
    for (const [index, count] of [[0, 0], [0, 1], [2, 2], [5, 3], [-1, 4], [0, MAX_UDP_FRAGMENTS + 1]]) {
      expectCode(() => putUdpFragmentHeader(b, 0, 1, index as number, count as number), 'SM_ERR_WIRE_FIELD');
    }
    const good = encodeFragment({ frameId: 1, index: 0, count: 2, data: Uint8Array.of(9) });
    for (const [index, count] of [[0, 0], [0, 1], [1, 1], [2, 2], [255, 255], [3, 2]]) {
      const bad = good.slice();
      bad[8] = index as number;
      bad[9] = count as number;
      expectCode(() => decodeUdpFragment(bad), 'SM_ERR_WIRE_FIELD');
    }
  });

  it('refuses an empty fragment, non-zero reserved bytes and other types', () => {
    const good = encodeFragment({ frameId: 1, index: 0, count: 2, data: Uint8Array.of(9) });
    expectCode(() => decodeUdpFragment(good.subarray(0, UDP_FRAGMENT_HEADER_BYTES)), 'SM_ERR_WIRE_LENGTH');
    const r = good.slice();
    r[11] = 1;
    expectCode(() => decodeUdpFragment(r), 'SM_ERR_WIRE_RESERVED');
    const t = good.slice();
    t[1] = UdpFrameType.UdpProbe;
    expectCode(() => decodeUdpFragment(t), 'SM_ERR_WIRE_TYPE');
    expectCode(() => decodeUdpFragment(new Uint8Array(MAX_UDP_DATAGRAM_BYTES + 1)), 'SM_ERR_WIRE_TOO_LARGE');
  });

  it('isUdpFrameType and datagramType', () => {
    assert.deepEqual([0x29, 0x2a, 0x2b, 0x2c, 0x2d].map(isUdpFrameType), [false, true, true, true, false]);
    assert.equal(datagramType(new Uint8Array(1)), -1);
    assert.equal(datagramType(Uint8Array.of(1, 0x2c)), 0x2c);
  });
});

const probeArb: fc.Arbitrary<UdpProbeFields> = fc
  .record({
    ack: fc.boolean(),
    purpose: fc.constantFrom(...PURPOSES),
    senderPeerId: fixedBytes(32),
    txid: fixedBytes(16),
    timestampMs: safeMs,
    embed: fc.oneof(fc.constant(new Uint8Array(0)), fixedBytes(MAX_UDP_PROBE_EMBED_BYTES)),
    padding: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: MAX_UDP_DATAGRAM_BYTES - MIN_UDP_PROBE_BYTES - MAX_UDP_PROBE_EMBED_BYTES })),
  }, { noNullPrototype: true })
  .map((f) => f as UdpProbeFields);

const fragmentArb: fc.Arbitrary<UdpFragment> = fc
  .integer({ min: 2, max: MAX_UDP_FRAGMENTS })
  .chain((count) =>
    fc.record({
      frameId: fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 0xffff_ffff)),
      index: fc.integer({ min: 0, max: count - 1 }),
      count: fc.constant(count),
      data: fc.uint8Array({ minLength: 1, maxLength: MAX_UDP_DATAGRAM_BYTES - UDP_FRAGMENT_HEADER_BYTES }),
    }, { noNullPrototype: true }));

const UDP_TYPES = [UdpFrameType.UdpProbe, UdpFrameType.UdpProbeAck, UdpFrameType.UdpFragment];

/** Properties 1 and 3 on one input, for both decoders. */
function decodeIsTotal(bytes: Uint8Array): void {
  const before = bytes.slice();
  try {
    const p = decodeUdpProbe(bytes);
    const again = encodeUdpProbe(fieldsOf(p));
    again.set(p.mac, again.length - UDP_PROBE_MAC_BYTES);
    assert.deepEqual(again, before, 're-encoding a decoded probe changed it');
  } catch (err) {
    assertWireErrorCode(err);
  }
  assert.deepEqual(bytes, before, 'probe decoder modified its input');
  try {
    const f = decodeUdpFragment(bytes);
    assert.deepEqual(encodeFragment(f), before, 're-encoding a decoded fragment changed it');
  } catch (err) {
    assertWireErrorCode(err);
  }
  assert.deepEqual(bytes, before, 'fragment decoder modified its input');
}

describe('UDP frame codec: properties', () => {
  it('arbitrary bytes: decode or WireError, input unchanged', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: MAX_UDP_DATAGRAM_BYTES + 8 }), decodeIsTotal), fuzzParams(300));
  });

  it('frame-like and mutated valid bytes: decode or WireError', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const sizes = [MIN_UDP_PROBE_BYTES - 4, MIN_UDP_PROBE_BYTES - 4 + MAX_UDP_PROBE_EMBED_BYTES, 9, 100];
    fc.assert(fc.property(frameLikeBytes(UDP_TYPES, sizes), decodeIsTotal), fuzzParams(500));
    fc.assert(fc.property(mutate(probeArb.map(encodeUdpProbe)), decodeIsTotal), fuzzParams(500));
    fc.assert(fc.property(mutate(fragmentArb.map(encodeFragment)), decodeIsTotal), fuzzParams(500));
  });

  it('decode(encode(probe)) == probe', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    fc.assert(fc.property(probeArb, (f) => {
      assert.deepEqual(fieldsOf(decodeUdpProbe(encodeUdpProbe(f))), f);
    }), fuzzParams(300));
  });

  it('decode(encode(fragment)) == fragment', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    fc.assert(fc.property(fragmentArb, (f) => {
      assert.deepEqual(decodeUdpFragment(encodeFragment(f)), f);
    }), fuzzParams(300));
  });
});
