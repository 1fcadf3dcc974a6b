/**
 * Unit tests for src/wire/relay-frames.ts (docs/protocol.md §1): golden bytes
 * written out by hand from the layouts, every SM_ERR_WIRE_* code provoked on
 * decode and on encode, and the SEND / DELIVER hot-path header.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import {
  FrameType,
  MAX_FRAME_BYTES,
  MAX_POLICY_BLOB_BYTES,
  MAX_POLICY_FRAME_BYTES,
  MAX_SEND_PAYLOAD_BYTES,
  MAX_TEXT_BYTES,
  RelayErrorCode,
  SEND_HEADER_BYTES,
} from '../../src/wire/constants.js';
import {
  decodeRelayFrame,
  encodeRelayFrame,
  encodeRelayFrameInto,
  relayFrameSize,
  writeRelayHeader,
  type RelayFrame,
} from '../../src/wire/relay-frames.js';
import { decodePeerFrame } from '../../src/wire/peer-frames.js';
import { cat, filled, hex, le32 } from '../../testkit/wire-bytes.js';
import { throwsWire } from '../../testkit/expect-code.js';

const SIG_BYTES = 4691;

/** Golden frames: [name, frame, bytes drawn from the layout]. */
const GOLDEN: Array<[string, RelayFrame, Uint8Array]> = [
  [
    'HELLO',
    { type: FrameType.Hello, clientNonce: filled(32, 0x22), cert: Uint8Array.of(0xde, 0xad) },
    cat(hex('01 01 0000'), filled(32, 0x22), hex('02000000 | dead')),
  ],
  [
    'CHALLENGE',
    { type: FrameType.Challenge, serverNonce: filled(32, 0xaa), relayTimeMs: 1_700_000_000_000 },
    cat(hex('01 02 0000'), filled(32, 0xaa), hex('0068e5cf 8b010000')),
  ],
  [
    'AUTH',
    { type: FrameType.Auth, signature: filled(SIG_BYTES, 0x5c) },
    cat(hex('01 03 0000'), filled(SIG_BYTES, 0x5c)),
  ],
  [
    'ESTABLISHED IPv4',
    {
      type: FrameType.Established,
      sessionId: filled(16, 0x11),
      heartbeatMs: 15_000,
      idleTimeoutMs: 60_000,
      maxFrameBytes: 65_792,
      observedAddress: '203.0.113.7',
      observedPort: 51_820,
    },
    cat(hex('01 04 0000'), filled(16, 0x11), hex('983a0000 | 60ea0000 | 00010100 | 6cca | 04 | cb007107')),
  ],
  [
    'ESTABLISHED IPv6',
    {
      type: FrameType.Established,
      sessionId: filled(16, 0x01),
      heartbeatMs: 1,
      idleTimeoutMs: 2,
      maxFrameBytes: 3,
      observedAddress: '2001:db8::1',
      observedPort: 443,
    },
    cat(
      hex('01 04 0000'),
      filled(16, 0x01),
      hex('01000000 | 02000000 | 03000000 | bb01 | 06 | 20010db8 00000000 00000000 00000001'),
    ),
  ],
  [
    'ERROR',
    { type: FrameType.Error, code: RelayErrorCode.FrameTooLarge, message: 'too big' },
    hex('01 05 0000 | 0800 | 0700 | 746f6f20626967'),
  ],
  ['PING', { type: FrameType.Ping, nonce: 0x0102030405060708n }, hex('01 06 0000 | 0807060504030201')],
  ['PONG', { type: FrameType.Pong, nonce: 0xffff_ffff_ffff_ffffn }, hex('01 07 0000 | ffffffffffffffff')],
  [
    'SEND',
    { type: FrameType.Send, peerId: filled(32, 0x33), payload: Uint8Array.of(0x01) },
    cat(hex('01 08 0000'), filled(32, 0x33), hex('01')),
  ],
  [
    'DELIVER',
    { type: FrameType.Deliver, peerId: filled(32, 0x44), payload: Uint8Array.of(9, 8, 7) },
    cat(hex('01 09 0000'), filled(32, 0x44), hex('090807')),
  ],
  [
    'CLOSE',
    { type: FrameType.Close, code: RelayErrorCode.Replaced, reason: 'é' },
    hex('01 0a 0000 | 0a00 | 0200 | c3a9'),
  ],
  ['UNREACHABLE', { type: FrameType.Unreachable, peerId: filled(32, 0x55) }, cat(hex('01 0b 0000'), filled(32, 0x55))],
  [
    'PEER_UP',
    { type: FrameType.PeerUp, onlineSinceMs: 1_700_000_000_000, cert: Uint8Array.of(0xbe, 0xef, 0x01) },
    hex('01 0c 0000 | 0068e5cf 8b010000 | 03000000 | beef01'),
  ],
  ['PEER_DOWN', { type: FrameType.PeerDown, peerId: filled(32, 0x66) }, cat(hex('01 0d 0000'), filled(32, 0x66))],
  ['POLICY', { type: FrameType.Policy, blob: Uint8Array.of(0x01, 0x04, 0x00) }, hex('01 0e 0000 | 03000000 | 010400')],
];

