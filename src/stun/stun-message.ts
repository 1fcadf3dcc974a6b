/**
 * STUN message codec (RFC 8489 §5, §6, §14), the subset reflexive address
 * discovery needs (docs/protocol.md §5, issue 5 §1): Binding requests,
 * success and error responses, XOR-MAPPED-ADDRESS, MAPPED-ADDRESS,
 * SOFTWARE, ERROR-CODE and FINGERPRINT.
 *
 * Byte layout, BIG-endian (network order), unlike our own little-endian frames:
 *
 *   | 0..1 type (top two bits 0) | 2..3 length of the attributes |
 *   | 4..7 magic cookie 0x2112A442 | 8..19 transaction id (96 bits) |
 *   | attributes: type u16 | length u16 | value | zero padding to 4 bytes |
 *
 * What callers must know:
 *  - `decodeStunMessage` throws only WireError (src/wire codes): a header
 *    length that disagrees with the datagram, an attribute overrunning the
 *    message, a known attribute with a wrong length or value, or anything
 *    after FINGERPRINT. It never throws for an unknown attribute: unknown
 *    comprehension-required types (< 0x8000) are listed in
 *    `unknownRequired` so a server can refuse the request (RFC 8489 §6.3.1)
 *    and unknown comprehension-optional types are skipped.
 *  - A repeated attribute: only the first is used (RFC 8489 §14).
 *  - `transactionId` in a decoded message is a VIEW into the input bytes;
 *    the input itself is never modified (Buffer or Uint8Array).
 *  - `fingerprintOk` is undefined when the message has no FINGERPRINT; a
 *    message whose fingerprint does not match still decodes (false), and the
 *    caller drops it.
 *  - Encoders return a fresh Uint8Array; arguments are checked and a bad one
 *    is a WireError (SM_ERR_WIRE_FIELD) naming it.
 *  - MESSAGE-INTEGRITY and the other authentication attributes are not
 *    implemented: plain Binding needs none, and a message carrying them
 *    reports them in `unknownRequired`.
 */

import { crc32 } from 'node:zlib';

import { decodeUtf8 } from '../wire/byte-reader.js';
import { formatIpAddress, parseIpAddress } from '../wire/ip-address.js';
import { WireCode, wireFail } from '../wire/wire-errors.js';

/** RFC 8489 §5: fixed value at bytes 4..7 of every message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** RFC 8489 §5: the header is 20 bytes. */
export const STUN_HEADER_BYTES = 20;
/** RFC 8489 §5: the transaction id is 96 bits. */
export const STUN_TRANSACTION_ID_BYTES = 12;
/** RFC 8489 §18.2: method Binding. */
export const STUN_METHOD_BINDING = 0x001;
/** Message types of the Binding method (RFC 8489 §18.2 with §5 class bits). */
export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_SUCCESS = 0x0101;
export const STUN_BINDING_ERROR = 0x0111;

/** Attribute types (RFC 8489 §18.3). */
export const STUN_ATTR_MAPPED_ADDRESS = 0x0001;
export const STUN_ATTR_ERROR_CODE = 0x0009;
export const STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000a;
export const STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const STUN_ATTR_SOFTWARE = 0x8022;
export const STUN_ATTR_FINGERPRINT = 0x8028;
/** RFC 8489 §14: types from 0x8000 on may be ignored when not understood. */
export const STUN_COMPREHENSION_OPTIONAL_MIN = 0x8000;

/** RFC 8489 §14.7: the CRC-32 is XORed with this ("STUN" in ASCII). */
const FINGERPRINT_XOR = 0x5354554e;
/** RFC 8489 §14.1: address family codes inside (XOR-)MAPPED-ADDRESS. */
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;
/** Value lengths of (XOR-)MAPPED-ADDRESS: 4-byte prefix + 4 or 16 address bytes. */
const ADDRESS_VALUE_IPV4_BYTES = 8;
const ADDRESS_VALUE_IPV6_BYTES = 20;
/** RFC 8489 §14.14: SOFTWARE is fewer than 128 characters, at most 763 bytes. */
export const STUN_SOFTWARE_MAX_BYTES = 763;
const SOFTWARE_MAX_CHARS = 127;
/** RFC 8489 §14.8: ERROR-CODE = 4-byte prefix + reason phrase of at most 763 bytes. */
const ERROR_CODE_PREFIX_BYTES = 4;
const ERROR_REASON_MAX_BYTES = 763;
/** FINGERPRINT attribute on the wire: 4-byte TLV header + 4-byte CRC. */
const FINGERPRINT_ATTR_BYTES = 8;

