/**
 * Unit tests for src/wire/peer-frames.ts (docs/protocol.md §2): golden bytes
 * written out by hand from the layouts, every SM_ERR_WIRE_* code provoked on
 * decode and on encode, and the in-place DATA header.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import {
  DATA_COUNTER_OFFSET,
  DATA_HEADER_BYTES,
  FrameType,
  MAX_PEER_FRAME_BYTES,
} from '../../src/wire/constants.js';
import {
  decodePeerFrame,
  encodePeerFrame,
  encodePeerFrameInto,
  initWithoutCookie,
  peerFrameSize,
  writeDataHeader,
  type PeerFrame,
} from '../../src/wire/peer-frames.js';
import { cat, filled, hex, le32 } from '../../testkit/wire-bytes.js';
import { throwsWire } from '../../testkit/expect-code.js';

const SIG = 4691;
const KEM = 1600;

const hsInit: PeerFrame = {
  type: FrameType.HsInit,
  senderIndex: 0x01020304,
  timestampMs: 1_700_000_000_000,
  nonce: filled(32, 0x4e),
  kemPublic: filled(KEM, 0x6b),
  cert: hex('c0ffee'),
};
const hsInitBytes = cat(
  hex('01 21 0000 | 04030201 | 0068e5cf8b010000'),
  filled(32, 0x4e),
  filled(KEM, 0x6b),
  hex('03000000 | c0ffee'),
);

const hsResp: PeerFrame = {
  type: FrameType.HsResp,
  senderIndex: 7,
  receiverIndex: 0xffff_ffff,
  kemCiphertext: filled(KEM, 0x63),
  cert: hex('ab'),
  signature: filled(SIG, 0x73),
};
const hsRespBytes = cat(
  hex('01 22 0000 | 07000000 | ffffffff'),
  filled(KEM, 0x63),
  hex('01000000 | ab'),
  filled(SIG, 0x73),
);

const hsFinish: PeerFrame = { type: FrameType.HsFinish, receiverIndex: 0x0a0b0c0d, signature: filled(SIG, 0x21) };
const hsFinishBytes = cat(hex('01 23 0000 | 0d0c0b0a'), filled(SIG, 0x21));

const hsCookie: PeerFrame = { type: FrameType.HsCookie, receiverIndex: 0x01020304, cookie: filled(16, 0x3c) };
const hsCookieBytes = cat(hex('01 2d 0000 | 04030201'), filled(16, 0x3c));

const dataBytes = cat(hex('01 24 0000 | 2a000000 | 0100000000000080'), filled(17, 0x99));

describe('peer frames: golden bytes', () => {
  it('HS_INIT', () => {
    assert.deepEqual(encodePeerFrame(hsInit), hsInitBytes);
    assert.equal(hsInitBytes.length, 1655);
    assert.equal(peerFrameSize(hsInit), 1655);
    assert.deepEqual(decodePeerFrame(hsInitBytes), hsInit);
  });

  it('HS_INIT with a cookie: the same frame, the cookie after the certificate', () => {
    const withCookie: PeerFrame = { ...hsInit, cookie: filled(16, 0x5a) } as PeerFrame;
    const bytes = cat(hsInitBytes, filled(16, 0x5a));
    assert.deepEqual(encodePeerFrame(withCookie), bytes);
    assert.equal(peerFrameSize(withCookie), 1671);
    assert.deepEqual(decodePeerFrame(bytes), withCookie);
    assert.equal('cookie' in decodePeerFrame(hsInitBytes), false, 'no cookie key on a plain INIT');
    const decoded = decodePeerFrame(bytes);
    assert.ok(decoded.type === FrameType.HsInit);
    assert.deepEqual(initWithoutCookie(decoded, bytes), hsInitBytes);
  });

  it('HS_COOKIE', () => {
    assert.deepEqual(encodePeerFrame(hsCookie), hsCookieBytes);
    assert.equal(hsCookieBytes.length, 24);
    assert.deepEqual(decodePeerFrame(hsCookieBytes), hsCookie);
  });

  it('HS_RESP', () => {
    assert.deepEqual(encodePeerFrame(hsResp), hsRespBytes);
    assert.equal(hsRespBytes.length, 6308);
    assert.deepEqual(decodePeerFrame(hsRespBytes), hsResp);
  });

  it('HS_FINISH', () => {
    assert.deepEqual(encodePeerFrame(hsFinish), hsFinishBytes);
    assert.equal(hsFinishBytes.length, 4699);
    assert.deepEqual(decodePeerFrame(hsFinishBytes), hsFinish);
  });

  it('DATA: header is the first 16 bytes, sealed the rest, both views', () => {
    const frame = decodePeerFrame(dataBytes);
    assert.deepEqual(frame, {
      type: FrameType.Data,
      receiverIndex: 42,
      counter: 0x8000_0000_0000_0001n,
      header: dataBytes.subarray(0, 16),
      sealed: filled(17, 0x99),
    });
    if (frame.type !== FrameType.Data) return;
    assert.equal(frame.header.buffer, dataBytes.buffer);
    assert.equal(frame.sealed.byteOffset, dataBytes.byteOffset + DATA_HEADER_BYTES);
    assert.deepEqual(encodePeerFrame(frame), dataBytes);
  });

  it('DATA encoder ignores the header field', () => {
    const frame: PeerFrame = {
      type: FrameType.Data,
      receiverIndex: 42,
      counter: 0x8000_0000_0000_0001n,
      header: filled(3, 0xff),
      sealed: filled(17, 0x99),
    };
    assert.deepEqual(encodePeerFrame(frame), dataBytes);
  });

  it('encodePeerFrameInto writes at an offset and returns the size', () => {
    const buf = filled(dataBytes.length + 5, 0xee);
    assert.equal(encodePeerFrameInto(decodePeerFrame(dataBytes), buf, 5), dataBytes.length);
    assert.deepEqual(buf.subarray(5), dataBytes);
    assert.equal(buf[4], 0xee);
    throwsWire(() => encodePeerFrameInto(hsFinish, new Uint8Array(4698), 0), 'SM_ERR_WIRE_LENGTH');
  });
});

describe('peer frames: decode errors', () => {
  it('SM_ERR_WIRE_LENGTH: short, long, or a certLen that disagrees', () => {
    throwsWire(() => decodePeerFrame(hex('01 24')), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(dataBytes.subarray(0, 31)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(hsFinishBytes.subarray(0, 4698)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(cat(hsFinishBytes, hex('00'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(cat(hsInitBytes, hex('00'))), 'SM_ERR_WIRE_LENGTH');
    // Only a whole cookie may follow the certificate.
    throwsWire(() => decodePeerFrame(cat(hsInitBytes, filled(15, 1))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(cat(hsInitBytes, filled(17, 1))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(hsCookieBytes.subarray(0, 23)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(cat(hsCookieBytes, hex('00'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(hsInitBytes.subarray(0, hsInitBytes.length - 1)), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(cat(hsRespBytes, hex('00'))), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => decodePeerFrame(hsRespBytes.subarray(0, hsRespBytes.length - 1)), 'SM_ERR_WIRE_LENGTH');
    // HS_RESP whose certLen would eat into the signature.
    const resp = hsRespBytes.slice();
    resp.set(le32(2), 1612);
    throwsWire(() => decodePeerFrame(resp), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_VERSION, SM_ERR_WIRE_TYPE, SM_ERR_WIRE_RESERVED', () => {
    throwsWire(() => decodePeerFrame(cat(hex('03 24 0000'), filled(40, 0))), 'SM_ERR_WIRE_VERSION');
    for (const t of [0x01, 0x06, 0x08, 0x0b, 0x20, 0x25, 0x00, 0xff]) {
      throwsWire(() => decodePeerFrame(cat(Uint8Array.of(1, t, 0, 0), filled(40, 0))), 'SM_ERR_WIRE_TYPE');
    }
    throwsWire(() => decodePeerFrame(cat(hex('01 24 0001'), filled(40, 0))), 'SM_ERR_WIRE_RESERVED');
  });

  it('SM_ERR_WIRE_FIELD: timestamp above 2^53 - 1, empty cert', () => {
    const late = hsInitBytes.slice();
    late.set(hex('0000000000002000'), 8);
    throwsWire(() => decodePeerFrame(late), 'SM_ERR_WIRE_FIELD');
    const noCert = cat(hsInitBytes.subarray(0, 1648), le32(0), hex('00'));
    throwsWire(() => decodePeerFrame(noCert), 'SM_ERR_WIRE_FIELD');
  });

  it('SM_ERR_WIRE_TOO_LARGE: frame above MAX_PEER_FRAME_BYTES, cert above MAX_CERT_BYTES', () => {
    const max = cat(hex('01 24 0000'), filled(MAX_PEER_FRAME_BYTES - 4, 0));
    assert.equal(decodePeerFrame(max).type, FrameType.Data);
    throwsWire(() => decodePeerFrame(cat(max, hex('00'))), 'SM_ERR_WIRE_TOO_LARGE');
    const bigCert = cat(hsInitBytes.subarray(0, 1648), le32(8193), filled(8193, 1));
    throwsWire(() => decodePeerFrame(bigCert), 'SM_ERR_WIRE_TOO_LARGE');
  });
});

describe('peer frames: encode errors', () => {
  it('SM_ERR_WIRE_LENGTH: fixed fields of the wrong size', () => {
    throwsWire(() => encodePeerFrame({ ...hsInit, nonce: filled(31, 0) } as PeerFrame), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodePeerFrame({ ...hsInit, kemPublic: filled(1568, 0) } as PeerFrame), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodePeerFrame({ ...hsResp, kemCiphertext: filled(1601, 0) } as PeerFrame), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodePeerFrame({ ...hsResp, signature: filled(64, 0) } as PeerFrame), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodePeerFrame({ ...hsFinish, signature: filled(4627, 0) } as PeerFrame), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodePeerFrame({ ...hsInit, cookie: filled(15, 0) } as PeerFrame), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => encodePeerFrame({ ...hsCookie, cookie: filled(32, 0) } as PeerFrame), 'SM_ERR_WIRE_LENGTH');
  });

  it('SM_ERR_WIRE_FIELD: indices, timestamp, counter, empty cert, short sealed', () => {
    throwsWire(() => encodePeerFrame({ ...hsInit, senderIndex: 2 ** 32 } as PeerFrame), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePeerFrame({ ...hsInit, timestampMs: 2 ** 53 } as PeerFrame), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePeerFrame({ ...hsInit, cert: new Uint8Array(0) } as PeerFrame), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePeerFrame({ ...hsResp, receiverIndex: -1 } as PeerFrame), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePeerFrame({ ...hsFinish, receiverIndex: 0.5 } as PeerFrame), 'SM_ERR_WIRE_FIELD');
    const data = { type: FrameType.Data, receiverIndex: 1, counter: 0n, header: new Uint8Array(0), sealed: filled(16, 0) } as const;
    assert.equal(encodePeerFrame(data).length, 32);
    throwsWire(() => encodePeerFrame({ ...data, sealed: filled(15, 0) }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePeerFrame({ ...data, counter: 1n << 64n }), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => encodePeerFrame({ ...data, counter: -1n }), 'SM_ERR_WIRE_FIELD');
  });

  it('SM_ERR_WIRE_TOO_LARGE: cert or sealed above its limit', () => {
    throwsWire(() => encodePeerFrame({ ...hsResp, cert: filled(8193, 0) } as PeerFrame), 'SM_ERR_WIRE_TOO_LARGE');
    const data = { type: FrameType.Data, receiverIndex: 1, counter: 0n, header: new Uint8Array(0) } as const;
    throwsWire(() => encodePeerFrame({ ...data, sealed: filled(MAX_PEER_FRAME_BYTES - 15, 0) }), 'SM_ERR_WIRE_TOO_LARGE');
    assert.equal(encodePeerFrame({ ...data, sealed: filled(MAX_PEER_FRAME_BYTES - 16, 0) }).length, MAX_PEER_FRAME_BYTES);
  });

  it('SM_ERR_WIRE_TYPE: a relay frame type', () => {
    throwsWire(() => encodePeerFrame({ type: FrameType.Ping, nonce: 1n } as unknown as PeerFrame), 'SM_ERR_WIRE_TYPE');
  });
});

describe('writeDataHeader', () => {
  it('writes version, type, zero reserved and index; leaves the counter alone', () => {
    const buf = filled(40, 0xee);
    writeDataHeader(buf, 4, 0x11223344);
    assert.deepEqual(buf.subarray(4, 12), hex('01 24 0000 | 44332211'));
    assert.deepEqual(buf.subarray(4 + DATA_COUNTER_OFFSET, 4 + 16), filled(8, 0xee));
    assert.equal(buf[3], 0xee);
  });

  it('rejects an index outside u32 and a buffer without room', () => {
    throwsWire(() => writeDataHeader(new Uint8Array(16), 0, 2 ** 32), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => writeDataHeader(new Uint8Array(16), 0, -1), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => writeDataHeader(new Uint8Array(16), 1, 0), 'SM_ERR_WIRE_LENGTH');
    writeDataHeader(new Uint8Array(16), 0, 0xffff_ffff);
  });
});