describe('relay frames: golden bytes', () => {
  for (const [name, frame, bytes] of GOLDEN) {
    it(`${name} encodes to the drawn layout and decodes back`, () => {
      assert.deepEqual(encodeRelayFrame(frame), bytes);
      assert.equal(relayFrameSize(frame), bytes.length);
      assert.deepEqual(decodeRelayFrame(bytes), frame);
    });
  }

  it('encodeRelayFrameInto writes at an offset and returns the size', () => {
    const frame: RelayFrame = { type: FrameType.Ping, nonce: 5n };
    const buf = filled(20, 0xee);
    assert.equal(encodeRelayFrameInto(frame, buf, 3), 12);
    assert.deepEqual(buf.subarray(3, 15), hex('01 06 0000 | 0500000000000000'));
    assert.equal(buf[2], 0xee);
    assert.equal(buf[15], 0xee);
    throwsWire(() => encodeRelayFrameInto(frame, new Uint8Array(14), 3), 'SM_ERR_WIRE_LENGTH');
  });

  it('decoded byte fields are views of the input, and the input is unchanged', () => {
    const bytes = cat(hex('01 08 0000'), filled(32, 0x33), hex('0102'));
    const copy = bytes.slice();
    const frame = decodeRelayFrame(bytes);
    assert.equal(frame.type, FrameType.Send);
    if (frame.type !== FrameType.Send) return;
    assert.equal(frame.payload.buffer, bytes.buffer);
    assert.equal(frame.payload.byteOffset, bytes.byteOffset + 36);
    assert.deepEqual(bytes, copy);
    bytes[36] = 0x7f;
    assert.equal(frame.payload[0], 0x7f);
  });

  it('decodes from a view with a non-zero byteOffset', () => {
    const outer = cat(filled(7, 0xff), hex('01 06 0000 | 0100000000000000'), filled(3, 0xff));
    assert.deepEqual(decodeRelayFrame(outer.subarray(7, 19)), { type: FrameType.Ping, nonce: 1n });
  });

  it('canonicalises the observed address text', () => {
    const frame = decodeRelayFrame(
      encodeRelayFrame({
        type: FrameType.Established,
        sessionId: filled(16, 0),
        heartbeatMs: 0,
        idleTimeoutMs: 0,
        maxFrameBytes: 0,
        observedAddress: '2001:0DB8:0:0:0:0:0:0001',
        observedPort: 0,
      }),
    );
    assert.equal(frame.type === FrameType.Established && frame.observedAddress, '2001:db8::1');
  });

  it('keeps a leading BOM in text so re-encoding is exact', () => {
    const bytes = hex('01 05 0000 | 0100 | 0400 | efbbbf41');
    const frame = decodeRelayFrame(bytes);
    assert.deepEqual(frame, { type: FrameType.Error, code: 1, message: '\ufeffA' });
    assert.deepEqual(encodeRelayFrame(frame), bytes);
  });
});

