/**
 * Tests for src/wire/byte-reader.ts: little-endian reads, views, limits in
 * the documented order, strict UTF-8, trailing-byte detection.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { ByteReader, decodeUtf8 } from '../../src/wire/byte-reader.js';
import { hex } from '../../testkit/wire-bytes.js';
import { throwsWire } from '../../testkit/expect-code.js';

describe('ByteReader', () => {
  it('reads little-endian integers and tracks the cursor', () => {
    const r = new ByteReader(hex('ff | 3412 | 78563412 | 0807060504030201 | ffffffffffffffff | ffffffff'));
    assert.equal(r.u8(), 0xff);
    assert.equal(r.u16(), 0x1234);
    assert.equal(r.u32(), 0x12345678);
    assert.equal(r.offset, 7);
    assert.equal(r.u64(), 0x0102030405060708n);
    assert.equal(r.u64(), 0xffff_ffff_ffff_ffffn);
    assert.equal(r.u32(), 0xffff_ffff);
    assert.equal(r.remaining, 0);
    r.end();
  });

  it('u64Number accepts up to 2^53 - 1 and rejects more with SM_ERR_WIRE_FIELD', () => {
    assert.equal(new ByteReader(hex('ffffffffffff1f00')).u64Number(), Number.MAX_SAFE_INTEGER);
    throwsWire(() => new ByteReader(hex('0000000000002000')).u64Number(), 'SM_ERR_WIRE_FIELD');
  });

  it('throws SM_ERR_WIRE_LENGTH instead of reading past the end', () => {
    throwsWire(() => new ByteReader(hex('')).u8(), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteReader(hex('01')).u16(), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteReader(hex('010203')).u32(), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteReader(hex('01020304050607')).u64(), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteReader(hex('0102')).bytes(3), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteReader(hex('0102'), 3), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteReader(hex('0102'), -1), 'SM_ERR_WIRE_LENGTH');
  });

  it('returns views that alias the input', () => {
    const input = hex('00 | 02 aabb | cc');
    const r = new ByteReader(input, 1);
    const v = r.u8Bytes();
    assert.deepEqual(v, hex('aabb'));
    assert.equal(v.buffer, input.buffer);
    input[2] = 0x11;
    assert.equal(v[0], 0x11);
    assert.deepEqual(r.rest(), hex('cc'));
    assert.equal(r.remaining, 0);
  });

  it('length-prefixed reads check limit, then remaining, then minimum', () => {
    assert.deepEqual(new ByteReader(hex('0300 | 616263')).u16Bytes('f', 3, 3), hex('616263'));
    assert.deepEqual(new ByteReader(hex('02000000 | 6162')).u32Bytes('f', 2, 1), hex('6162'));
    throwsWire(() => new ByteReader(hex('0400 | 61626364')).u16Bytes('f', 3), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => new ByteReader(hex('ff000000')).u32Bytes('f', 3), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => new ByteReader(hex('03 | 6162')).u8Bytes('f', 3), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteReader(hex('00')).u8Bytes('f', 3, 1), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => new ByteReader(hex('00')).u16Bytes(), 'SM_ERR_WIRE_LENGTH');
  });

  it('reads strict UTF-8 strings and keeps a leading BOM', () => {
    assert.equal(new ByteReader(hex('02 | c3a9')).u8String(), 'é');
    assert.equal(new ByteReader(hex('0400 | f09f9880')).u16String(), '\u{1f600}');
    assert.equal(new ByteReader(hex('03000000 | efbbbf')).u32String(), '\ufeff');
    for (const bad of ['80', 'c3', 'c0af', 'eda080', 'edbfbf', 'f8888080', 'fe', 'f4908080']) {
      throwsWire(() => decodeUtf8(hex(bad)), 'SM_ERR_WIRE_FIELD');
    }
    throwsWire(() => new ByteReader(hex('01 | ff')).u8String(), 'SM_ERR_WIRE_FIELD');
  });

  it('zeros() accepts zero bytes and reports others as SM_ERR_WIRE_RESERVED', () => {
    new ByteReader(hex('0000')).zeros(2);
    throwsWire(() => new ByteReader(hex('0001')).zeros(2), 'SM_ERR_WIRE_RESERVED');
    throwsWire(() => new ByteReader(hex('00')).zeros(2), 'SM_ERR_WIRE_LENGTH');
  });

  it('end() throws SM_ERR_WIRE_LENGTH on trailing bytes', () => {
    const r = new ByteReader(hex('0102'));
    r.u8();
    throwsWire(() => r.end(), 'SM_ERR_WIRE_LENGTH');
    r.u8();
    r.end();
  });
});
