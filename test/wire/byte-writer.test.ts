/**
 * Tests for src/wire/byte-writer.ts: both modes (self-sizing and caller
 * buffer), value validation with the documented codes, and agreement with
 * ByteReader.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { ByteReader } from '../../src/wire/byte-reader.js';
import { ByteWriter, encodeUtf8, isWellFormedText } from '../../src/wire/byte-writer.js';
import { filled, hex } from '../../testkit/wire-bytes.js';
import { throwsWire } from '../../testkit/expect-code.js';

describe('ByteWriter', () => {
  it('writes little-endian integers (self-sizing mode)', () => {
    const w = new ByteWriter();
    w.u8(0xff).u16(0x1234).u32(0x12345678).u64(0x0102030405060708n).u64Number(2 ** 53 - 1).zeros(2);
    assert.deepEqual(w.finish(), hex('ff | 3412 | 78563412 | 0807060504030201 | ffffffffffff1f00 | 0000'));
    assert.equal(w.length, 25);
  });

  it('grows past its first buffer and keeps what it wrote', () => {
    const w = new ByteWriter();
    const big = filled(1000, 0xab);
    w.u8(7).bytes(big).u32Bytes(big);
    const out = w.finish();
    assert.equal(out.length, 1 + 1000 + 4 + 1000);
    const r = new ByteReader(out);
    assert.equal(r.u8(), 7);
    assert.deepEqual(r.bytes(1000), big);
    assert.deepEqual(r.u32Bytes(), big);
    r.end();
  });

  it('writes into a caller buffer at an offset and stops at its end', () => {
    const buf = filled(8, 0xee);
    const w = new ByteWriter(buf, 2);
    w.u16(1).u16(2);
    assert.equal(w.offset, 6);
    assert.deepEqual(w.finish(), hex('0100 0200'));
    assert.equal(w.finish().buffer, buf.buffer);
    assert.deepEqual(buf, hex('eeee 0100 0200 eeee'));
    throwsWire(() => w.u32(0), 'SM_ERR_WIRE_LENGTH');
    w.u16(3);
    throwsWire(() => w.u8(0), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => new ByteWriter(buf, 9), 'SM_ERR_WIRE_LENGTH');
  });

  it('rejects out-of-range numbers with SM_ERR_WIRE_FIELD', () => {
    const w = new ByteWriter();
    throwsWire(() => w.u8(256), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u8(-1), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u16(65_536), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u32(2 ** 32), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u32(1.5), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u32(Number.NaN), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u64(-1n), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u64(1n << 64n), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u64(5 as unknown as bigint), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u64Number(2 ** 53), 'SM_ERR_WIRE_FIELD');
    assert.equal(w.length, 0, 'failed writes write nothing');
  });

  it('fixed and length-prefixed bytes: LENGTH for a wrong fixed size, TOO_LARGE above, FIELD below', () => {
    const w = new ByteWriter();
    w.fixedBytes(hex('0102'), 2).u8Bytes(hex('aa')).u16Bytes(hex('bb'), 'f', 1, 1);
    assert.deepEqual(w.finish(), hex('0102 | 01 aa | 0100 bb'));
    throwsWire(() => w.fixedBytes(hex('01'), 2), 'SM_ERR_WIRE_LENGTH');
    throwsWire(() => w.u8Bytes(filled(256, 0)), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => w.u16Bytes(hex('0102'), 'f', 1), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => w.u32Bytes(new Uint8Array(0), 'f', 10, 1), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.bytes('ab' as unknown as Uint8Array), 'SM_ERR_WIRE_FIELD');
  });

  it('writes UTF-8 strings whose limits count bytes, and rejects lone surrogates', () => {
    const w = new ByteWriter();
    w.u8String('é').u16String('\u{1f600}').u32String('');
    assert.deepEqual(w.finish(), hex('02 c3a9 | 0400 f09f9880 | 00000000'));
    throwsWire(() => w.u8String('éé', 'f', 3), 'SM_ERR_WIRE_TOO_LARGE');
    throwsWire(() => w.u16String('\ud800'), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u16String('\udc00x'), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => w.u16String('x\ud83d'), 'SM_ERR_WIRE_FIELD');
  });

  it('isWellFormedText and encodeUtf8', () => {
    assert.equal(isWellFormedText('a\u{1f600}b'), true);
    assert.equal(isWellFormedText('\ud83d\ude00'), true);
    assert.equal(isWellFormedText('\ude00\ud83d'), false);
    assert.deepEqual(encodeUtf8('\ufeffA'), hex('efbbbf41'));
  });
});
