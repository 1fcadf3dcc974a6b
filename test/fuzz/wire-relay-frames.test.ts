/**
 * Property tests for decodeRelayFrame / encodeRelayFrame (docs/protocol.md §1):
 *  1. any bytes decode to a frame or throw a WireError with an SM_ERR_WIRE_*
 *     code, never anything else, and never modify the input;
 *  2. decode(encode(x)) deep-equals x for every valid frame x;
 *  3. encode(decode(b)) equals b whenever b decodes;
 *  4. truncating or extending a valid frame is SM_ERR_WIRE_LENGTH (or
 *     SM_ERR_WIRE_TOO_LARGE past MAX_FRAME_BYTES, or MAX_POLICY_FRAME_BYTES
 *     for POLICY), except that SEND / DELIVER
 *     have an open-ended payload and stay valid within their bounds.
 * Long mode: SHADOWMESH_FUZZ_SECONDS (see testkit/fuzz-config.ts).
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  AUTH_BYTES,
  CHALLENGE_BYTES,
  ESTABLISHED_FIXED_BYTES,
  FrameType,
  HEADER_BYTES,
  HELLO_FIXED_BYTES,
  MAX_FRAME_BYTES,
  MAX_POLICY_FRAME_BYTES,
  PEER_DOWN_BYTES,
  PEER_UP_FIXED_BYTES,
  CERT_FIXED_BYTES,
  CERT_REQUEST_BYTES,
  PRESENCE_DOWN_ENTRY_BYTES,
  PRESENCE_FIXED_BYTES,
  PRESENCE_UP_ENTRY_BYTES,
  PING_BYTES,
  POLICY_FIXED_BYTES,
  SEND_HEADER_BYTES,
  UNREACHABLE_BYTES,
} from '../../src/wire/constants.js';
import { decodePeerFrame } from '../../src/wire/peer-frames.js';
import { decodeRelayFrame, encodeRelayFrame, type RelayFrame } from '../../src/wire/relay-frames.js';
import { frameLikeBytes, mutate, relayFrameArb } from '../../testkit/wire-arbitraries.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../testkit/fuzz-config.js';
import { assertWireErrorCode, expectLengthFailure } from '../../testkit/wire-properties.js';

const RELAY_TYPES = Object.values(FrameType).filter((t) => t < 0x20);
/** Body sizes (after the header) that some relay frame accepts. */
const BODY_SIZES = [
  CHALLENGE_BYTES - HEADER_BYTES,
  AUTH_BYTES - HEADER_BYTES,
  ESTABLISHED_FIXED_BYTES - HEADER_BYTES + 4,
  ESTABLISHED_FIXED_BYTES - HEADER_BYTES + 16,
  PING_BYTES - HEADER_BYTES,
  UNREACHABLE_BYTES - HEADER_BYTES,
  HELLO_FIXED_BYTES - HEADER_BYTES + 1,
  PEER_UP_FIXED_BYTES - HEADER_BYTES + 1,
  PEER_DOWN_BYTES - HEADER_BYTES,
  POLICY_FIXED_BYTES - HEADER_BYTES + 1,
  PRESENCE_FIXED_BYTES - HEADER_BYTES + PRESENCE_UP_ENTRY_BYTES,
  PRESENCE_FIXED_BYTES - HEADER_BYTES + PRESENCE_DOWN_ENTRY_BYTES,
  PRESENCE_FIXED_BYTES - HEADER_BYTES + PRESENCE_UP_ENTRY_BYTES + PRESENCE_DOWN_ENTRY_BYTES,
  CERT_REQUEST_BYTES - HEADER_BYTES,
  CERT_FIXED_BYTES - HEADER_BYTES + 1,
  4,
];

/** Property 1 and 3 on one input. */
function decodeIsTotal(bytes: Uint8Array): void {
  const before = bytes.slice();
  let frame: RelayFrame;
  try {
    frame = decodeRelayFrame(bytes);
  } catch (err) {
    assertWireErrorCode(err);
    assert.deepEqual(bytes, before, 'decoder modified its input');
    return;
  }
  assert.deepEqual(bytes, before, 'decoder modified its input');
  assert.deepEqual(encodeRelayFrame(frame), bytes, 're-encoding a decoded frame changed it');
}

const validBytes = relayFrameArb.map((f) => encodeRelayFrame(f));

describe('relay frames: properties', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
  it('(1, 3) arbitrary bytes: a frame that re-encodes identically, or a coded WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodeIsTotal), fuzzParams(300));
    fc.assert(fc.property(frameLikeBytes(RELAY_TYPES, BODY_SIZES), decodeIsTotal), fuzzParams(1000));
    fc.assert(fc.property(mutate(validBytes), decodeIsTotal), fuzzParams(300));
  });

  it('(2) decode(encode(x)) deep-equals x', () => {
    fc.assert(
      fc.property(relayFrameArb, (frame) => {
        assert.deepEqual(decodeRelayFrame(encodeRelayFrame(frame)), frame);
      }),
      fuzzParams(300),
    );
  });

  it('(3) encode(decode(b)) equals b for valid b', () => {
    fc.assert(fc.property(validBytes, decodeIsTotal), fuzzParams(200));
  });

  it('(4) truncated or extended frames are rejected by length', () => {
    fc.assert(
      fc.property(relayFrameArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }), (frame, cut, extra) => {
        const bytes = encodeRelayFrame(frame);
        const open = frame.type === FrameType.Send || frame.type === FrameType.Deliver;
        const shorter = bytes.subarray(0, cut % bytes.length);
        const longer = new Uint8Array(bytes.length + extra.length);
        longer.set(bytes);
        longer.set(extra, bytes.length);
        if (!open) {
          const max = frame.type === FrameType.Policy ? MAX_POLICY_FRAME_BYTES : MAX_FRAME_BYTES;
          expectLengthFailure(() => decodeRelayFrame(shorter), shorter.length, max);
          expectLengthFailure(() => decodeRelayFrame(longer), longer.length, max);
          return;
        }
        // SEND / DELIVER: the payload is the rest of the frame.
        if (shorter.length <= SEND_HEADER_BYTES) expectLengthFailure(() => decodeRelayFrame(shorter), shorter.length, MAX_FRAME_BYTES);
        else assert.equal(decodeRelayFrame(shorter).type, frame.type);
        if (longer.length > MAX_FRAME_BYTES) expectLengthFailure(() => decodeRelayFrame(longer), longer.length, MAX_FRAME_BYTES);
        else assert.equal(decodeRelayFrame(longer).type, frame.type);
      }),
      fuzzParams(200),
    );
  });

  it('valid relay frames are never accepted as peer frames', () => {
    fc.assert(
      fc.property(validBytes, (bytes) => {
        assert.throws(() => decodePeerFrame(bytes), (err: unknown) => {
          assertWireErrorCode(err);
          const code = (err as { code: string }).code;
          // A frame bigger than any peer frame may be refused by size before its type is read.
          assert.ok(code === 'SM_ERR_WIRE_TYPE' || code === 'SM_ERR_WIRE_TOO_LARGE', code);
          return true;
        });
      }),
      fuzzParams(100),
    );
  });
});