export interface StunAddress {
  /** Canonical IP text (RFC 5952), no brackets or zone. */
  address: string;
  /** 0..65535. */
  port: number;
}

export type StunClass = 'request' | 'indication' | 'success' | 'error';
/** Indexed by the two class bits C1C0 (RFC 8489 §5). */
const CLASSES: readonly StunClass[] = ['request', 'indication', 'success', 'error'];

export interface StunMessage {
  /** 12-bit method; 0x001 is Binding. */
  method: number;
  class: StunClass;
  /** 12 bytes, a VIEW into the decoded input. */
  transactionId: Uint8Array;
  xorMapped?: StunAddress;
  mapped?: StunAddress;
  software?: string;
  /** ERROR-CODE as class * 100 + number (300..699). */
  errorCode?: number;
  errorReason?: string;
  /** undefined without FINGERPRINT; otherwise whether the CRC matched. */
  fingerprintOk?: boolean;
  /** Comprehension-required attribute types this codec does not understand. */
  unknownRequired: readonly number[];
}

export interface StunEncodeOptions {
  /** SOFTWARE attribute text (RFC 8489 §14.14); omitted when undefined. */
  software?: string;
  /** Append FINGERPRINT (RFC 8489 §14.7); default false. */
  fingerprint?: boolean;
}