describe('relay frames: decode errors', () => {
  const ping = hex('01 06 0000 | 0807060504030201');

  it('SM_ERR_WIRE_LENGTH: shorter than the header, or wrong size for the type', () => {
    throwsWire(() => decodeRelayFrame(new Uint8Array(0)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(hex('01 06 00')), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(ping.subarray(0, 11)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(ping, hex('00'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(hex('01 02 0000')), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 03 0000'), filled(SIG_BYTES - 1, 0))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 0b 0000'), filled(33, 0))), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_LENGTH: SEND / DELIVER with an empty payload', () => {
    throwsWire(() => decodeRelayFrame(cat(hex('01 08 0000'), filled(32, 1))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 09 0000'), filled(20, 1))), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_LENGTH: HELLO certLen disagrees with the bytes', () => {
    const nonce = filled(32, 0);
    throwsWire(() => decodeRelayFrame(cat(hex('01 01 0000'), nonce, le32(3), hex('aabb'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 01 0000'), nonce, le32(1), hex('aabb'))), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_LENGTH: ESTABLISHED address size disagrees with the family', () => {
    const head = cat(hex('01 04 0000'), filled(16, 0), filled(12, 0), hex('0000'));
    throwsWire(() => decodeRelayFrame(cat(head, hex('04'), filled(16, 0))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(head, hex('06'), filled(4, 0))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(head), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_LENGTH: ERROR / CLOSE text length disagrees with the bytes', () => {
    throwsWire(() => decodeRelayFrame(hex('01 05 0000 | 0100 | 0300 | 4142')), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(hex('01 0a 0000 | 0100 | 0100 | 4142')), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(hex('01 0a 0000 | 0100 | 00')), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_VERSION: version byte is not 1', () => {
    throwsWire(() => decodeRelayFrame(hex('00 06 0000 | 0807060504030201')), 'SM_ERR_WIRE_VERSION');
    throwsWire(() => decodeRelayFrame(hex('02 06 0000 | 0807060504030201')), 'SM_ERR_WIRE_VERSION');
  });

  it('SM_ERR_WIRE_TYPE: unknown types and peer-frame types', () => {
    for (const t of [0x00, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0xff]) {
      throwsWire(() => decodeRelayFrame(cat(Uint8Array.of(1, t, 0, 0), filled(40, 0))), 'SM_ERR_WIRE_TYPE');
    }
  });

  it('SM_ERR_WIRE_RESERVED: reserved header bytes not zero', () => {
    throwsWire(() => decodeRelayFrame(hex('01 06 0100 | 0807060504030201')), 'SM_ERR_WIRE_RESERVED');
    throwsWire(() => decodeRelayFrame(hex('01 06 0080 | 0807060504030201')), 'SM_ERR_WIRE_RESERVED');
  });

  it('checks in the spec order: length, version, type, reserved', () => {
    throwsWire(() => decodeRelayFrame(hex('02 ff 01')), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(hex('02 ff 0101')), 'SM_ERR_WIRE_VERSION');
    throwsWire(() => decodeRelayFrame(hex('01 ff 0101')), 'SM_ERR_WIRE_TYPE');
    throwsWire(() => decodeRelayFrame(hex('01 06 0101')), 'SM_ERR_WIRE_RESERVED');
  });

  it('SM_ERR_WIRE_FIELD: relayTimeMs above 2^53 - 1', () => {
    const ok = cat(hex('01 02 0000'), filled(32, 0), hex('ffffffffffff1f00'));
    assert.equal(decodeRelayFrame(ok).type, FrameType.Challenge);
    const bad = cat(hex('01 02 0000'), filled(32, 0), hex('0000000000002000'));
    throwsWire(() => decodeRelayFrame(bad), 'SM_ERR_WIRE_FIELD');
  });

  it('SM_ERR_WIRE_FIELD: ESTABLISHED family other than 4 or 6', () => {
    const head = cat(hex('01 04 0000'), filled(16, 0), filled(12, 0), hex('0000'));
    for (const family of [0, 5, 41]) {
      throwsWire(() => decodeRelayFrame(cat(head, Uint8Array.of(family), filled(4, 0))), 'SM_ERR_WIRE_FIELD');
    }
  });

  it('SM_ERR_WIRE_FIELD: invalid UTF-8 text', () => {
    for (const text of ['ff', 'c080', 'eda080', 'e282', 'f4908080']) {
      const body = hex(text);
      const frame = cat(hex('01 05 0000 | 0100'), Uint8Array.of(body.length, 0), body);
      throwsWire(() => decodeRelayFrame(frame), 'SM_ERR_WIRE_FIELD');
    }
  });

  it('SM_ERR_WIRE_FIELD: HELLO with an empty certificate', () => {
    throwsWire(() => decodeRelayFrame(cat(hex('01 01 0000'), filled(32, 0), le32(0), hex('00'))), 'SM_ERR_WIRE_FIELD');
  });

  it('SM_ERR_WIRE_TOO_LARGE: frame, certificate or text above its limit', () => {
    const big = cat(hex('01 08 0000'), filled(MAX_FRAME_BYTES - 3, 0));
    throwsWire(() => decodeRelayFrame(big), 'SM_ERR_WIRE_TOO_LARGE');
    const max = cat(hex('01 08 0000'), filled(MAX_FRAME_BYTES - 4, 0));
    assert.equal(decodeRelayFrame(max).type, FrameType.Send);
    throwsWire(
      () => decodeRelayFrame(cat(hex('01 01 0000'), filled(32, 0), le32(8193), filled(8193, 1))),
      'SM_ERR_WIRE_TOO_LARGE',
    );
    const text = filled(MAX_TEXT_BYTES + 1, 0x41);
    throwsWire(() => decodeRelayFrame(cat(hex('01 0a 0000 | 0100 | 0102'), text)), 'SM_ERR_WIRE_TOO_LARGE');
    const okText = filled(MAX_TEXT_BYTES, 0x41);
    assert.equal(decodeRelayFrame(cat(hex('01 0a 0000 | 0100 | 0002'), okText)).type, FrameType.Close);
  });

  it('accepts error codes outside the known table', () => {
    assert.deepEqual(decodeRelayFrame(hex('01 05 0000 | ffff | 0000')), {
      type: FrameType.Error,
      code: 0xffff,
      message: '',
    });
  });
});

describe('relay frames: presence (PEER_UP / PEER_DOWN)', () => {
  const up = (since: Uint8Array, len: Uint8Array, cert: Uint8Array): Uint8Array => cat(hex('01 0c 0000'), since, len, cert);
  const zeroMs = filled(8, 0);

  it('PEER_UP cert and PEER_DOWN peerId are views of the input', () => {
    const bytes = up(zeroMs, le32(2), hex('abcd'));
    const f = decodeRelayFrame(bytes);
    assert.equal(f.type, FrameType.PeerUp);
    if (f.type !== FrameType.PeerUp) return;
    assert.equal(f.cert.buffer, bytes.buffer);
    assert.equal(f.cert.byteOffset, bytes.byteOffset + 16);
    const down = cat(hex('01 0d 0000'), filled(32, 7));
    const d = decodeRelayFrame(down);
    assert.ok(d.type === FrameType.PeerDown && d.peerId.buffer === down.buffer && d.peerId.byteOffset === 4);
  });

  it('PEER_UP accepts a certificate of exactly MAX_CERT_BYTES and onlineSinceMs up to 2^53 - 1', () => {
    const f = decodeRelayFrame(up(hex('ffffffffffff1f00'), le32(8192), filled(8192, 3)));
    assert.ok(f.type === FrameType.PeerUp && f.cert.length === 8192 && f.onlineSinceMs === Number.MAX_SAFE_INTEGER);
  });

  it('SM_ERR_WIRE_LENGTH: PEER_UP certLen disagrees with the bytes, PEER_DOWN of the wrong size', () => {
    throwsWire(() => decodeRelayFrame(up(zeroMs, le32(3), hex('abcd'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(up(zeroMs, le32(1), hex('abcd'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 0c 0000'), zeroMs, le32(0))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 0c 0000'), zeroMs)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 0d 0000'), filled(31, 0))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(cat(hex('01 0d 0000'), filled(33, 0))), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_FIELD: PEER_UP with an empty certificate or onlineSinceMs above 2^53 - 1', () => {
    throwsWire(() => decodeRelayFrame(up(zeroMs, le32(0), hex('00'))), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => decodeRelayFrame(up(hex('0000000000002000'), le32(1), hex('00'))), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.PeerUp, onlineSinceMs: 0, cert: new Uint8Array(0) }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.PeerUp, onlineSinceMs: -1, cert: hex('00') }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.PeerUp, onlineSinceMs: 2 ** 53, cert: hex('00') }), 'SM_ERR_WIRE_FIELD');
  });

  it('SM_ERR_WIRE_TOO_LARGE: PEER_UP certificate above MAX_CERT_BYTES, checked before the bytes that remain', () => {
    throwsWire(() => decodeRelayFrame(up(zeroMs, le32(8193), filled(8193, 1))), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => decodeRelayFrame(up(zeroMs, le32(0xffff_ffff), hex('00'))), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => encodeRelayFrame({ type: FrameType.PeerUp, onlineSinceMs: 0, cert: filled(8193, 1) }), 'SM_ERR_WIRE_TOO_LARGE');
  });

  it('SM_ERR_WIRE_LENGTH: PEER_DOWN peerId of the wrong size on encode', () => {
    throwsWire(() => encodeRelayFrame({ type: FrameType.PeerDown, peerId: filled(31, 0) }), 'SM_ERR_WIRE_LENGTH');
  });

  it('are relay frames, never peer frames', () => {
    throwsWire(() => decodePeerFrame(up(zeroMs, le32(1), hex('00'))), 'SM_ERR_WIRE_TYPE');
    throwsWire(() => decodePeerFrame(cat(hex('01 0d 0000'), filled(32, 0))), 'SM_ERR_WIRE_TYPE');
  });
});

describe('relay frames: encode errors', () => {
  const est = {
    type: FrameType.Established,
    sessionId: filled(16, 0),
    heartbeatMs: 1,
    idleTimeoutMs: 1,
    maxFrameBytes: 1,
    observedAddress: '10.0.0.1',
    observedPort: 1,
  } as const;

  it('SM_ERR_WIRE_LENGTH: fixed fields of the wrong size', () => {
    throwsWire(() => encodeRelayFrame({ type: FrameType.Hello, clientNonce: filled(31, 0), cert: filled(1, 0) }), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Challenge, serverNonce: filled(33, 0), relayTimeMs: 0 }), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Auth, signature: filled(SIG_BYTES + 1, 0) }), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodeRelayFrame({ ...est, sessionId: filled(15, 0) }), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Send, peerId: filled(31, 0), payload: filled(1, 0) }), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Unreachable, peerId: filled(0, 0) }), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_FIELD: values out of range, empty cert or payload, bad address or text', () => {
    throwsWire(() => encodeRelayFrame({ type: FrameType.Hello, clientNonce: filled(32, 0), cert: filled(0, 0) }), 'SM_ERR_WIRE_FIELD');
    throwsWire(
      () => encodeRelayFrame({ type: FrameType.Challenge, serverNonce: filled(32, 0), relayTimeMs: Number.MAX_SAFE_INTEGER + 1 }),
      'SM_ERR_WIRE_FIELD',
    );
    throwsWire(() => encodeRelayFrame({ type: FrameType.Challenge, serverNonce: filled(32, 0), relayTimeMs: -1 }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Challenge, serverNonce: filled(32, 0), relayTimeMs: 1.5 }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ ...est, observedPort: 65_536 }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ ...est, observedPort: -1 }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ ...est, heartbeatMs: 2 ** 32 }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ ...est, idleTimeoutMs: Number.NaN }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ ...est, observedAddress: 'localhost' }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ ...est, observedAddress: '10.0.0.256' }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Error, code: 65_536, message: '' }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Close, code: 1, reason: 'a\ud800b' }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Ping, nonce: -1n }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Pong, nonce: 1n << 64n }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Deliver, peerId: filled(32, 0), payload: filled(0, 0) }), 'SM_ERR_WIRE_FIELD');
  });

  it('SM_ERR_WIRE_TOO_LARGE: cert, text or payload above its limit', () => {
    throwsWire(() => encodeRelayFrame({ type: FrameType.Hello, clientNonce: filled(32, 0), cert: filled(8193, 0) }), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Error, code: 1, message: 'é'.repeat(257) }), 'SM_ERR_WIRE_TOO_LARGE');
    assert.equal(encodeRelayFrame({ type: FrameType.Error, code: 1, message: 'é'.repeat(256) }).length, 8 + 512);
    throwsWire(
      () => encodeRelayFrame({ type: FrameType.Send, peerId: filled(32, 0), payload: filled(MAX_SEND_PAYLOAD_BYTES + 1, 0) }),
      'SM_ERR_WIRE_TOO_LARGE',
    );
    assert.equal(
      encodeRelayFrame({ type: FrameType.Send, peerId: filled(32, 0), payload: filled(MAX_SEND_PAYLOAD_BYTES, 0) }).length,
      MAX_FRAME_BYTES,
    );
  });

  it('SM_ERR_WIRE_TYPE: a type that is not a relay frame', () => {
    const peer = { type: FrameType.HsFinish, receiverIndex: 0, signature: filled(SIG_BYTES, 0) };
    throwsWire(() => encodeRelayFrame(peer as unknown as RelayFrame), 'SM_ERR_WIRE_TYPE');
    throwsWire(() => relayFrameSize({ type: 0x77 } as unknown as RelayFrame), 'SM_ERR_WIRE_TYPE');
  });
});

