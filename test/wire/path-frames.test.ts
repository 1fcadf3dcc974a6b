/**
 * Tests for src/wire/path-frames.ts: the layouts of docs/protocol.md §3
 * (byte-exact encodings), exact sizes, refused types, and a property that
 * the decoder only ever throws WireError and round-trips what it accepts.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  PATH_COMPLETE_BYTES,
  PATH_PROBE_BYTES,
  PATH_REQUEST_BYTES,
  PATH_RESPONSE_BYTES,
  PathFrameType,
  InnerType,
  isDataInnerType,
  FrameType,
} from '../../src/wire/constants.js';
import {
  decodePathFrame,
  encodePathFrame,
  encodePathFrameInto,
  isPathAuthFrameType,
  isPathFrameType,
  type PathFrame,
} from '../../src/wire/path-frames.js';
import { decodePeerFrame } from '../../src/wire/peer-frames.js';
import { decodeRelayFrame } from '../../src/wire/relay-frames.js';
import { filled, hex } from '../../testkit/wire-bytes.js';
import { fixedBytes, frameLikeBytes, mutate, safeMs, u64 } from '../../testkit/wire-arbitraries.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../testkit/fuzz-config.js';
import { assertWireErrorCode } from '../../testkit/wire-properties.js';
import { throwsWire } from '../../testkit/expect-code.js';

describe('path frames: layouts (protocol.md §3)', () => {
  it('sizes match the spec', () => {
    assert.equal(PATH_REQUEST_BYTES, 60);
    assert.equal(PATH_RESPONSE_BYTES, 92);
    assert.equal(PATH_COMPLETE_BYTES, 36);
    assert.equal(PATH_PROBE_BYTES, 20);
    assert.equal(InnerType.PathOffer, 0x06);
    assert.ok(isDataInnerType(InnerType.PathOffer), 'sessions must carry PATH_OFFER');
    assert.ok(!isDataInnerType(InnerType.Keepalive));
  });

  it('PATH_REQUEST encodes byte-exactly', () => {
    const f: PathFrame = { type: PathFrameType.PathRequest, sessionId: filled(16, 0xaa), challenge: filled(32, 0xbb), timestampMs: 0x0102030405 };
    const bytes = encodePathFrame(f);
    assert.deepEqual(bytes, hex(`01 25 0000 | ${'aa'.repeat(16)} | ${'bb'.repeat(32)} | 0504030201000000`));
    assert.deepEqual(decodePathFrame(bytes), f);
  });

  it('PATH_RESPONSE, PATH_COMPLETE, probes round-trip byte-exactly', () => {
    const resp: PathFrame = { type: PathFrameType.PathResponse, sessionId: filled(16, 1), challenge: filled(32, 2), timestampMs: 7, mac: filled(32, 3) };
    assert.deepEqual(encodePathFrame(resp), hex(`01 26 0000 ${'01'.repeat(16)} ${'02'.repeat(32)} 0700000000000000 ${'03'.repeat(32)}`));
    assert.deepEqual(decodePathFrame(encodePathFrame(resp)), resp);
    const done: PathFrame = { type: PathFrameType.PathComplete, mac: filled(32, 9) };
    assert.deepEqual(encodePathFrame(done), hex(`01 27 0000 ${'09'.repeat(32)}`));
    const probe: PathFrame = { type: PathFrameType.PathProbe, id: 0xffff_ffff_ffff_ffffn, sentAtMs: 1 };
    assert.deepEqual(encodePathFrame(probe), hex(`01 28 0000 ffffffffffffffff 0100000000000000`));
    const ack: PathFrame = { type: PathFrameType.PathProbeAck, id: 5n, sentAtMs: Number.MAX_SAFE_INTEGER };
    assert.deepEqual(decodePathFrame(encodePathFrame(ack)), ack);
  });

  it('encodes into a caller buffer at an offset', () => {
    const buf = new Uint8Array(30);
    const n = encodePathFrameInto({ type: PathFrameType.PathProbe, id: 1n, sentAtMs: 2 }, buf, 5);
    assert.equal(n, 20);
    assert.deepEqual(decodePathFrame(buf.subarray(5, 25)), { type: PathFrameType.PathProbe, id: 1n, sentAtMs: 2 });
    throwsWire(() => encodePathFrameInto({ type: PathFrameType.PathProbe, id: 1n, sentAtMs: 2 }, buf, 11), 'SM_ERR_WIRE_LENGTH');
  });

  it('refuses wrong sizes, types, versions, reserved bytes and fields', () => {
    const req = encodePathFrame({ type: PathFrameType.PathRequest, sessionId: filled(16, 1), challenge: filled(32, 2), timestampMs: 3 });
    throwsWire(() => decodePathFrame(req.subarray(0, 59)), 'SM_ERR_WIRE_LENGTH');
    const longer = new Uint8Array(61);
    longer.set(req);
    throwsWire(() => decodePathFrame(longer), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePathFrame(new Uint8Array(200).fill(1)), 'SM_ERR_WIRE_TOO_LARGE');
    const bad = req.slice();
    bad[0] = 2;
    throwsWire(() => decodePathFrame(bad), 'SM_ERR_WIRE_VERSION');
    const reserved = req.slice();
    reserved[3] = 1;
    throwsWire(() => decodePathFrame(reserved), 'SM_ERR_WIRE_RESERVED');
    const data = req.slice();
    data[1] = FrameType.Data;
    throwsWire(() => decodePathFrame(data), 'SM_ERR_WIRE_TYPE');
    const bigTs = req.slice();
    bigTs.fill(0xff, 52, 60);
    throwsWire(() => decodePathFrame(bigTs), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePathFrame({ type: PathFrameType.PathRequest, sessionId: filled(15, 1), challenge: filled(32, 2), timestampMs: 3 }), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodePathFrame({ type: PathFrameType.PathProbe, id: -1n, sentAtMs: 0 }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePathFrame({ type: 0x24 } as unknown as PathFrame), 'SM_ERR_WIRE_TYPE');
  });

  it('relay and peer decoders keep refusing path frames', () => {
    const probe = encodePathFrame({ type: PathFrameType.PathProbe, id: 1n, sentAtMs: 2 });
    throwsWire(() => decodePeerFrame(probe), 'SM_ERR_WIRE_TYPE');
    throwsWire(() => decodeRelayFrame(probe), 'SM_ERR_WIRE_TYPE');
    assert.ok(isPathFrameType(0x25) && isPathFrameType(0x29) && !isPathFrameType(0x24) && !isPathFrameType(0x2a));
    assert.ok(isPathAuthFrameType(0x27) && !isPathAuthFrameType(0x28));
  });
});

const pathFrameArb: fc.Arbitrary<PathFrame> = fc.oneof(
  fc.record({ type: fc.constant(PathFrameType.PathRequest), sessionId: fixedBytes(16), challenge: fixedBytes(32), timestampMs: safeMs }),
  fc.record({ type: fc.constant(PathFrameType.PathResponse), sessionId: fixedBytes(16), challenge: fixedBytes(32), timestampMs: safeMs, mac: fixedBytes(32) }),
  fc.record({ type: fc.constant(PathFrameType.PathComplete), mac: fixedBytes(32) }),
  fc.record({ type: fc.constant(PathFrameType.PathProbe), id: u64, sentAtMs: safeMs }),
  fc.record({ type: fc.constant(PathFrameType.PathProbeAck), id: u64, sentAtMs: safeMs }),
).map((f) => ({ ...f })) as fc.Arbitrary<PathFrame>; // plain objects, as the decoder returns

describe('path frames: properties (fuzz)', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
  it('any bytes decode or throw a WireError; input unchanged; re-encoding reproduces them', () => {
    const types = Object.values(PathFrameType);
    const bodies = [PATH_REQUEST_BYTES - 4, PATH_RESPONSE_BYTES - 4, PATH_COMPLETE_BYTES - 4, PATH_PROBE_BYTES - 4];
    const input = fc.oneof(frameLikeBytes(types, bodies), mutate(pathFrameArb.map(encodePathFrame)), fc.uint8Array({ maxLength: 120 }));
    fc.assert(
      fc.property(input, (bytes) => {
        const before = bytes.slice();
        let frame: PathFrame;
        try {
          frame = decodePathFrame(bytes);
        } catch (err) {
          assertWireErrorCode(err);
          assert.deepEqual(bytes, before);
          return;
        }
        assert.deepEqual(bytes, before, 'decoder modified its input');
        assert.deepEqual(encodePathFrame(frame), bytes);
      }),
      fuzzParams(2_000),
    );
  });

  it('decode(encode(frame)) gives the frame back', () => {
    fc.assert(
      fc.property(pathFrameArb, (frame) => {
        assert.deepEqual(decodePathFrame(encodePathFrame(frame)), frame);
      }),
      fuzzParams(1_000),
    );
  });
});
