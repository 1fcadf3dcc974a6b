/**
 * The 4-byte header every v1 frame starts with (docs/protocol.md, top):
 *
 *   | 0 version u8 (=1) | 1 type u8 | 2..3 reserved, must be zero |
 *
 * `checkFrameHeader` performs the decoder's common checks in the order the
 * spec fixes: minimum length, size limit, version, type, reserved bytes.
 * The type-specific length checks come after it, in the frame codecs.
 */

import {
  FrameType,
  HEADER_BYTES,
  HEADER_RESERVED_OFFSET,
  HEADER_TYPE_OFFSET,
  HEADER_VERSION_OFFSET,
  PROTOCOL_VERSION,
  type PeerFrameType,
  type RelayFrameType,
} from './constants.js';
import { WireCode, wireFail } from './wire-errors.js';

const NAMES: ReadonlyMap<number, string> = new Map([
  [FrameType.Hello, 'HELLO'],
  [FrameType.Challenge, 'CHALLENGE'],
  [FrameType.Auth, 'AUTH'],
  [FrameType.Established, 'ESTABLISHED'],
  [FrameType.Error, 'ERROR'],
  [FrameType.Ping, 'PING'],
  [FrameType.Pong, 'PONG'],
  [FrameType.Send, 'SEND'],
  [FrameType.Deliver, 'DELIVER'],
  [FrameType.Close, 'CLOSE'],
  [FrameType.Unreachable, 'UNREACHABLE'],
  [FrameType.PeerUp, 'PEER_UP'],
  [FrameType.PeerDown, 'PEER_DOWN'],
  [FrameType.Policy, 'POLICY'],
  [FrameType.Presence, 'PRESENCE'],
  [FrameType.CertRequest, 'CERT_REQUEST'],
  [FrameType.Cert, 'CERT'],
  [FrameType.HsInit, 'HS_INIT'],
  [FrameType.HsResp, 'HS_RESP'],
  [FrameType.HsFinish, 'HS_FINISH'],
  [FrameType.Data, 'DATA'],
  [FrameType.HsCookie, 'HS_COOKIE'],
]);

/** The spec's name of a frame type ("SEND"), or "0x5a" for an unknown byte; for logs. */
export function frameTypeName(type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** True for 0x01..0x11, the relay link frames of protocol.md §1. */
export function isRelayFrameType(type: number): type is RelayFrameType {
  return type >= FrameType.Hello && type <= FrameType.Cert;
}

/** True for 0x21..0x24 and 0x2d, the end-to-end peer frames of protocol.md §2. */
export function isPeerFrameType(type: number): type is PeerFrameType {
  return (type >= FrameType.HsInit && type <= FrameType.Data) || type === FrameType.HsCookie;
}

/**
 * Check the common header of `bytes` and return its type byte.
 * Throws, in this order: SM_ERR_WIRE_LENGTH (< 4 bytes), SM_ERR_WIRE_TOO_LARGE
 * (> maxBytes), SM_ERR_WIRE_VERSION, SM_ERR_WIRE_TYPE (unknown, or not
 * accepted by `allowed` in this `context`), SM_ERR_WIRE_RESERVED.
 */
export function checkFrameHeader(
  bytes: Uint8Array,
  maxBytes: number,
  allowed: (type: number) => boolean,
  context: string,
): number {
  if (!(bytes instanceof Uint8Array)) wireFail(WireCode.Field, `${context}: expected a Uint8Array`);
  if (bytes.length < HEADER_BYTES) {
    wireFail(WireCode.Length, `${context}: ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  }
  if (bytes.length > maxBytes) {
    wireFail(WireCode.TooLarge, `${context}: ${bytes.length} bytes, limit ${maxBytes}`);
  }
  const version = bytes[HEADER_VERSION_OFFSET] as number;
  if (version !== PROTOCOL_VERSION) {
    wireFail(WireCode.Version, `${context}: version ${version}, expected ${PROTOCOL_VERSION}`);
  }
  const type = bytes[HEADER_TYPE_OFFSET] as number;
  if (!allowed(type)) {
    const known = NAMES.has(type) ? `${frameTypeName(type)} is not allowed here` : 'unknown type';
    wireFail(WireCode.Type, `${context}: frame type ${frameTypeName(type)}: ${known}`);
  }
  if (bytes[HEADER_RESERVED_OFFSET] !== 0 || bytes[HEADER_RESERVED_OFFSET + 1] !== 0) {
    wireFail(WireCode.Reserved, `${context}: ${frameTypeName(type)} reserved header bytes not zero`);
  }
  return type;
}

/** Write version, `type` and zero reserved bytes at `offset`; the caller has
 *  checked that 4 bytes fit. */
export function putFrameHeader(buf: Uint8Array, offset: number, type: number): void {
  buf[offset + HEADER_VERSION_OFFSET] = PROTOCOL_VERSION;
  buf[offset + HEADER_TYPE_OFFSET] = type;
  buf[offset + HEADER_RESERVED_OFFSET] = 0;
  buf[offset + HEADER_RESERVED_OFFSET + 1] = 0;
}

/** Throw SM_ERR_WIRE_LENGTH unless `length` bytes fit in `buf` at `offset`. */
export function checkRoom(buf: Uint8Array, offset: number, length: number, what: string): void {
  if (!(buf instanceof Uint8Array)) wireFail(WireCode.Field, `${what}: expected a Uint8Array buffer`);
  if (!Number.isInteger(offset) || offset < 0 || offset + length > buf.length) {
    wireFail(WireCode.Length, `${what}: ${length} bytes do not fit at offset ${offset} of a ${buf.length}-byte buffer`);
  }
}
