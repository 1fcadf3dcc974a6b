/**
 * ByteWriter: a bounds-checked little-endian cursor that writes frames, the
 * mirror of ByteReader. Used by every encoder in src/wire and by the
 * certificate codec in src/identity.
 *
 * Two modes:
 *  - `new ByteWriter()` sizes itself: it starts small and grows by doubling;
 *    `finish()` returns a view of exactly the written bytes.
 *  - `new ByteWriter(buf, offset)` writes into a caller buffer starting at
 *    `offset` and never allocates; running past the end of `buf` throws
 *    SM_ERR_WIRE_LENGTH. `finish()` returns the view buf[offset, offset+length).
 *
 * What callers must know:
 *  - Every write validates its value first and throws only WireError:
 *    SM_ERR_WIRE_FIELD for a number out of range or text that is not
 *    well-formed Unicode, SM_ERR_WIRE_LENGTH for a fixed field of the wrong
 *    size or a full caller buffer, SM_ERR_WIRE_TOO_LARGE for a variable field
 *    above its limit. A failed write leaves the bytes already written in place.
 *  - Byte arrays are copied in; the writer keeps no reference to them.
 *  - The optional `field` argument only names the field in error messages.
 */

import { U64_MAX } from './constants.js';
import { WireCode, wireFail } from './wire-errors.js';

/** First buffer size of a self-sizing writer; most frames fit without growing. */
const INITIAL_CAPACITY_BYTES = 256;

const UTF8 = new TextEncoder();

/** True when `s` has no lone surrogate, i.e. it survives a UTF-8 round trip. */
export function isWellFormedText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

/** UTF-8 bytes of `s`; a string with a lone surrogate is SM_ERR_WIRE_FIELD
 *  (TextEncoder would silently turn it into U+FFFD). */
export function encodeUtf8(s: string, field = 'string'): Uint8Array {
  if (typeof s !== 'string') wireFail(WireCode.Field, `${field}: expected a string`);
  if (!isWellFormedText(s)) wireFail(WireCode.Field, `${field}: lone surrogate in text`);
  return UTF8.encode(s);
}

/** Little-endian u16 at `offset`; the caller has checked range and bounds. */
export function putU16(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
}

/** Little-endian u32 at `offset`; the caller has checked range and bounds. */
export function putU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
  buf[offset + 2] = (value >>> 16) & 0xff;
  buf[offset + 3] = (value >>> 24) & 0xff;
}

/** Little-endian u64 at `offset`; the caller has checked range and bounds. */
export function putU64(buf: Uint8Array, offset: number, value: bigint): void {
  putU32(buf, offset, Number(value & 0xffff_ffffn));
  putU32(buf, offset + 4, Number(value >> 32n));
}

/** Throw SM_ERR_WIRE_FIELD unless `value` is an integer in 0..max. */
export function checkUint(value: number, max: number, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    wireFail(WireCode.Field, `${field}: ${String(value)} is not an integer in 0..${max}`);
  }
}

/** Throw SM_ERR_WIRE_FIELD unless `value` is a bigint in 0..2^64-1. */
export function checkU64(value: bigint, field: string): void {
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    wireFail(WireCode.Field, `${field}: ${String(value)} is not a u64 bigint`);
  }
}

/** Throw SM_ERR_WIRE_LENGTH unless `bytes` is a Uint8Array of exactly `length` bytes. */
export function checkFixedBytes(bytes: Uint8Array, length: number, field: string): void {
  if (!(bytes instanceof Uint8Array)) wireFail(WireCode.Field, `${field}: expected a Uint8Array`);
  if (bytes.length !== length) {
    wireFail(WireCode.Length, `${field}: expected ${length} bytes, got ${bytes.length}`);
  }
}

/** Throw unless `bytes` is a Uint8Array with minBytes <= length <= maxBytes
 *  (SM_ERR_WIRE_TOO_LARGE above, SM_ERR_WIRE_FIELD below). */
export function checkVarBytes(bytes: Uint8Array, field: string, maxBytes: number, minBytes: number): void {
  if (!(bytes instanceof Uint8Array)) wireFail(WireCode.Field, `${field}: expected a Uint8Array`);
  if (bytes.length > maxBytes) {
    wireFail(WireCode.TooLarge, `${field}: ${bytes.length} bytes, limit ${maxBytes}`);
  }
  if (bytes.length < minBytes) {
    wireFail(WireCode.Field, `${field}: ${bytes.length} bytes, at least ${minBytes} required`);
  }
}

export class ByteWriter {
  #buf: Uint8Array;
  readonly #start: number;
  #pos: number;
  readonly #growable: boolean;

