/**
 * Property tests for the building blocks of src/wire: ByteWriter and
 * ByteReader agree on every field kind, ByteReader only ever throws coded
 * WireErrors on arbitrary input, and IP address text round-trips (bytes ->
 * canonical text -> bytes, any accepted text -> the same bytes).
 * Long mode: SHADOWMESH_FUZZ_SECONDS (see testkit/fuzz-config.ts).
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { ByteReader } from '../../src/wire/byte-reader.js';
import { ByteWriter } from '../../src/wire/byte-writer.js';
import { formatIpAddress, parseIpAddress } from '../../src/wire/ip-address.js';
import { ipBytes, ipv6Bytes, u16, u32, u64 } from '../../testkit/wire-arbitraries.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../testkit/fuzz-config.js';
import { assertWireErrorCode } from '../../testkit/wire-properties.js';

type Field =
  | { kind: 'u8'; value: number }
  | { kind: 'u16'; value: number }
  | { kind: 'u32'; value: number }
  | { kind: 'u64'; value: bigint }
  | { kind: 'u64Number'; value: number }
  | { kind: 'u8Bytes' | 'u16Bytes' | 'u32Bytes'; value: Uint8Array }
  | { kind: 'u8String' | 'u16String' | 'u32String'; value: string };

const text = fc.string({ unit: 'binary', maxLength: 60 });
const small = fc.uint8Array({ maxLength: 60 });
const fieldArb: fc.Arbitrary<Field> = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((value) => ({ kind: 'u8', value }) as const),
  u16.map((value) => ({ kind: 'u16', value }) as const),
  u32.map((value) => ({ kind: 'u32', value }) as const),
  u64.map((value) => ({ kind: 'u64', value }) as const),
  fc.maxSafeNat().map((value) => ({ kind: 'u64Number', value }) as const),
  fc.tuple(fc.constantFrom('u8Bytes', 'u16Bytes', 'u32Bytes'), small).map(([kind, value]) => ({ kind, value }) as const),
  fc.tuple(fc.constantFrom('u8String', 'u16String', 'u32String'), text).map(([kind, value]) => ({ kind, value }) as const),
);

function write(w: ByteWriter, f: Field): void {
  switch (f.kind) {
    case 'u8': w.u8(f.value); break;
    case 'u16': w.u16(f.value); break;
    case 'u32': w.u32(f.value); break;
    case 'u64': w.u64(f.value); break;
    case 'u64Number': w.u64Number(f.value); break;
    case 'u8Bytes': w.u8Bytes(f.value); break;
    case 'u16Bytes': w.u16Bytes(f.value); break;
    case 'u32Bytes': w.u32Bytes(f.value); break;
    case 'u8String': w.u8String(f.value); break;
    case 'u16String': w.u16String(f.value); break;
    case 'u32String': w.u32String(f.value); break;
  }
}

function read(r: ByteReader, kind: Field['kind']): Field['value'] {
  switch (kind) {
    case 'u8': return r.u8();
    case 'u16': return r.u16();
    case 'u32': return r.u32();
    case 'u64': return r.u64();
    case 'u64Number': return r.u64Number();
    case 'u8Bytes': return r.u8Bytes();
    case 'u16Bytes': return r.u16Bytes();
    case 'u32Bytes': return r.u32Bytes();
    case 'u8String': return r.u8String();
    case 'u16String': return r.u16String();
    case 'u32String': return r.u32String();
  }
}

describe('byte codec and address text: properties', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
  it('ByteReader reads back exactly what ByteWriter wrote, in both writer modes', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 12 }), fc.nat({ max: 8 }), (fields, offset) => {
        const grown = new ByteWriter();
        for (const f of fields) write(grown, f);
        const bytes = grown.finish();
        const fixed = new ByteWriter(new Uint8Array(offset + bytes.length), offset);
        for (const f of fields) write(fixed, f);
        assert.deepEqual(fixed.finish(), bytes);
        const r = new ByteReader(bytes);
        for (const f of fields) assert.deepEqual(read(r, f.kind), f.value);
        r.end();
      }),
      fuzzParams(300),
    );
  });

  it('ByteReader on arbitrary bytes returns values or throws coded WireErrors', () => {
    const kinds = fc.constantFrom<Field['kind']>(
      'u8', 'u16', 'u32', 'u64', 'u64Number', 'u8Bytes', 'u16Bytes', 'u32Bytes', 'u8String', 'u16String', 'u32String',
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), fc.array(kinds, { maxLength: 8 }), (bytes, plan) => {
        const r = new ByteReader(bytes);
        try {
          for (const kind of plan) read(r, kind);
          r.end();
        } catch (err) {
          assertWireErrorCode(err);
        }
      }),
      fuzzParams(300),
    );
  });

  it('parse(format(b)) gives b back, and format output is a fixed point', () => {
    fc.assert(
      fc.property(ipBytes, (bytes) => {
        const textForm = formatIpAddress(bytes);
        assert.equal(textForm, textForm.toLowerCase());
        const parsed = parseIpAddress(textForm);
        assert.equal(parsed.family, bytes.length === 4 ? 4 : 6);
        assert.deepEqual(parsed.bytes, bytes);
        // Independent oracle for the RFC 5952 rules: the WHATWG URL serializer
        // shortens the same run. It writes IPv4-mapped addresses in hex, so
        // those are checked by the unit tests instead.
        if (bytes.length === 16 && !textForm.includes('.')) {
          assert.equal(textForm, new URL(`http://[${textForm}]/`).hostname.slice(1, -1));
        }
      }),
      fuzzParams(300),
    );
  });

  it('every non-canonical IPv6 spelling parses to the same bytes', () => {
    fc.assert(
      fc.property(ipv6Bytes, fc.boolean(), fc.boolean(), fc.nat(), (bytes, upper, padded, cut) => {
        const groups = Array.from({ length: 8 }, (_, i) => (((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number)).toString(16));
        const spelled = groups.map((g) => (padded ? g.padStart(4, '0') : g));
        // Shorten any run of zero groups (not necessarily the canonical one) with "::".
        const zeroRuns: Array<[number, number]> = [];
        for (let i = 0; i < 8; i++) {
          if (groups[i] !== '0') continue;
          let j = i;
          while (j < 8 && groups[j] === '0') j++;
          zeroRuns.push([i, j]);
          i = j;
        }
        let textForm = spelled.join(':');
        if (zeroRuns.length > 0) {
          const [start, end] = zeroRuns[cut % zeroRuns.length] as [number, number];
          textForm = `${spelled.slice(0, start).join(':')}::${spelled.slice(end).join(':')}`;
        }
        if (upper) textForm = textForm.toUpperCase();
        assert.deepEqual(parseIpAddress(textForm).bytes, bytes, textForm);
      }),
      fuzzParams(300),
    );
  });

  it('arbitrary text is accepted canonically or rejected with SM_ERR_WIRE_FIELD', () => {
    const addressish = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%x '.split('')), maxLength: 46 });
    fc.assert(
      fc.property(fc.oneof(addressish, fc.string({ maxLength: 20 })), (candidate) => {
        let parsed;
        try {
          parsed = parseIpAddress(candidate);
        } catch (err) {
          assertWireErrorCode(err);
          assert.equal((err as { code: string }).code, 'SM_ERR_WIRE_FIELD');
          return;
        }
        assert.deepEqual(parseIpAddress(formatIpAddress(parsed.bytes)), parsed);
      }),
      fuzzParams(500),
    );
  });
});
