/**
 * Tests for src/wire/stream-frames.ts (docs/protocol.md §6): byte-exact
 * layouts, refused inputs with their codes, and properties: arbitrary bytes
 * only ever give a WireError, and what was encoded decodes to the same frame.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InnerType, isDataInnerType, MAX_STREAM_CHUNK_BYTES, StreamFrameKind, StreamReason } from '../../src/wire/constants.js';
import { decodeStreamFrame, encodeStreamFrame, type StreamFrame } from '../../src/wire/stream-frames.js';

const RUNS = Number(process.env.SM_FUZZ_RUNS ?? 300);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `not coded: ${String(err)}`;
  }
  return 'no error';
}

const idArb = fc.integer({ min: 1, max: 0xffff_ffff });
const offArb = fc.integer({ min: 0, max: 2 ** 40 });
const frameArb: fc.Arbitrary<StreamFrame> = fc.oneof(
  fc.record({ kind: fc.constant(StreamFrameKind.Open), streamId: idArb, opener: fc.constant(true), window: fc.integer({ min: 1, max: 1 << 24 }), address: fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), port: fc.integer({ min: 1, max: 65535 }) }),
  fc.record({ kind: fc.constant(StreamFrameKind.Accept), streamId: idArb, opener: fc.boolean(), window: fc.integer({ min: 1, max: 1 << 24 }) }),
  fc.record({ kind: fc.constant(StreamFrameKind.Refuse), streamId: idArb, opener: fc.boolean(), reason: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant(StreamFrameKind.Data), streamId: idArb, opener: fc.boolean(), offset: offArb, bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant(StreamFrameKind.Fin), streamId: idArb, opener: fc.boolean(), offset: offArb }),
  fc.record({ kind: fc.constant(StreamFrameKind.Ack), streamId: idArb, opener: fc.boolean(), received: offArb, limit: offArb, fin: fc.boolean() }),
  fc.record({ kind: fc.constant(StreamFrameKind.Reset), streamId: idArb, opener: fc.boolean(), reason: fc.integer({ min: 0, max: 255 }) }),
) as fc.Arbitrary<StreamFrame>;

describe('stream frames', () => {
  it('STREAM is the next inner type after CHAT and carries data', () => {
    assert.equal(InnerType.Stream, InnerType.Chat + 1);
    assert.equal(isDataInnerType(InnerType.Stream), true);
  });

  it('OPEN has the documented layout', () => {
    const bytes = encodeStreamFrame({ kind: StreamFrameKind.Open, streamId: 0x01020304, opener: true, window: 0x10000, address: new Uint8Array([10, 77, 0, 3]), port: 8080 });
    assert.deepEqual([...bytes], [0x01, 0x01, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00, 0x01, 0x00, 4, 10, 77, 0, 3, 0x90, 0x1f]);
  });

  it('DATA carries the offset as u64 little-endian and the bytes as a view', () => {
    const bytes = encodeStreamFrame({ kind: StreamFrameKind.Data, streamId: 7, opener: false, offset: 258, bytes: new Uint8Array([9, 8]) });
    assert.deepEqual([...bytes], [0x04, 0x00, 7, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 9, 8]);
    const f = decodeStreamFrame(bytes);
    assert.equal(f.kind, StreamFrameKind.Data);
    if (f.kind === StreamFrameKind.Data) assert.equal(f.bytes.buffer, bytes.buffer);
  });

  it('refuses bad input with the documented codes', () => {
    const ack = encodeStreamFrame({ kind: StreamFrameKind.Ack, streamId: 1, opener: false, received: 1, limit: 2, fin: false });
    assert.equal(code(() => decodeStreamFrame(new Uint8Array(5))), 'SM_ERR_WIRE_LENGTH');
    assert.equal(code(() => decodeStreamFrame(Uint8Array.from([0x09, 0, 1, 0, 0, 0]))), 'SM_ERR_WIRE_TYPE');
    assert.equal(code(() => decodeStreamFrame(Uint8Array.from([0x07, 0x02, 1, 0, 0, 0, 1]))), 'SM_ERR_WIRE_RESERVED');
    assert.equal(code(() => decodeStreamFrame(Uint8Array.from([0x07, 0, 0, 0, 0, 0, 1]))), 'SM_ERR_WIRE_FIELD');
    assert.equal(code(() => decodeStreamFrame(Uint8Array.from([...ack, 0]))), 'SM_ERR_WIRE_LENGTH');
    const fin2 = Uint8Array.from(ack); fin2[ack.length - 1] = 2;
    assert.equal(code(() => decodeStreamFrame(fin2)), 'SM_ERR_WIRE_FIELD');
    const big = new Uint8Array(14 + MAX_STREAM_CHUNK_BYTES + 1); big[0] = StreamFrameKind.Data; big[2] = 1;
    assert.equal(code(() => decodeStreamFrame(big)), 'SM_ERR_WIRE_TOO_LARGE');
    assert.equal(code(() => decodeStreamFrame(Uint8Array.from([0x04, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))), 'SM_ERR_WIRE_LENGTH');
    // OPEN with port 0, family 5, window 0.
    const open = encodeStreamFrame({ kind: StreamFrameKind.Open, streamId: 1, opener: true, window: 1, address: new Uint8Array(4), port: 1 });
    const port0 = Uint8Array.from(open); port0[15] = 0; port0[16] = 0;
    assert.equal(code(() => decodeStreamFrame(port0)), 'SM_ERR_WIRE_FIELD');
    const fam5 = Uint8Array.from(open); fam5[10] = 5;
    assert.equal(code(() => decodeStreamFrame(fam5)), 'SM_ERR_WIRE_FIELD');
    const win0 = Uint8Array.from(open); win0[6] = 0;
    assert.equal(code(() => decodeStreamFrame(win0)), 'SM_ERR_WIRE_FIELD');
    assert.equal(code(() => encodeStreamFrame({ kind: StreamFrameKind.Reset, streamId: 0, opener: true, reason: StreamReason.Aborted })), 'SM_ERR_WIRE_FIELD');
  });

  it('property: arbitrary bytes give a frame or a WireError, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeStreamFrame(bytes);
      } catch (err) {
        assert.match((err as { code?: string }).code ?? '', /^SM_ERR_WIRE_/);
      }
    }), { numRuns: RUNS * 10 });
  });

  it('property: decode(encode(f)) is f', () => {
    fc.assert(fc.property(frameArb, (f) => {
      const back = decodeStreamFrame(encodeStreamFrame(f));
      assert.deepEqual({ ...back, ...('bytes' in back ? { bytes: [...back.bytes] } : {}), ...('address' in back ? { address: [...back.address] } : {}) },
        { ...f, ...('bytes' in f ? { bytes: [...f.bytes] } : {}), ...('address' in f ? { address: [...f.address] } : {}) });
    }), { numRuns: RUNS });
  });
});
