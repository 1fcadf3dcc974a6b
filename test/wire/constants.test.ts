/**
 * Tests for src/wire/constants.ts: the sizes wire duplicates from src/crypto
 * must agree with it, and the derived frame sizes must match the layouts in
 * docs/protocol.md.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import * as crypto from '../../src/crypto/index.js';
import * as wire from '../../src/wire/constants.js';
import { MAX_SIGNED_POLICY_BYTES } from '../../src/policy/signed-policy.js';

describe('wire constants', () => {
  it('agree with src/crypto', () => {
    assert.equal(wire.HYBRID_SIGNATURE_BYTES, crypto.HYBRID_SIGNATURE_BYTES);
    assert.equal(wire.HYBRID_KEM_PUBLIC_BYTES, crypto.HYBRID_KEM_PUBLIC_BYTES);
    assert.equal(wire.HYBRID_KEM_CIPHERTEXT_BYTES, crypto.HYBRID_KEM_CIPHERTEXT_BYTES);
    assert.equal(wire.AEAD_TAG_BYTES, crypto.AEAD_TAG_BYTES);
  });

  it('match the numbers written in docs/protocol.md', () => {
    assert.equal(wire.PROTOCOL_VERSION, 1);
    assert.equal(wire.HEADER_BYTES, 4);
    assert.equal(wire.HYBRID_SIGNATURE_BYTES, 64 + 4627);
    assert.equal(wire.HYBRID_KEM_PUBLIC_BYTES, 32 + 1568);
    assert.equal(wire.HYBRID_KEM_CIPHERTEXT_BYTES, 32 + 1568);
    assert.equal(wire.MAX_FRAME_BYTES, 65_792);
    assert.equal(wire.SEND_HEADER_BYTES, 36);
    assert.equal(wire.CHALLENGE_BYTES, 44);
    assert.equal(wire.AUTH_BYTES, 4695);
    assert.equal(wire.ESTABLISHED_FIXED_BYTES + wire.IPV4_BYTES, 39);
    assert.equal(wire.ESTABLISHED_FIXED_BYTES + wire.IPV6_BYTES, 51);
    assert.equal(wire.PING_BYTES, 12);
    assert.equal(wire.UNREACHABLE_BYTES, 36);
    assert.equal(wire.PEER_UP_FIXED_BYTES, 16);
    assert.equal(wire.PEER_DOWN_BYTES, 36);
    assert.equal(wire.HS_INIT_FIXED_BYTES, 1652);
    assert.equal(wire.HS_RESP_FIXED_BYTES, 6307);
    assert.equal(wire.HS_FINISH_BYTES, 4699);
    assert.equal(wire.HS_COOKIE_BYTES, 24);
    assert.equal(wire.DATA_HEADER_BYTES, 16);
    assert.equal(wire.DATA_COUNTER_OFFSET, 8);
    assert.equal(wire.DATA_MIN_BYTES, 32);
    assert.equal(wire.MAX_PEER_FRAME_BYTES + wire.SEND_HEADER_BYTES, wire.MAX_FRAME_BYTES);
  });

  it('the POLICY blob bound is the policy layer\'s largest signed policy', () => {
    assert.equal(wire.MAX_POLICY_BLOB_BYTES, MAX_SIGNED_POLICY_BYTES);
    assert.equal(wire.MAX_POLICY_FRAME_BYTES, wire.HEADER_BYTES + 4 + MAX_SIGNED_POLICY_BYTES);
    assert.ok(wire.MAX_POLICY_FRAME_BYTES > wire.MAX_FRAME_BYTES);
  });

  it('frame type numbers are distinct and split into relay (0x01..0x11) and peer (0x21..0x24, 0x2d)', () => {
    const values = Object.values(wire.FrameType);
    assert.equal(new Set(values).size, values.length);
    assert.deepEqual(
      values.filter((t) => t < 0x20),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
    );
    assert.deepEqual(
      values.filter((t) => t >= 0x20),
      [0x21, 0x22, 0x23, 0x24, 0x2d],
    );
    assert.deepEqual(Object.values(wire.RelayErrorCode), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });
});
