/**
 * Property tests for decodePeerFrame / encodePeerFrame (docs/protocol.md §2):
 *  1. any bytes decode to a frame or throw a WireError with an SM_ERR_WIRE_*
 *     code, never anything else, and never modify the input;
 *  2. decode(encode(x)) deep-equals x for every valid frame x (DATA's header
 *     is the first 16 bytes of the encoding);
 *  3. encode(decode(b)) equals b whenever b decodes;
 *  4. truncating or extending a valid frame is SM_ERR_WIRE_LENGTH (or
 *     SM_ERR_WIRE_TOO_LARGE past MAX_PEER_FRAME_BYTES), except that DATA has
 *     an open-ended sealed part and stays valid within its bounds, and that
 *     HS_INIT's optional cookie (exactly HS_COOKIE_MAC_BYTES) may be added
 *     to or cut from its end.
 *  5. readDataFrame (the per-packet DATA reader) accepts exactly what
 *     decodePeerFrame decodes as DATA, with the same fields.
 * Long mode: SHADOWMESH_FUZZ_SECONDS (see testkit/fuzz-config.ts).
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  DATA_HEADER_BYTES,
  DATA_MIN_BYTES,
  FrameType,
  HEADER_BYTES,
  HS_COOKIE_BYTES,
  HS_COOKIE_MAC_BYTES,
  HS_FINISH_BYTES,
  HS_INIT_FIXED_BYTES,
  HS_RESP_FIXED_BYTES,
  MAX_PEER_FRAME_BYTES,
} from '../../src/wire/constants.js';
import { decodePeerFrame, encodePeerFrame, newDataFrameView, readDataFrame, writeDataHeader, type PeerFrame } from '../../src/wire/peer-frames.js';
import { decodeRelayFrame } from '../../src/wire/relay-frames.js';
import { frameLikeBytes, mutate, peerFrameArb, u32 } from '../../testkit/wire-arbitraries.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../testkit/fuzz-config.js';
import { assertWireErrorCode, expectLengthFailure } from '../../testkit/wire-properties.js';

const PEER_TYPES = Object.values(FrameType).filter((t) => t >= 0x20);
/** Body sizes (after the header) that some peer frame accepts. */
const BODY_SIZES = [
  DATA_MIN_BYTES - HEADER_BYTES,
  DATA_MIN_BYTES - HEADER_BYTES + 1,
  HS_FINISH_BYTES - HEADER_BYTES,
  HS_COOKIE_BYTES - HEADER_BYTES,
  HS_INIT_FIXED_BYTES - HEADER_BYTES + 1,
  HS_INIT_FIXED_BYTES - HEADER_BYTES + 1 + HS_COOKIE_MAC_BYTES,
  HS_RESP_FIXED_BYTES - HEADER_BYTES + 1,
];

/** Property 1 and 3 on one input. */
function decodeIsTotal(bytes: Uint8Array): void {
  const before = bytes.slice();
  let frame: PeerFrame;
  try {
    frame = decodePeerFrame(bytes);
  } catch (err) {
    assertWireErrorCode(err);
    assert.deepEqual(bytes, before, 'decoder modified its input');
    return;
  }
  assert.deepEqual(bytes, before, 'decoder modified its input');
  assert.deepEqual(encodePeerFrame(frame), bytes, 're-encoding a decoded frame changed it');
}

/** Property 5 on one input: readDataFrame agrees with decodePeerFrame's DATA case, and leaves the input alone. */
function readDataAgrees(bytes: Uint8Array): void {
  const before = bytes.slice();
  let decoded: PeerFrame | null = null;
  try {
    decoded = decodePeerFrame(bytes);
  } catch {
    // not a frame at all
  }
  const view = newDataFrameView();
  const ok = readDataFrame(bytes, view);
  assert.deepEqual(bytes, before, 'readDataFrame modified its input');
  assert.equal(ok, decoded?.type === FrameType.Data, 'readDataFrame and decodePeerFrame disagree on whether this is DATA');
  if (!ok || decoded?.type !== FrameType.Data) return;
  assert.equal(view.receiverIndex, decoded.receiverIndex);
  assert.equal(view.counter, decoded.counter);
  assert.deepEqual(view.header, decoded.header);
  assert.deepEqual(view.sealed, decoded.sealed);
  assert.equal(view.sealed.buffer, bytes.buffer, 'views, not copies');
}

/** What decoding the encoding of `frame` must give back. */
function expectedDecode(frame: PeerFrame, bytes: Uint8Array): PeerFrame {
  return frame.type === FrameType.Data ? { ...frame, header: bytes.subarray(0, DATA_HEADER_BYTES) } : frame;
}

const validBytes = peerFrameArb.map((f) => encodePeerFrame(f));

