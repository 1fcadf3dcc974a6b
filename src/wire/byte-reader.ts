/**
 * ByteReader: a bounds-checked little-endian cursor over a Uint8Array, used
 * by every decoder in src/wire and by the certificate codec in src/identity.
 *
 * What callers must know:
 *  - Every read checks the remaining length first and throws a WireError
 *    (SM_ERR_WIRE_LENGTH) instead of reading past the end; nothing else is
 *    ever thrown.
 *  - Byte reads (`bytes`, `rest`, the length-prefixed `u8Bytes` family)
 *    return `subarray` VIEWS that alias the input: copy them if the input
 *    buffer is about to be reused.
 *  - Length-prefixed reads check, in this order: declared length above the
 *    caller's limit (SM_ERR_WIRE_TOO_LARGE), declared length beyond the
 *    remaining bytes (SM_ERR_WIRE_LENGTH), declared length below the minimum
 *    (SM_ERR_WIRE_FIELD).
 *  - Strings are strict UTF-8 (invalid sequences are SM_ERR_WIRE_FIELD) and a
 *    leading BOM is kept, so decoding then re-encoding gives the same bytes.
 *  - `end()` throws SM_ERR_WIRE_LENGTH on trailing bytes: no v1 frame is
 *    extensible (docs/protocol.md).
 *  - The optional `field` argument only names the field in error messages.
 */

import { WireCode, wireFail } from './wire-errors.js';

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Little-endian u16 at `offset`; the caller has checked bounds. */
export function getU16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] as number) | ((bytes[offset + 1] as number) << 8);
}

/** Little-endian u32 at `offset`; the caller has checked bounds. */
export function getU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] as number) |
      ((bytes[offset + 1] as number) << 8) |
      ((bytes[offset + 2] as number) << 16) |
      ((bytes[offset + 3] as number) << 24)) >>>
    0
  );
}

/** Little-endian u64 at `offset` as a bigint; the caller has checked bounds. */
export function getU64(bytes: Uint8Array, offset: number): bigint {
  const lo = getU32(bytes, offset);
  const hi = getU32(bytes, offset + 4);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Strict UTF-8 decode of a view; invalid input is SM_ERR_WIRE_FIELD. */
export function decodeUtf8(bytes: Uint8Array, field = 'string'): string {
  try {
    return UTF8_STRICT.decode(bytes);
  } catch {
    return wireFail(WireCode.Field, `${field}: invalid UTF-8`);
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  #offset: number;

  /** Read `bytes` starting at `offset` (default 0). */
  constructor(bytes: Uint8Array, offset = 0) {
    if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) {
      wireFail(WireCode.Length, `reader offset ${offset} outside 0..${bytes.length}`);
    }
    this.#bytes = bytes;
    this.#offset = offset;
  }

  /** Position of the next byte to read. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes left after the cursor. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  /** Throw SM_ERR_WIRE_LENGTH unless `n` bytes remain. */
  need(n: number, field = 'field'): void {
    if (this.remaining < n) {
      wireFail(
        WireCode.Length,
        `${field}: need ${n} bytes at offset ${this.#offset}, ${this.remaining} left`,
      );
    }
  }

  u8(field = 'u8'): number {
    this.need(1, field);
    return this.#bytes[this.#offset++] as number;
  }

  u16(field = 'u16'): number {
    this.need(2, field);
    const v = getU16(this.#bytes, this.#offset);
    this.#offset += 2;
    return v;
  }

  u32(field = 'u32'): number {
    this.need(4, field);
    const v = getU32(this.#bytes, this.#offset);
    this.#offset += 4;
    return v;
  }

  u64(field = 'u64'): bigint {
    this.need(8, field);
    const v = getU64(this.#bytes, this.#offset);
    this.#offset += 8;
    return v;
  }

  /** A u64 that must fit a JS number exactly (timestamps in ms): values above
   *  Number.MAX_SAFE_INTEGER are SM_ERR_WIRE_FIELD. */
  u64Number(field = 'u64'): number {
    const v = this.u64(field);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      wireFail(WireCode.Field, `${field}: ${v} exceeds Number.MAX_SAFE_INTEGER`);
    }
    return Number(v);
  }

  /** Exactly `length` bytes, as a view. */
  bytes(length: number, field = 'bytes'): Uint8Array {
    this.need(length, field);
    const start = this.#offset;
    this.#offset += length;
    return this.#bytes.subarray(start, this.#offset);
  }

  /** `length` bytes that must all be zero (reserved space); SM_ERR_WIRE_RESERVED otherwise. */
  zeros(length: number, field = 'reserved'): void {
    const view = this.bytes(length, field);
    for (let i = 0; i < view.length; i++) {
      if (view[i] !== 0) wireFail(WireCode.Reserved, `${field}: byte ${i} is not zero`);
    }
  }

  /** Everything after the cursor, as a view; the reader is then at its end. */
  rest(): Uint8Array {
    const start = this.#offset;
    this.#offset = this.#bytes.length;
    return this.#bytes.subarray(start);
  }

  /** Bytes preceded by a u8 length, as a view. */
  u8Bytes(field = 'bytes', maxBytes = 0xff, minBytes = 0): Uint8Array {
    return this.#prefixed(this.u8(`${field} length`), field, maxBytes, minBytes);
  }

  /** Bytes preceded by a u16 length, as a view. */
  u16Bytes(field = 'bytes', maxBytes = 0xffff, minBytes = 0): Uint8Array {
    return this.#prefixed(this.u16(`${field} length`), field, maxBytes, minBytes);
  }

  /** Bytes preceded by a u32 length, as a view. */
  u32Bytes(field = 'bytes', maxBytes = 0xffff_ffff, minBytes = 0): Uint8Array {
    return this.#prefixed(this.u32(`${field} length`), field, maxBytes, minBytes);
  }

  /** Strict UTF-8 text preceded by a u8 byte length. */
  u8String(field = 'string', maxBytes = 0xff, minBytes = 0): string {
    return decodeUtf8(this.u8Bytes(field, maxBytes, minBytes), field);
  }

  /** Strict UTF-8 text preceded by a u16 byte length. */
  u16String(field = 'string', maxBytes = 0xffff, minBytes = 0): string {
    return decodeUtf8(this.u16Bytes(field, maxBytes, minBytes), field);
  }

  /** Strict UTF-8 text preceded by a u32 byte length. */
  u32String(field = 'string', maxBytes = 0xffff_ffff, minBytes = 0): string {
    return decodeUtf8(this.u32Bytes(field, maxBytes, minBytes), field);
  }

  /** Throw SM_ERR_WIRE_LENGTH if any byte is left unread. */
  end(what = 'frame'): void {
    if (this.remaining !== 0) {
      wireFail(WireCode.Length, `${what}: ${this.remaining} trailing bytes`);
    }
  }

  #prefixed(length: number, field: string, maxBytes: number, minBytes: number): Uint8Array {
    if (length > maxBytes) {
      wireFail(WireCode.TooLarge, `${field}: declared ${length} bytes, limit ${maxBytes}`);
    }
    if (length > this.remaining) {
      wireFail(WireCode.Length, `${field}: declared ${length} bytes, ${this.remaining} left`);
    }
    if (length < minBytes) {
      wireFail(WireCode.Field, `${field}: ${length} bytes, at least ${minBytes} required`);
    }
    return this.bytes(length, field);
  }
}
