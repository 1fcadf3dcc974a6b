/**
 * Property tests for the STUN codec (src/stun/stun-message.ts), in the style
 * of test/fuzz/wire-*.test.ts: arbitrary bytes decode to a message or throw a
 * coded WireError, never anything else; mutated valid messages likewise; and
 * every encoded Binding success response decodes back to its address.
 * Long mode: SHADOWMESH_FUZZ_SECONDS (see testkit/fuzz-config.ts).
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { decodeStunMessage, encodeBindingRequest, encodeBindingSuccess, isStunMessage } from '../../src/stun/stun-message.js';
import { formatIpAddress } from '../../src/wire/ip-address.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../testkit/fuzz-config.js';
import { assertWireErrorCode } from '../../testkit/wire-properties.js';

const txArb = fc.uint8Array({ minLength: 12, maxLength: 12 });
const addrArb = fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })).map((b) => formatIpAddress(b));
const portArb = fc.integer({ min: 0, max: 65535 });

function decodeOrWireError(bytes: Uint8Array): void {
  try {
    decodeStunMessage(bytes);
    assert.equal(isStunMessage(bytes), true, 'a decodable message passes the demux test');
  } catch (err) {
    assertWireErrorCode(err);
  }
}

/** Arbitrary bytes with a plausible STUN header, so the attribute loop is reached. */
const headered = fc.tuple(fc.integer({ min: 0, max: 0x3fff }), txArb, fc.uint8Array({ maxLength: 120 }), fc.boolean()).map(([type, tx, body, fixLength]) => {
  const out = new Uint8Array(20 + body.length);
  out[0] = type >> 8;
  out[1] = type & 0xff;
  const len = fixLength ? body.length : body.length ^ 4;
  out[2] = (len >> 8) & 0xff;
  out[3] = len & 0xff;
  out.set([0x21, 0x12, 0xa4, 0x42], 4);
  out.set(tx, 8);
  out.set(body, 20);
  return out;
});

describe('stun-message properties', () => {
  it('arbitrary bytes: a message or a WireError', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodeOrWireError), fuzzParams(2000));
  });

  it('headered bytes: a message or a WireError', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    fc.assert(fc.property(headered, decodeOrWireError), fuzzParams(3000));
  });

  it('mutated valid messages: a message or a WireError', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const arb = fc.tuple(txArb, addrArb, portArb, fc.nat(), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(arb, ([tx, address, port, where, value]) => {
        const bytes = encodeBindingSuccess(tx, { address, port }, { software: 'shadowmesh', fingerprint: true });
        bytes[where % bytes.length] = value;
        decodeOrWireError(bytes);
      }),
      fuzzParams(2000),
    );
  });

  it('success responses round-trip the mapped address and transaction id', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(txArb, addrArb, portArb, fc.boolean(), (tx, address, port, fingerprint) => {
        const m = decodeStunMessage(encodeBindingSuccess(tx, { address, port }, { fingerprint }));
        assert.deepEqual(m.xorMapped, { address, port });
        assert.deepEqual(m.transactionId, tx);
        assert.equal(m.fingerprintOk, fingerprint ? true : undefined);
        const r = decodeStunMessage(encodeBindingRequest(tx, { fingerprint }));
        assert.equal(r.class, 'request');
      }),
      fuzzParams(500),
    );
  });
});