describe('peer frames: properties', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
  it('(1, 3) arbitrary bytes: a frame that re-encodes identically, or a coded WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodeIsTotal), fuzzParams(300));
    fc.assert(fc.property(frameLikeBytes(PEER_TYPES, BODY_SIZES), decodeIsTotal), fuzzParams(600));
    fc.assert(fc.property(mutate(validBytes), decodeIsTotal), fuzzParams(200));
  });

  it('(2) decode(encode(x)) deep-equals x', () => {
    fc.assert(
      fc.property(peerFrameArb, (frame) => {
        const bytes = encodePeerFrame(frame);
        assert.deepEqual(decodePeerFrame(bytes), expectedDecode(frame, bytes));
      }),
      fuzzParams(200),
    );
  });

  it('(3) encode(decode(b)) equals b for valid b', () => {
    fc.assert(fc.property(validBytes, decodeIsTotal), fuzzParams(150));
  });

  it('(4) truncated or extended frames are rejected by length', () => {
    fc.assert(
      fc.property(peerFrameArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }), (frame, cut, extra) => {
        const bytes = encodePeerFrame(frame);
        const shorter = bytes.subarray(0, cut % bytes.length);
        const longer = new Uint8Array(bytes.length + extra.length);
        longer.set(bytes);
        longer.set(extra, bytes.length);
        if (frame.type === FrameType.HsInit) {
          // The cookie is the one optional trailer: adding or cutting exactly it leaves a valid INIT.
          const hasCookie = frame.cookie !== undefined;
          if (hasCookie && shorter.length === bytes.length - HS_COOKIE_MAC_BYTES) assert.equal(decodePeerFrame(shorter).type, FrameType.HsInit);
          else expectLengthFailure(() => decodePeerFrame(shorter), shorter.length, MAX_PEER_FRAME_BYTES);
          if (!hasCookie && extra.length === HS_COOKIE_MAC_BYTES) assert.deepEqual((decodePeerFrame(longer) as { cookie?: Uint8Array }).cookie, extra);
          else expectLengthFailure(() => decodePeerFrame(longer), longer.length, MAX_PEER_FRAME_BYTES);
          return;
        }
        if (frame.type !== FrameType.Data) {
          expectLengthFailure(() => decodePeerFrame(shorter), shorter.length, MAX_PEER_FRAME_BYTES);
          expectLengthFailure(() => decodePeerFrame(longer), longer.length, MAX_PEER_FRAME_BYTES);
          return;
        }
        // DATA: sealed is the rest of the frame.
        if (shorter.length < DATA_MIN_BYTES) expectLengthFailure(() => decodePeerFrame(shorter), shorter.length, MAX_PEER_FRAME_BYTES);
        else assert.equal(decodePeerFrame(shorter).type, FrameType.Data);
        if (longer.length > MAX_PEER_FRAME_BYTES) expectLengthFailure(() => decodePeerFrame(longer), longer.length, MAX_PEER_FRAME_BYTES);
        else assert.equal(decodePeerFrame(longer).type, FrameType.Data);
      }),
      fuzzParams(150),
    );
  });

  it('writeDataHeader + counter + sealed decodes to the same index and counter', () => {
    fc.assert(
      fc.property(u32, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 16, max: 64 }), (index, counter, sealedLength) => {
        const buf = new Uint8Array(DATA_HEADER_BYTES + sealedLength).fill(0xa5);
        writeDataHeader(buf, 0, index);
        new DataView(buf.buffer).setBigUint64(8, counter, true);
        const frame = decodePeerFrame(buf);
        assert.equal(frame.type, FrameType.Data);
        if (frame.type !== FrameType.Data) return;
        assert.equal(frame.receiverIndex, index);
        assert.equal(frame.counter, counter);
        assert.equal(frame.sealed.length, sealedLength);
      }),
      fuzzParams(200),
    );
  });

  it('(5) readDataFrame accepts exactly the DATA frames decodePeerFrame decodes, with the same fields', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), readDataAgrees), fuzzParams(300));
    fc.assert(fc.property(frameLikeBytes(PEER_TYPES, BODY_SIZES), readDataAgrees), fuzzParams(600));
    fc.assert(fc.property(mutate(validBytes), readDataAgrees), fuzzParams(300));
    fc.assert(fc.property(validBytes, readDataAgrees), fuzzParams(150));
    const huge = new Uint8Array(MAX_PEER_FRAME_BYTES + 1);
    writeDataHeader(huge, 0, 1);
    readDataAgrees(huge);
    readDataAgrees(huge.subarray(0, MAX_PEER_FRAME_BYTES));
  });

  it('valid peer frames are never accepted as relay frames', () => {
    fc.assert(
      fc.property(validBytes, (bytes) => {
        assert.throws(() => decodeRelayFrame(bytes), (err: unknown) => {
          assertWireErrorCode(err);
          assert.equal((err as { code: string }).code, 'SM_ERR_WIRE_TYPE');
          return true;
        });
      }),
      fuzzParams(100),
    );
  });
});
