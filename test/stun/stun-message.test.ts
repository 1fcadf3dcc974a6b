/**
 * STUN codec (src/stun/stun-message.ts): the RFC 5769 sample messages,
 * round trips of what we encode, and strict rejection of malformed input.
 *
 * Vectors: RFC 5769 ("Test Vectors for Session Traversal Utilities for NAT
 * (STUN)", April 2010) §2.1 Sample Request, §2.2 Sample IPv4 Response and
 * §2.3 Sample IPv6 Response, typed in from the RFC's hex dumps. They carry
 * MESSAGE-INTEGRITY, which this codec does not verify: it only reports the
 * attribute as an unknown comprehension-required one.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import {
  STUN_ATTR_FINGERPRINT,
  STUN_BINDING_ERROR,
  STUN_MAGIC_COOKIE,
  decodeStunMessage,
  encodeBindingError,
  encodeBindingRequest,
  encodeBindingSuccess,
  isStunMessage,
} from '../../src/stun/stun-message.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

const RFC5769_TRANSACTION_ID = hex('b7 e7 a7 01 bc 34 d6 86 fa 87 df ae');
const RFC5769_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const RFC5769_IPV4_RESPONSE = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);
const RFC5769_IPV6_RESPONSE = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);

const TX = hex('0102030405060708090a0b0c');

function wireCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.equal((err as Error).name, 'WireError', String(err));
    return (err as { code: string }).code;
  }
  return assert.fail('expected a WireError');
}

describe('stun-message: RFC 5769 vectors', () => {
  it('§2.2 IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, SOFTWARE, good FINGERPRINT', () => {
    assert.equal(isStunMessage(RFC5769_IPV4_RESPONSE), true);
    const m = decodeStunMessage(RFC5769_IPV4_RESPONSE);
    assert.equal(m.method, 1);
    assert.equal(m.class, 'success');
    assert.deepEqual(m.transactionId, RFC5769_TRANSACTION_ID);
    assert.deepEqual(m.xorMapped, { address: '192.0.2.1', port: 32853 });
    assert.equal(m.software, 'test vector');
    assert.equal(m.fingerprintOk, true);
    assert.deepEqual(m.unknownRequired, [0x0008]); // MESSAGE-INTEGRITY, not implemented
  });

  it('§2.3 IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const m = decodeStunMessage(RFC5769_IPV6_RESPONSE);
    assert.equal(m.class, 'success');
    assert.deepEqual(m.xorMapped, { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
    assert.equal(m.fingerprintOk, true);
  });

  it('§2.1 request: Binding request, SOFTWARE, unknown required attributes listed, good FINGERPRINT', () => {
    const m = decodeStunMessage(RFC5769_REQUEST);
    assert.equal(m.class, 'request');
    assert.equal(m.method, 1);
    assert.equal(m.software, 'STUN test client');
    assert.equal(m.fingerprintOk, true);
    assert.deepEqual(m.unknownRequired, [0x0024, 0x0006, 0x0008]); // PRIORITY, USERNAME, MESSAGE-INTEGRITY
  });

  it('decoding leaves the input unchanged, also for a Buffer (whose slice() is a view)', () => {
    for (const vector of [RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]) {
      const asBuffer = Buffer.from(vector);
      decodeStunMessage(asBuffer);
      assert.deepEqual(new Uint8Array(asBuffer), vector);
      assert.equal(decodeStunMessage(asBuffer).fingerprintOk, true);
    }
  });

  it('a flipped bit before FINGERPRINT gives fingerprintOk false', () => {
    const bytes = RFC5769_IPV4_RESPONSE.slice();
    bytes[26] = (bytes[26] as number) ^ 0x01; // inside SOFTWARE text
    assert.equal(decodeStunMessage(bytes).fingerprintOk, false);
  });

  it('our encoder reproduces the §2.2 XOR-MAPPED-ADDRESS attribute bytes', () => {
    const ours = encodeBindingSuccess(RFC5769_TRANSACTION_ID, { address: '192.0.2.1', port: 32853 });
    assert.deepEqual(ours.subarray(20), RFC5769_IPV4_RESPONSE.subarray(36, 48));
    const ours6 = encodeBindingSuccess(RFC5769_TRANSACTION_ID, { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
    assert.deepEqual(ours6.subarray(20), RFC5769_IPV6_RESPONSE.subarray(36, 60));
  });
});

describe('stun-message: round trips', () => {
  it('binding request with SOFTWARE and FINGERPRINT', () => {
    const bytes = encodeBindingRequest(TX, { software: 'shadowmesh', fingerprint: true });
    assert.equal(bytes.length % 4, 0);
    assert.equal(isStunMessage(bytes), true);
    assert.equal((bytes[0] as number) << 8 | (bytes[1] as number), 0x0001);
    const m = decodeStunMessage(bytes);
    assert.equal(m.class, 'request');
    assert.deepEqual(m.transactionId, TX);
    assert.equal(m.software, 'shadowmesh');
    assert.equal(m.fingerprintOk, true);
    assert.deepEqual(m.unknownRequired, []);
    // FINGERPRINT is the last attribute.
    const at = bytes.length - 8;
    assert.equal((bytes[at] as number) << 8 | (bytes[at + 1] as number), STUN_ATTR_FINGERPRINT);
  });

  it('bare binding request is exactly a 20-byte header', () => {
    const bytes = encodeBindingRequest(TX);
    assert.equal(bytes.length, 20);
    const m = decodeStunMessage(bytes);
    assert.equal(m.fingerprintOk, undefined);
    assert.equal(m.software, undefined);
  });

  for (const mapped of [
    { address: '203.0.113.7', port: 0 },
    { address: '10.1.2.3', port: 65535 },
    { address: '::1', port: 4242 },
    { address: '::ffff:1.2.3.4', port: 9 },
    { address: 'fe80::1:2', port: 51820 },
  ]) {
    it(`success response maps ${mapped.address}:${mapped.port}`, () => {
      const bytes = encodeBindingSuccess(TX, mapped, { software: 'x', fingerprint: true });
      const m = decodeStunMessage(bytes);
      assert.equal(m.class, 'success');
      assert.deepEqual(m.xorMapped, mapped);
      assert.equal(m.fingerprintOk, true);
    });
  }

  it('error response carries its code and reason', () => {
    const bytes = encodeBindingError(TX, 420, 'Unknown Attribute', { fingerprint: true });
    assert.equal((bytes[0] as number) << 8 | (bytes[1] as number), STUN_BINDING_ERROR);
    const m = decodeStunMessage(bytes);
    assert.equal(m.class, 'error');
    assert.equal(m.errorCode, 420);
    assert.equal(m.errorReason, 'Unknown Attribute');
    assert.equal(m.fingerprintOk, true);
  });

  it('MAPPED-ADDRESS (no XOR) from old servers decodes', () => {
    const bytes = hex(`01 01 00 0c 21 12 a4 42 ${'0102030405060708090a0b0c'} 00 01 00 08 00 01 1f 90 c6 33 64 05`);
    const m = decodeStunMessage(bytes);
    assert.deepEqual(m.mapped, { address: '198.51.100.5', port: 8080 });
    assert.equal(m.xorMapped, undefined);
  });

  it('only the first of a repeated attribute counts; unknown optional attributes are skipped', () => {
    const a = encodeBindingSuccess(TX, { address: '1.2.3.4', port: 5 });
    const b = encodeBindingSuccess(TX, { address: '5.6.7.8', port: 9 });
    const extra = hex('80 99 00 03 aa bb cc 00');
    const attrs = new Uint8Array([...a.subarray(20), ...b.subarray(20), ...extra]);
    const bytes = new Uint8Array(20 + attrs.length);
    bytes.set(a.subarray(0, 20));
    bytes[2] = attrs.length >> 8;
    bytes[3] = attrs.length & 0xff;
    bytes.set(attrs, 20);
    const m = decodeStunMessage(bytes);
    assert.deepEqual(m.xorMapped, { address: '1.2.3.4', port: 5 });
    assert.deepEqual(m.unknownRequired, []);
  });
});

describe('stun-message: malformed input', () => {
  const good = encodeBindingSuccess(TX, { address: '1.2.3.4', port: 5 }, { fingerprint: true });

  it('short, wrong length field, odd length, bad cookie, top bits', () => {
    assert.equal(wireCode(() => decodeStunMessage(good.subarray(0, 19))), 'SM_ERR_WIRE_LENGTH');
    assert.equal(wireCode(() => decodeStunMessage(good.subarray(0, good.length - 4))), 'SM_ERR_WIRE_LENGTH');
    const odd = new Uint8Array([...encodeBindingRequest(TX), 0, 0]);
    odd[3] = 2;
    assert.equal(wireCode(() => decodeStunMessage(odd)), 'SM_ERR_WIRE_LENGTH');
    assert.equal(isStunMessage(odd), false);
    const cookie = good.slice();
    cookie[4] = 0x21 ^ 0xff;
    assert.equal(wireCode(() => decodeStunMessage(cookie)), 'SM_ERR_WIRE_FIELD');
    assert.equal(isStunMessage(cookie), false);
    const top = good.slice();
    top[0] = 0x41;
    assert.equal(wireCode(() => decodeStunMessage(top)), 'SM_ERR_WIRE_TYPE');
    assert.equal(isStunMessage(top), false);
  });

  it('attribute overrunning the message, bad address family and length, attribute after FINGERPRINT', () => {
    const overrun = good.slice();
    overrun[23] = 0x40; // XOR-MAPPED-ADDRESS claims 64 bytes
    assert.equal(wireCode(() => decodeStunMessage(overrun)), 'SM_ERR_WIRE_LENGTH');
    const family = encodeBindingSuccess(TX, { address: '1.2.3.4', port: 5 });
    family[25] = 0x03;
    assert.equal(wireCode(() => decodeStunMessage(family)), 'SM_ERR_WIRE_FIELD');
    const v4as6 = encodeBindingSuccess(TX, { address: '1.2.3.4', port: 5 });
    v4as6[25] = 0x02; // IPv6 family with an 8-byte value
    assert.equal(wireCode(() => decodeStunMessage(v4as6)), 'SM_ERR_WIRE_LENGTH');
    const after = new Uint8Array([...encodeBindingRequest(TX, { fingerprint: true }), ...hex('80 99 00 00')]);
    after[3] = 12;
    assert.equal(wireCode(() => decodeStunMessage(after)), 'SM_ERR_WIRE_FIELD');
  });

  it('encoder arguments are checked', () => {
    assert.equal(wireCode(() => encodeBindingRequest(new Uint8Array(11))), 'SM_ERR_WIRE_FIELD');
    assert.equal(wireCode(() => encodeBindingSuccess(TX, { address: 'host.example', port: 1 })), 'SM_ERR_WIRE_FIELD');
    assert.equal(wireCode(() => encodeBindingSuccess(TX, { address: '1.2.3.4', port: 70000 })), 'SM_ERR_WIRE_FIELD');
    assert.equal(wireCode(() => encodeBindingRequest(TX, { software: 'x'.repeat(128) })), 'SM_ERR_WIRE_FIELD');
    assert.equal(wireCode(() => encodeBindingError(TX, 200, 'no')), 'SM_ERR_WIRE_FIELD');
  });

  it('isStunMessage rejects non-STUN traffic cheaply', () => {
    assert.equal(isStunMessage(new Uint8Array(0)), false);
    assert.equal(isStunMessage(new Uint8Array(64)), false);
    assert.equal(STUN_MAGIC_COOKIE, 0x2112a442);
  });
});
