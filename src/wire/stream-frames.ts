/**
 * STREAM frames (docs/protocol.md §6): the body of a DATA plaintext whose
 * inner type is STREAM (0x08), i.e. everything after the inner type byte.
 *
 * Every frame starts with the same 6 bytes (little-endian like the rest of
 * the protocol):
 *
 *   offset  size  field
 *   0       1     kind      StreamFrameKind
 *   1       1     flags     bit 0 STREAM_FLAG_OPENER, other bits zero
 *   2       4     streamId  u32, chosen by the opener, never 0
 *
 * then, by kind:
 *
 *   OPEN    window u32 | family u8 (4|6) | address[4|16] | port u16   (exact)
 *   ACCEPT  window u32                                                (exact)
 *   REFUSE  reason u8                                                 (exact)
 *   DATA    offset u64 | bytes[1..MAX_STREAM_CHUNK_BYTES]
 *   FIN     offset u64 (the stream's final length)                    (exact)
 *   ACK     received u64 | limit u64 | fin u8 (0|1)                   (exact)
 *   RESET   reason u8                                                 (exact)
 *
 * What callers must know: decodeStreamFrame never throws anything but a
 * WireError (SM_ERR_WIRE_*); DATA's `bytes` and OPEN's `address` are views
 * of the input (subarray), so a caller that keeps them past the input's
 * life copies them. Encoders size their output exactly.
 */
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import {
  ADDRESS_FAMILY_IPV4,
  ADDRESS_FAMILY_IPV6,
  IPV4_BYTES,
  IPV6_BYTES,
  MAX_STREAM_CHUNK_BYTES,
  MAX_STREAM_OFFSET,
  MAX_STREAM_WINDOW_BYTES,
  STREAM_FLAG_OPENER,
  STREAM_HEADER_BYTES,
  StreamFrameKind,
} from './constants.js';
import { WireCode, wireFail } from './wire-errors.js';

interface StreamFrameBase {
  streamId: number;
  /** True when the sender opened this stream. */
  opener: boolean;
}

export type StreamFrame =
  | (StreamFrameBase & { kind: typeof StreamFrameKind.Open; window: number; address: Uint8Array; port: number })
  | (StreamFrameBase & { kind: typeof StreamFrameKind.Accept; window: number })
  | (StreamFrameBase & { kind: typeof StreamFrameKind.Refuse; reason: number })
  | (StreamFrameBase & { kind: typeof StreamFrameKind.Data; offset: number; bytes: Uint8Array })
  | (StreamFrameBase & { kind: typeof StreamFrameKind.Fin; offset: number })
  | (StreamFrameBase & { kind: typeof StreamFrameKind.Ack; received: number; limit: number; fin: boolean })
  | (StreamFrameBase & { kind: typeof StreamFrameKind.Reset; reason: number });

function bodyBytes(f: StreamFrame): number {
  switch (f.kind) {
    case StreamFrameKind.Open: return 4 + 1 + f.address.length + 2;
    case StreamFrameKind.Accept: return 4;
    case StreamFrameKind.Refuse:
    case StreamFrameKind.Reset: return 1;
    case StreamFrameKind.Data: return 8 + f.bytes.length;
    case StreamFrameKind.Fin: return 8;
    case StreamFrameKind.Ack: return 8 + 8 + 1;
  }
}

function checkWindow(window: number): void {
  if (!Number.isInteger(window) || window < 1 || window > MAX_STREAM_WINDOW_BYTES) wireFail(WireCode.Field, `stream window: expected 1..${MAX_STREAM_WINDOW_BYTES}, got ${window}`);
}

function checkOffset(offset: number, field: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_STREAM_OFFSET) wireFail(WireCode.Field, `stream ${field}: expected 0..2^53-1, got ${offset}`);
}