function u16be(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

function u32be(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}

function putU16be(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function putU32be(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function padded(length: number): number {
  return (length + 3) & ~3;
}

/**
 * Cheap demultiplexing test for a socket that also carries other traffic
 * (RFC 8489 §7.3 plus the length check): at least a header, top two bits of
 * the type zero, the magic cookie, and a header length equal to the rest of
 * the datagram and a multiple of 4. Allocates nothing; never throws.
 */
export function isStunMessage(bytes: Uint8Array): boolean {
  if (bytes.length < STUN_HEADER_BYTES) return false;
  if (((bytes[0] as number) & 0xc0) !== 0) return false;
  if (u32be(bytes, 4) !== STUN_MAGIC_COOKIE) return false;
  const length = u16be(bytes, 2);
  return length === bytes.length - STUN_HEADER_BYTES && (length & 3) === 0;
}

/** RFC 8489 §5: the method's 12 bits are split around the class bits C0 (bit 4) and C1 (bit 8). */
function splitType(type: number): { method: number; cls: number } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = ((type >> 4) & 1) | ((type >> 7) & 2);
  return { method, cls };
}

/** (XOR-)MAPPED-ADDRESS value (RFC 8489 §14.1, §14.2). */
function decodeAddress(bytes: Uint8Array, at: number, length: number, xor: boolean, name: string): StunAddress {
  if (length < 4) wireFail(WireCode.Length, `stun ${name}: ${length} bytes, need at least 4`);
  // §14.1: the first byte is zero on send and ignored on receipt.
  const family = bytes[at + 1] as number;
  let port = u16be(bytes, at + 2);
  let expected: number;
  if (family === FAMILY_IPV4) expected = ADDRESS_VALUE_IPV4_BYTES;
  else if (family === FAMILY_IPV6) expected = ADDRESS_VALUE_IPV6_BYTES;
  else return wireFail(WireCode.Field, `stun ${name}: unknown address family ${family}`);
  if (length !== expected) wireFail(WireCode.Length, `stun ${name}: family ${family} needs ${expected} bytes, got ${length}`);
  // A copy, never `slice`: on a Buffer that is a view, and the XOR below would corrupt the input.
  const addr = Uint8Array.from(bytes.subarray(at + 4, at + expected));
  if (xor) {
    // §14.2: port XOR the cookie's top 16 bits; address XOR cookie (|| transaction id for IPv6).
    port ^= STUN_MAGIC_COOKIE >>> 16;
    for (let i = 0; i < addr.length; i++) addr[i] = (addr[i] as number) ^ (bytes[4 + i] as number);
  }
  return { address: formatIpAddress(addr, `stun ${name}`), port };
}

function decodeErrorCode(bytes: Uint8Array, at: number, length: number): { code: number; reason: string } {
  if (length < ERROR_CODE_PREFIX_BYTES) wireFail(WireCode.Length, `stun ERROR-CODE: ${length} bytes, need at least 4`);
  if (length - ERROR_CODE_PREFIX_BYTES > ERROR_REASON_MAX_BYTES) {
    wireFail(WireCode.TooLarge, `stun ERROR-CODE: reason of ${length - ERROR_CODE_PREFIX_BYTES} bytes, limit ${ERROR_REASON_MAX_BYTES}`);
  }
  // §14.8: 21 reserved bits, class (3 bits, 3..6), number (0..99).
  const cls = (bytes[at + 2] as number) & 0x07;
  const num = bytes[at + 3] as number;
  if (cls < 3 || cls > 6 || num > 99) wireFail(WireCode.Field, `stun ERROR-CODE: class ${cls} number ${num} out of range`);
  const reason = decodeUtf8(bytes.subarray(at + ERROR_CODE_PREFIX_BYTES, at + length), 'stun ERROR-CODE reason');
  return { code: cls * 100 + num, reason };
}

/** CRC-32 of `bytes` XOR the STUN constant (RFC 8489 §14.7). */
function fingerprintOf(bytes: Uint8Array): number {
  return (crc32(bytes) ^ FINGERPRINT_XOR) >>> 0;
}

/**
 * Decode one STUN message; the datagram must be exactly one message.
 * Throws WireError only (see the module header for what is strict).
 */
export function decodeStunMessage(bytes: Uint8Array): StunMessage {
  if (bytes.length < STUN_HEADER_BYTES) {
    wireFail(WireCode.Length, `stun: ${bytes.length} bytes, header needs ${STUN_HEADER_BYTES}`);
  }
  const type = u16be(bytes, 0);
  if ((type & 0xc000) !== 0) wireFail(WireCode.Type, `stun: type 0x${type.toString(16)} has a top bit set`);
  const length = u16be(bytes, 2);
  if (length !== bytes.length - STUN_HEADER_BYTES) {
    wireFail(WireCode.Length, `stun: header says ${length} attribute bytes, datagram has ${bytes.length - STUN_HEADER_BYTES}`);
  }
  if ((length & 3) !== 0) wireFail(WireCode.Length, `stun: attribute length ${length} is not a multiple of 4`);
  const cookie = u32be(bytes, 4);
  if (cookie !== STUN_MAGIC_COOKIE) wireFail(WireCode.Field, `stun: magic cookie 0x${cookie.toString(16)}`);
  const { method, cls } = splitType(type);
  const msg: StunMessage = {
    method,
    class: CLASSES[cls] as StunClass,
    transactionId: bytes.subarray(8, STUN_HEADER_BYTES),
    unknownRequired: [],
  };
  const unknown: number[] = [];
  const seen = new Set<number>();
  let at = STUN_HEADER_BYTES;
  while (at < bytes.length) {
    if (msg.fingerprintOk !== undefined) wireFail(WireCode.Field, 'stun: attribute after FINGERPRINT');
    if (bytes.length - at < 4) wireFail(WireCode.Length, `stun: attribute header at ${at} overruns the message`);
    const attrType = u16be(bytes, at);
    const attrLen = u16be(bytes, at + 2);
    const value = at + 4;
    if (padded(attrLen) > bytes.length - value) {
      wireFail(WireCode.Length, `stun: attribute 0x${attrType.toString(16)} of ${attrLen} bytes overruns the message`);
    }
    const first = !seen.has(attrType);
    seen.add(attrType);
    switch (attrType) {
      case STUN_ATTR_XOR_MAPPED_ADDRESS: {
        const a = decodeAddress(bytes, value, attrLen, true, 'XOR-MAPPED-ADDRESS');
        if (first) msg.xorMapped = a;
        break;
      }
      case STUN_ATTR_MAPPED_ADDRESS: {
        const a = decodeAddress(bytes, value, attrLen, false, 'MAPPED-ADDRESS');
        if (first) msg.mapped = a;
        break;
      }
      case STUN_ATTR_SOFTWARE: {
        if (attrLen > STUN_SOFTWARE_MAX_BYTES) wireFail(WireCode.TooLarge, `stun SOFTWARE: ${attrLen} bytes, limit ${STUN_SOFTWARE_MAX_BYTES}`);
        const s = decodeUtf8(bytes.subarray(value, value + attrLen), 'stun SOFTWARE');
        if (first) msg.software = s;
        break;
      }
      case STUN_ATTR_ERROR_CODE: {
        const e = decodeErrorCode(bytes, value, attrLen);
        if (first) {
          msg.errorCode = e.code;
          msg.errorReason = e.reason;
        }
        break;
      }
      case STUN_ATTR_FINGERPRINT: {
        if (attrLen !== 4) wireFail(WireCode.Length, `stun FINGERPRINT: ${attrLen} bytes, need 4`);
        msg.fingerprintOk = u32be(bytes, value) === fingerprintOf(bytes.subarray(0, at));
        break;
      }
      default:
        if (attrType < STUN_COMPREHENSION_OPTIONAL_MIN && first) unknown.push(attrType);
    }
    at = value + padded(attrLen);
  }
  msg.unknownRequired = unknown;
  return msg;
}

function checkTransactionId(transactionId: Uint8Array): void {
  if (!(transactionId instanceof Uint8Array) || transactionId.length !== STUN_TRANSACTION_ID_BYTES) {
    wireFail(WireCode.Field, `stun transactionId: expected ${STUN_TRANSACTION_ID_BYTES} bytes, got ${transactionId instanceof Uint8Array ? transactionId.length : typeof transactionId}`);
  }
}

const UTF8 = new TextEncoder();

function softwareBytes(software: string | undefined): Uint8Array | null {
  if (software === undefined) return null;
  if (typeof software !== 'string' || [...software].length > SOFTWARE_MAX_CHARS) {
    wireFail(WireCode.Field, `stun software: expected a string of at most ${SOFTWARE_MAX_CHARS} characters`);
  }
  const b = UTF8.encode(software);
  if (b.length > STUN_SOFTWARE_MAX_BYTES) wireFail(WireCode.TooLarge, `stun software: ${b.length} bytes, limit ${STUN_SOFTWARE_MAX_BYTES}`);
  return b;
}

/** Attribute bytes already laid out (TLV + padding) by the caller. */
function buildMessage(type: number, transactionId: Uint8Array, attrs: Uint8Array, options: StunEncodeOptions | undefined): Uint8Array {
  checkTransactionId(transactionId);
  const software = softwareBytes(options?.software);
  const fingerprint = options?.fingerprint === true;
  const softwareLen = software === null ? 0 : 4 + padded(software.length);
  const total = STUN_HEADER_BYTES + attrs.length + softwareLen + (fingerprint ? FINGERPRINT_ATTR_BYTES : 0);
  const out = new Uint8Array(total);
  putU16be(out, 0, type);
  putU16be(out, 2, total - STUN_HEADER_BYTES);
  putU32be(out, 4, STUN_MAGIC_COOKIE);
  out.set(transactionId, 8);
  let at = STUN_HEADER_BYTES;
  out.set(attrs, at);
  at += attrs.length;
  if (software !== null) {
    putU16be(out, at, STUN_ATTR_SOFTWARE);
    putU16be(out, at + 2, software.length);
    out.set(software, at + 4);
    at += softwareLen; // padding bytes are already zero
  }
  if (fingerprint) {
    // §14.7: the header length already counts the FINGERPRINT attribute itself.
    putU16be(out, at, STUN_ATTR_FINGERPRINT);
    putU16be(out, at + 2, 4);
    putU32be(out, at + 4, fingerprintOf(out.subarray(0, at)));
  }
  return out;
}

/** A Binding request (RFC 8489 §6.1) with no attributes but the optional SOFTWARE and FINGERPRINT. */
export function encodeBindingRequest(transactionId: Uint8Array, options?: StunEncodeOptions): Uint8Array {
  return buildMessage(STUN_BINDING_REQUEST, transactionId, new Uint8Array(0), options);
}

/** XOR-MAPPED-ADDRESS attribute (TLV) for `mapped`, XORed with the cookie and `transactionId`. */
function xorMappedAttribute(transactionId: Uint8Array, mapped: StunAddress): Uint8Array {
  checkTransactionId(transactionId);
  if (typeof mapped !== 'object' || mapped === null) wireFail(WireCode.Field, 'stun mapped: expected { address, port }');
  const ip = parseIpAddress(mapped.address, 'stun mapped.address');
  if (!Number.isInteger(mapped.port) || mapped.port < 0 || mapped.port > 0xffff) {
    wireFail(WireCode.Field, `stun mapped.port: expected an integer in [0, 65535], got ${String(mapped.port)}`);
  }
  const v4 = ip.bytes.length === 4;
  const valueLen = v4 ? ADDRESS_VALUE_IPV4_BYTES : ADDRESS_VALUE_IPV6_BYTES;
  const out = new Uint8Array(4 + valueLen);
  putU16be(out, 0, STUN_ATTR_XOR_MAPPED_ADDRESS);
  putU16be(out, 2, valueLen);
  out[5] = v4 ? FAMILY_IPV4 : FAMILY_IPV6;
  putU16be(out, 6, mapped.port ^ (STUN_MAGIC_COOKIE >>> 16));
  // §14.2: XOR with cookie || transaction id, which sit at header bytes 4..19.
  const key = new Uint8Array(16);
  putU32be(key, 0, STUN_MAGIC_COOKIE);
  key.set(transactionId, 4);
  for (let i = 0; i < ip.bytes.length; i++) out[8 + i] = (ip.bytes[i] as number) ^ (key[i] as number);
  return out;
}

/** A Binding success response (RFC 8489 §6.3.3) carrying XOR-MAPPED-ADDRESS = `mapped`. */
export function encodeBindingSuccess(transactionId: Uint8Array, mapped: StunAddress, options?: StunEncodeOptions): Uint8Array {
  return buildMessage(STUN_BINDING_SUCCESS, transactionId, xorMappedAttribute(transactionId, mapped), options);
}

/**
 * A Binding error response (RFC 8489 §6.3.4) with ERROR-CODE `code`
 * (300..699) and a reason phrase; used by tests and available to servers.
 */
export function encodeBindingError(transactionId: Uint8Array, code: number, reason: string, options?: StunEncodeOptions): Uint8Array {
  if (!Number.isInteger(code) || code < 300 || code > 699) wireFail(WireCode.Field, `stun error code: expected an integer in [300, 699], got ${String(code)}`);
  const reasonBytes = UTF8.encode(String(reason));
  if (reasonBytes.length > ERROR_REASON_MAX_BYTES) wireFail(WireCode.TooLarge, `stun error reason: ${reasonBytes.length} bytes, limit ${ERROR_REASON_MAX_BYTES}`);
  const valueLen = ERROR_CODE_PREFIX_BYTES + reasonBytes.length;
  const attr = new Uint8Array(4 + padded(valueLen));
  putU16be(attr, 0, STUN_ATTR_ERROR_CODE);
  putU16be(attr, 2, valueLen);
  attr[6] = Math.floor(code / 100);
  attr[7] = code % 100;
  attr.set(reasonBytes, 8);
  return buildMessage(STUN_BINDING_ERROR, transactionId, attr, options);
}