  /** Without `target`: a self-sizing writer. With `target`: write into it from `offset`. */
  constructor(target?: Uint8Array, offset = 0) {
    if (target === undefined) {
      this.#buf = new Uint8Array(INITIAL_CAPACITY_BYTES);
      this.#start = 0;
      this.#growable = true;
    } else {
      if (!(target instanceof Uint8Array)) wireFail(WireCode.Field, 'writer target: expected a Uint8Array');
      if (!Number.isInteger(offset) || offset < 0 || offset > target.length) {
        wireFail(WireCode.Length, `writer offset ${offset} outside 0..${target.length}`);
      }
      this.#buf = target;
      this.#start = offset;
      this.#growable = false;
    }
    this.#pos = this.#start;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos - this.#start;
  }

  /** Absolute position of the next byte in the underlying buffer. */
  get offset(): number {
    return this.#pos;
  }

  /** The written bytes as a view (of the caller buffer in fixed mode). */
  finish(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#pos);
  }

  u8(value: number, field = 'u8'): this {
    checkUint(value, 0xff, field);
    this.#reserve(1, field);
    this.#buf[this.#pos++] = value;
    return this;
  }

  u16(value: number, field = 'u16'): this {
    checkUint(value, 0xffff, field);
    this.#reserve(2, field);
    putU16(this.#buf, this.#pos, value);
    this.#pos += 2;
    return this;
  }

  u32(value: number, field = 'u32'): this {
    checkUint(value, 0xffff_ffff, field);
    this.#reserve(4, field);
    putU32(this.#buf, this.#pos, value);
    this.#pos += 4;
    return this;
  }

  u64(value: bigint, field = 'u64'): this {
    checkU64(value, field);
    this.#reserve(8, field);
    putU64(this.#buf, this.#pos, value);
    this.#pos += 8;
    return this;
  }

  /** A u64 given as a JS number (timestamps in ms): must be a safe non-negative integer. */
  u64Number(value: number, field = 'u64'): this {
    checkUint(value, Number.MAX_SAFE_INTEGER, field);
    return this.u64(BigInt(value), field);
  }

  /** `length` zero bytes (reserved space). */
  zeros(length: number, field = 'reserved'): this {
    this.#reserve(length, field);
    this.#buf.fill(0, this.#pos, this.#pos + length);
    this.#pos += length;
    return this;
  }

  /** Raw bytes, copied in, with no length prefix. */
  bytes(bytes: Uint8Array, field = 'bytes'): this {
    if (!(bytes instanceof Uint8Array)) wireFail(WireCode.Field, `${field}: expected a Uint8Array`);
    this.#reserve(bytes.length, field);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
    return this;
  }

  /** A fixed-size field: `bytes` must be exactly `length` long (SM_ERR_WIRE_LENGTH otherwise). */
  fixedBytes(bytes: Uint8Array, length: number, field = 'bytes'): this {
    checkFixedBytes(bytes, length, field);
    return this.bytes(bytes, field);
  }

  /** Bytes preceded by a u8 length. */
  u8Bytes(bytes: Uint8Array, field = 'bytes', maxBytes = 0xff, minBytes = 0): this {
    checkVarBytes(bytes, field, Math.min(maxBytes, 0xff), minBytes);
    return this.u8(bytes.length, `${field} length`).bytes(bytes, field);
  }

  /** Bytes preceded by a u16 length. */
  u16Bytes(bytes: Uint8Array, field = 'bytes', maxBytes = 0xffff, minBytes = 0): this {
    checkVarBytes(bytes, field, Math.min(maxBytes, 0xffff), minBytes);
    return this.u16(bytes.length, `${field} length`).bytes(bytes, field);
  }

  /** Bytes preceded by a u32 length. */
  u32Bytes(bytes: Uint8Array, field = 'bytes', maxBytes = 0xffff_ffff, minBytes = 0): this {
    checkVarBytes(bytes, field, Math.min(maxBytes, 0xffff_ffff), minBytes);
    return this.u32(bytes.length, `${field} length`).bytes(bytes, field);
  }

  /** UTF-8 text preceded by a u8 byte length; limits count bytes, not characters. */
  u8String(text: string, field = 'string', maxBytes = 0xff, minBytes = 0): this {
    return this.u8Bytes(encodeUtf8(text, field), field, maxBytes, minBytes);
  }

  /** UTF-8 text preceded by a u16 byte length. */
  u16String(text: string, field = 'string', maxBytes = 0xffff, minBytes = 0): this {
    return this.u16Bytes(encodeUtf8(text, field), field, maxBytes, minBytes);
  }

  /** UTF-8 text preceded by a u32 byte length. */
  u32String(text: string, field = 'string', maxBytes = 0xffff_ffff, minBytes = 0): this {
    return this.u32Bytes(encodeUtf8(text, field), field, maxBytes, minBytes);
  }

  #reserve(n: number, field: string): void {
    if (!Number.isInteger(n) || n < 0) wireFail(WireCode.Field, `${field}: bad length ${n}`);
    const needed = this.#pos + n;
    if (needed <= this.#buf.length) return;
    if (!this.#growable) {
      wireFail(
        WireCode.Length,
        `${field}: buffer full, need ${n} bytes at offset ${this.#pos}, ${this.#buf.length - this.#pos} left`,
      );
    }
    let capacity = this.#buf.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }
}