/** Encode a stream frame (without the inner type byte) into a buffer of exactly its size. */
export function encodeStreamFrame(f: StreamFrame): Uint8Array {
  if (!Number.isInteger(f.streamId) || f.streamId < 1 || f.streamId > 0xffff_ffff) wireFail(WireCode.Field, `stream id: expected 1..2^32-1, got ${f.streamId}`);
  const w = new ByteWriter(new Uint8Array(STREAM_HEADER_BYTES + bodyBytes(f)));
  w.u8(f.kind, 'kind').u8(f.opener ? STREAM_FLAG_OPENER : 0, 'flags').u32(f.streamId, 'streamId');
  switch (f.kind) {
    case StreamFrameKind.Open:
      checkWindow(f.window);
      if (f.address.length !== IPV4_BYTES && f.address.length !== IPV6_BYTES) wireFail(WireCode.Field, `stream address: expected 4 or 16 bytes, got ${f.address.length}`);
      w.u32(f.window, 'window').u8(f.address.length === IPV4_BYTES ? ADDRESS_FAMILY_IPV4 : ADDRESS_FAMILY_IPV6, 'family').bytes(f.address, 'address').u16(f.port, 'port');
      break;
    case StreamFrameKind.Accept:
      checkWindow(f.window);
      w.u32(f.window, 'window');
      break;
    case StreamFrameKind.Refuse:
    case StreamFrameKind.Reset:
      w.u8(f.reason, 'reason');
      break;
    case StreamFrameKind.Data:
      checkOffset(f.offset, 'offset');
      if (f.bytes.length < 1 || f.bytes.length > MAX_STREAM_CHUNK_BYTES) wireFail(WireCode.Field, `stream data: expected 1..${MAX_STREAM_CHUNK_BYTES} bytes, got ${f.bytes.length}`);
      w.u64Number(f.offset, 'offset').bytes(f.bytes, 'data');
      break;
    case StreamFrameKind.Fin:
      checkOffset(f.offset, 'offset');
      w.u64Number(f.offset, 'offset');
      break;
    case StreamFrameKind.Ack:
      checkOffset(f.received, 'received');
      checkOffset(f.limit, 'limit');
      w.u64Number(f.received, 'received').u64Number(f.limit, 'limit').u8(f.fin ? 1 : 0, 'fin');
      break;
    default:
      wireFail(WireCode.Type, `stream frame: unknown kind ${(f as { kind: number }).kind}`);
  }
  return w.finish();
}

/**
 * Decode a stream frame body. Checks in docs/conventions.md §4 order: length
 * (the header), kind, reserved flag bits, then fields; fixed-size kinds
 * must be exact.
 */
export function decodeStreamFrame(bytes: Uint8Array): StreamFrame {
  const r = new ByteReader(bytes);
  r.need(STREAM_HEADER_BYTES, 'stream header');
  const kind = r.u8('kind');
  if (kind < StreamFrameKind.Open || kind > StreamFrameKind.Reset) wireFail(WireCode.Type, `stream frame: unknown kind ${kind}`);
  const flags = r.u8('flags');
  if ((flags & ~STREAM_FLAG_OPENER) !== 0) wireFail(WireCode.Reserved, `stream frame: reserved flag bits 0x${flags.toString(16)}`);
  const opener = (flags & STREAM_FLAG_OPENER) !== 0;
  const streamId = r.u32('streamId');
  if (streamId === 0) wireFail(WireCode.Field, 'stream id: 0 is not a stream');
  const base = { streamId, opener };
  switch (kind) {
    case StreamFrameKind.Open: {
      const window = r.u32('window');
      checkWindow(window);
      const family = r.u8('family');
      if (family !== ADDRESS_FAMILY_IPV4 && family !== ADDRESS_FAMILY_IPV6) wireFail(WireCode.Field, `stream address family: expected 4 or 6, got ${family}`);
      const address = r.bytes(family === ADDRESS_FAMILY_IPV4 ? IPV4_BYTES : IPV6_BYTES, 'address');
      const port = r.u16('port');
      if (port === 0) wireFail(WireCode.Field, 'stream port: 0 is not a destination');
      r.end('stream OPEN');
      return { ...base, kind, window, address, port };
    }
    case StreamFrameKind.Accept: {
      const window = r.u32('window');
      checkWindow(window);
      r.end('stream ACCEPT');
      return { ...base, kind, window };
    }
    case StreamFrameKind.Refuse:
    case StreamFrameKind.Reset: {
      const reason = r.u8('reason');
      r.end('stream REFUSE/RESET');
      return { ...base, kind, reason };
    }
    case StreamFrameKind.Data: {
      const offset = r.u64Number('offset');
      const data = r.rest();
      if (data.length < 1) wireFail(WireCode.Length, 'stream DATA: no bytes');
      if (data.length > MAX_STREAM_CHUNK_BYTES) wireFail(WireCode.TooLarge, `stream DATA: ${data.length} bytes, most ${MAX_STREAM_CHUNK_BYTES}`);
      if (offset + data.length > MAX_STREAM_OFFSET) wireFail(WireCode.Field, 'stream DATA: past the largest offset');
      return { ...base, kind, offset, bytes: data };
    }
    case StreamFrameKind.Fin: {
      const offset = r.u64Number('offset');
      r.end('stream FIN');
      return { ...base, kind, offset };
    }
    default: {
      const received = r.u64Number('received');
      const limit = r.u64Number('limit');
      const fin = r.u8('fin');
      if (fin > 1) wireFail(WireCode.Field, `stream ACK fin: expected 0 or 1, got ${fin}`);
      r.end('stream ACK');
      return { ...base, kind: StreamFrameKind.Ack, received, limit, fin: fin === 1 };
    }
  }
}