describe('writeRelayHeader', () => {
  it('writes the 36-byte SEND / DELIVER prefix in front of a placed payload', () => {
    const buf = filled(40, 0xee);
    buf.set(hex('cafe'), 2 + SEND_HEADER_BYTES);
    assert.equal(writeRelayHeader(buf, 2, FrameType.Send, filled(32, 0x33)), 36);
    const frame = buf.subarray(2, 2 + 38);
    assert.deepEqual(frame, cat(hex('01 08 0000'), filled(32, 0x33), hex('cafe')));
    assert.deepEqual(decodeRelayFrame(frame), { type: FrameType.Send, peerId: filled(32, 0x33), payload: hex('cafe') });
    assert.equal(writeRelayHeader(buf, 0, FrameType.Deliver, filled(32, 1)), 36);
    assert.equal(buf[1], FrameType.Deliver);
  });

  it('rejects another type, a bad peer id and a buffer without room', () => {
    const buf = new Uint8Array(64);
    throwsWire(() => writeRelayHeader(buf, 0, FrameType.Ping as unknown as typeof FrameType.Send, filled(32, 0)), 'SM_ERR_WIRE_TYPE');
    throwsWire(() => writeRelayHeader(buf, 0, FrameType.Send, filled(33, 0)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => writeRelayHeader(buf, 29, FrameType.Send, filled(32, 0)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => writeRelayHeader(buf, -1, FrameType.Send, filled(32, 0)), 'SM_ERR_WIRE_LENGTH');
    assert.equal(writeRelayHeader(buf, 28, FrameType.Send, filled(32, 0)), 36);
  });
});

describe('relay frames: POLICY (the signed network policy, relay -> node)', () => {
  const policy = (len: Uint8Array, blob: Uint8Array): Uint8Array => cat(hex('01 0e 0000'), len, blob);

  it('the blob is a view of the input', () => {
    const bytes = policy(le32(3), hex('aabbcc'));
    const f = decodeRelayFrame(bytes);
    assert.ok(f.type === FrameType.Policy && f.blob.buffer === bytes.buffer && f.blob.byteOffset === bytes.byteOffset + 8);
  });

  it('only POLICY may exceed MAX_FRAME_BYTES, up to MAX_POLICY_FRAME_BYTES', () => {
    const big = new Uint8Array(MAX_POLICY_BLOB_BYTES).fill(0x5a);
    const bytes = encodeRelayFrame({ type: FrameType.Policy, blob: big });
    assert.equal(bytes.length, MAX_POLICY_FRAME_BYTES);
    const f = decodeRelayFrame(bytes);
    assert.ok(f.type === FrameType.Policy && f.blob.length === MAX_POLICY_BLOB_BYTES);
    // One byte more than the bound: refused by size before anything is read.
    throwsWire(() => decodeRelayFrame(cat(bytes, Uint8Array.of(0))), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Policy, blob: new Uint8Array(MAX_POLICY_BLOB_BYTES + 1) }), 'SM_ERR_WIRE_TOO_LARGE');
    // Any other type at that size is too large, as before POLICY existed.
    const send = new Uint8Array(MAX_FRAME_BYTES + 1);
    send.set(hex('01 08 0000'));
    throwsWire(() => decodeRelayFrame(send), 'SM_ERR_WIRE_TOO_LARGE');
  });

  it('a declared length over the bound, an empty blob, a short or long frame are refused', () => {
    throwsWire(() => decodeRelayFrame(policy(le32(MAX_POLICY_BLOB_BYTES + 1), hex('00'))), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => decodeRelayFrame(policy(le32(0), hex('00'))), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => decodeRelayFrame(policy(le32(2), hex('00'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(policy(le32(1), hex('0000'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodeRelayFrame(hex('01 0e 0000 | 0100')), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodeRelayFrame({ type: FrameType.Policy, blob: new Uint8Array(0) }), 'SM_ERR_WIRE_FIELD');
  });
});
