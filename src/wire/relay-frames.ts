/**
 * Codec for relay link frames (docs/protocol.md §1). One WebSocket binary
 * message between a node and a relay is one frame.
 *
 * What callers must know:
 *  - decodeRelayFrame throws only WireError (SM_ERR_WIRE_*), checks lengths
 *    before anything else and accepts no trailing bytes. Its byte fields
 *    (clientNonce, cert, serverNonce, signature, sessionId, peerId, payload;
 *    PEER_UP's cert, PEER_DOWN's peerId, POLICY's blob, PRESENCE entries'
 *    peerId and certDigest, CERT_REQUEST's and CERT's peerId, CERT's cert too)
 *    are `subarray` VIEWS of the input: they alias it and change if the
 *    input buffer is reused. Copy what you keep.
 *  - Every frame is at most MAX_FRAME_BYTES except POLICY, bounded by
 *    MAX_POLICY_FRAME_BYTES (one whole signed policy); the bound is chosen
 *    by the type byte before anything else is read, so a larger frame of
 *    any other type is still SM_ERR_WIRE_TOO_LARGE.
 *  - Peer frame types (0x21..) are rejected with SM_ERR_WIRE_TYPE: they only
 *    travel inside SEND / DELIVER payloads.
 *  - encodeRelayFrame validates every field (fixed sizes:
 *    SM_ERR_WIRE_LENGTH; limits: SM_ERR_WIRE_TOO_LARGE; ranges, empty cert or
 *    payload, bad address or text: SM_ERR_WIRE_FIELD) and returns a new
 *    buffer; encodeRelayFrameInto writes into a caller buffer instead.
 *  - writeRelayHeader is the SEND / DELIVER hot path: it writes the 36-byte
 *    prefix in front of a payload the caller has already placed.
 *  - ERROR / CLOSE codes are any u16 (see RelayErrorCode for the known ones);
 *    ESTABLISHED.observedAddress comes back in canonical text (ip-address.ts).
 */

import {
  ADDRESS_FAMILY_IPV4,
  ADDRESS_FAMILY_IPV6,
  AUTH_BYTES,
  CHALLENGE_BYTES,
  ESTABLISHED_FIXED_BYTES,
  FrameType,
  HEADER_BYTES,
  HEADER_TYPE_OFFSET,
  HELLO_FIXED_BYTES,
  HYBRID_SIGNATURE_BYTES,
  IPV4_BYTES,
  IPV6_BYTES,
  MAX_CERT_BYTES,
  MAX_FRAME_BYTES,
  MAX_POLICY_BLOB_BYTES,
  MAX_POLICY_FRAME_BYTES,
  MAX_SEND_PAYLOAD_BYTES,
  MAX_TEXT_BYTES,
  NONCE_BYTES,
  CERT_DIGEST_BYTES,
  CERT_FIXED_BYTES,
  CERT_REQUEST_BYTES,
  MAX_PRESENCE_ENTRIES,
  PEER_DOWN_BYTES,
  PEER_ID_BYTES,
  PEER_UP_FIXED_BYTES,
  PRESENCE_DOWN_ENTRY_BYTES,
  PRESENCE_FIXED_BYTES,
  PRESENCE_UP_ENTRY_BYTES,
  PresenceKind,
  PING_BYTES,
  POLICY_FIXED_BYTES,
  SEND_HEADER_BYTES,
  SESSION_ID_BYTES,
  TEXT_FRAME_FIXED_BYTES,
  UNREACHABLE_BYTES,
} from './constants.js';
import { ByteReader, decodeUtf8, getU16, getU64 } from './byte-reader.js';
import { ByteWriter, checkFixedBytes, checkVarBytes, encodeUtf8 } from './byte-writer.js';
import { checkFrameHeader, checkRoom, frameTypeName, isRelayFrameType, putFrameHeader } from './frame-header.js';
import { formatIpAddress, parseIpAddress } from './ip-address.js';
import { WireCode, wireFail } from './wire-errors.js';

export type RelayFrame =
  | { type: typeof FrameType.Hello; clientNonce: Uint8Array; cert: Uint8Array }
  | { type: typeof FrameType.Challenge; serverNonce: Uint8Array; relayTimeMs: number }
  | { type: typeof FrameType.Auth; signature: Uint8Array }
  | {
      type: typeof FrameType.Established;
      sessionId: Uint8Array;
      heartbeatMs: number;
      idleTimeoutMs: number;
      maxFrameBytes: number;
      observedAddress: string;
      observedPort: number;
    }
  | { type: typeof FrameType.Error; code: number; message: string }
  | { type: typeof FrameType.Ping; nonce: bigint }
  | { type: typeof FrameType.Pong; nonce: bigint }
  | { type: typeof FrameType.Send; peerId: Uint8Array; payload: Uint8Array }
  | { type: typeof FrameType.Deliver; peerId: Uint8Array; payload: Uint8Array }
  | { type: typeof FrameType.Close; code: number; reason: string }
  | { type: typeof FrameType.Unreachable; peerId: Uint8Array }
  | { type: typeof FrameType.PeerUp; onlineSinceMs: number; cert: Uint8Array }
  | { type: typeof FrameType.PeerDown; peerId: Uint8Array }
  | { type: typeof FrameType.Policy; blob: Uint8Array }
  | { type: typeof FrameType.Presence; entries: PresenceEntry[] }
  | { type: typeof FrameType.CertRequest; peerId: Uint8Array }
  | { type: typeof FrameType.Cert; peerId: Uint8Array; cert: Uint8Array };

/** One change in a PRESENCE frame: a member is online with this certificate (by digest), or is gone. */
export type PresenceEntry =
  | { kind: typeof PresenceKind.Up; peerId: Uint8Array; certDigest: Uint8Array; onlineSinceMs: number }
  | { kind: typeof PresenceKind.Down; peerId: Uint8Array };

const CONTEXT = 'relay frame';

// ---- layouts (offsets from the start of the frame, little-endian) ----------
//
// HELLO 0x01, 41 + certLen bytes
// | 0..3 header | 4..35 clientNonce | 36..39 certLen u32 | 40.. cert (1..8192) |
//
// CHALLENGE 0x02, exactly 44 bytes
// | 0..3 header | 4..35 serverNonce | 36..43 relayTimeMs u64 (<= 2^53-1) |
//
// AUTH 0x03, exactly 4695 bytes
// | 0..3 header | 4..4694 signature (hybrid, 4691) |
//
// ESTABLISHED 0x04, 39 (IPv4) or 51 (IPv6) bytes
// | 0..3 header | 4..19 sessionId | 20..23 heartbeatMs u32 | 24..27 idleTimeoutMs u32 |
// | 28..31 maxFrameBytes u32 | 32..33 observedPort u16 | 34 family (4|6) | 35.. address (4|16) |
//
// ERROR 0x05 / CLOSE 0x0a, 8 + textLen bytes
// | 0..3 header | 4..5 code u16 | 6..7 textLen u16 (<= 512) | 8.. UTF-8 text |
//
// PING 0x06 / PONG 0x07, exactly 12 bytes
// | 0..3 header | 4..11 nonce u64 |
//
// SEND 0x08 / DELIVER 0x09, 37..65792 bytes
// | 0..3 header | 4..35 peerId (dst for SEND, src for DELIVER) | 36.. payload (>= 1) |
//
// UNREACHABLE 0x0b, exactly 36 bytes
// | 0..3 header | 4..35 peerId |
//
// PEER_UP 0x0c, 17 + certLen bytes: a member is online (relay -> node). The
// certificate is the member's as the relay admitted it; nodes verify it
// against the network CA themselves (the relay is not trusted to vouch).
// | 0..3 header | 4..11 onlineSinceMs u64 (<= 2^53-1) | 12..15 certLen u32 | 16.. cert (1..8192) |
//
// PEER_DOWN 0x0d, exactly 36 bytes: a member went offline (relay -> node).
// | 0..3 header | 4..35 peerId |
//
// POLICY 0x0e, 9..MAX_POLICY_FRAME_BYTES bytes: the network's CA-signed
// policy (relay -> node), the blob exactly as src/policy/signed-policy.ts
// lays it out. The relay is not trusted to vouch for it: members verify it.
// | 0..3 header | 4..7 blobLen u32 (1..MAX_POLICY_BLOB_BYTES) | 8.. blob |
//
// PRESENCE 0x0f, 6 + entries bytes: 1..800 changes (relay -> node). Not
// extensible: the entries must fill the frame exactly.
// | 0..3 header | 4..5 count u16 | 6.. entries |
//   up entry, 73 bytes:
//   | 0 kind = 1 | 1..32 peerId | 33..64 certDigest (SHA-256 of the cert) | 65..72 onlineSinceMs u64 (<= 2^53-1) |
//   down entry, 33 bytes:
//   | 0 kind = 0 | 1..32 peerId |
//
// CERT_REQUEST 0x10, exactly 36 bytes: send me this member's certificate (node -> relay).
// | 0..3 header | 4..35 peerId |
//
// CERT 0x11, 40 + certLen bytes: the certificate the relay holds for peerId (relay -> node).
// | 0..3 header | 4..35 peerId | 36..39 certLen u32 | 40.. cert (1..8192) |

/** Offset of the family byte in ESTABLISHED. */
const ESTABLISHED_FAMILY_OFFSET = ESTABLISHED_FIXED_BYTES - 1;

function textBytes(text: string, field: string): Uint8Array {
  const bytes = encodeUtf8(text, field);
  checkVarBytes(bytes, field, MAX_TEXT_BYTES, 0);
  return bytes;
}

/**
 * Exact encoded size of `frame`, validating what the size depends on.
 * Throws SM_ERR_WIRE_TYPE for a type that is not a relay frame.
 */
export function relayFrameSize(frame: RelayFrame): number {
  switch (frame.type) {
    case FrameType.Hello:
      checkVarBytes(frame.cert, 'HELLO cert', MAX_CERT_BYTES, 1);
      return HELLO_FIXED_BYTES + frame.cert.length;
    case FrameType.Challenge:
      return CHALLENGE_BYTES;
    case FrameType.Auth:
      return AUTH_BYTES;
    case FrameType.Established: {
      const { family } = parseIpAddress(frame.observedAddress, 'ESTABLISHED observedAddress');
      return ESTABLISHED_FIXED_BYTES + (family === ADDRESS_FAMILY_IPV4 ? IPV4_BYTES : IPV6_BYTES);
    }
    case FrameType.Error:
      return TEXT_FRAME_FIXED_BYTES + textBytes(frame.message, 'ERROR message').length;
    case FrameType.Close:
      return TEXT_FRAME_FIXED_BYTES + textBytes(frame.reason, 'CLOSE reason').length;
    case FrameType.Ping:
    case FrameType.Pong:
      return PING_BYTES;
    case FrameType.Send:
    case FrameType.Deliver:
      checkVarBytes(frame.payload, `${frameTypeName(frame.type)} payload`, MAX_SEND_PAYLOAD_BYTES, 1);
      return SEND_HEADER_BYTES + frame.payload.length;
    case FrameType.Unreachable:
      return UNREACHABLE_BYTES;
    case FrameType.PeerUp:
      checkVarBytes(frame.cert, 'PEER_UP cert', MAX_CERT_BYTES, 1);
      return PEER_UP_FIXED_BYTES + frame.cert.length;
    case FrameType.PeerDown:
      return PEER_DOWN_BYTES;
    case FrameType.Policy:
      checkVarBytes(frame.blob, 'POLICY blob', MAX_POLICY_BLOB_BYTES, 1);
      return POLICY_FIXED_BYTES + frame.blob.length;
    case FrameType.Presence:
      return PRESENCE_FIXED_BYTES + presenceEntriesSize(frame.entries);
    case FrameType.CertRequest:
      return CERT_REQUEST_BYTES;
    case FrameType.Cert:
      checkVarBytes(frame.cert, 'CERT cert', MAX_CERT_BYTES, 1);
      return CERT_FIXED_BYTES + frame.cert.length;
    default:
      return wireFail(
        WireCode.Type,
        `encode ${CONTEXT}: type ${frameTypeName((frame as { type: number }).type)} is not a relay frame`,
      );
  }
}

/**
 * Encode `frame` into `buf` at `offset`; returns the number of bytes written.
 * `buf` must have room for relayFrameSize(frame) bytes (SM_ERR_WIRE_LENGTH
 * otherwise). On error, bytes of `buf` after `offset` may have been written.
 */
export function encodeRelayFrameInto(frame: RelayFrame, buf: Uint8Array, offset: number): number {
  const size = relayFrameSize(frame);
  checkRoom(buf, offset, size, `encode ${CONTEXT}`);
  putFrameHeader(buf, offset, frame.type);
  const w = new ByteWriter(buf, offset + HEADER_BYTES);
  switch (frame.type) {
    case FrameType.Hello:
      w.fixedBytes(frame.clientNonce, NONCE_BYTES, 'HELLO clientNonce');
      w.u32Bytes(frame.cert, 'HELLO cert', MAX_CERT_BYTES, 1);
      break;
    case FrameType.Challenge:
      w.fixedBytes(frame.serverNonce, NONCE_BYTES, 'CHALLENGE serverNonce');
      w.u64Number(frame.relayTimeMs, 'CHALLENGE relayTimeMs');
      break;
    case FrameType.Auth:
      w.fixedBytes(frame.signature, HYBRID_SIGNATURE_BYTES, 'AUTH signature');
      break;
    case FrameType.Established: {
      const addr = parseIpAddress(frame.observedAddress, 'ESTABLISHED observedAddress');
      w.fixedBytes(frame.sessionId, SESSION_ID_BYTES, 'ESTABLISHED sessionId');
      w.u32(frame.heartbeatMs, 'ESTABLISHED heartbeatMs');
      w.u32(frame.idleTimeoutMs, 'ESTABLISHED idleTimeoutMs');
      w.u32(frame.maxFrameBytes, 'ESTABLISHED maxFrameBytes');
      w.u16(frame.observedPort, 'ESTABLISHED observedPort');
      w.u8(addr.family, 'ESTABLISHED family');
      w.bytes(addr.bytes, 'ESTABLISHED address');
      break;
    }
    case FrameType.Error:
      w.u16(frame.code, 'ERROR code');
      w.u16Bytes(textBytes(frame.message, 'ERROR message'), 'ERROR message', MAX_TEXT_BYTES);
      break;
    case FrameType.Close:
      w.u16(frame.code, 'CLOSE code');
      w.u16Bytes(textBytes(frame.reason, 'CLOSE reason'), 'CLOSE reason', MAX_TEXT_BYTES);
      break;
    case FrameType.Ping:
    case FrameType.Pong:
      w.u64(frame.nonce, `${frameTypeName(frame.type)} nonce`);
      break;
    case FrameType.Send:
    case FrameType.Deliver:
      w.fixedBytes(frame.peerId, PEER_ID_BYTES, `${frameTypeName(frame.type)} peerId`);
      w.bytes(frame.payload, `${frameTypeName(frame.type)} payload`);
      break;
    case FrameType.Unreachable:
      w.fixedBytes(frame.peerId, PEER_ID_BYTES, 'UNREACHABLE peerId');
      break;
    case FrameType.PeerUp:
      w.u64Number(frame.onlineSinceMs, 'PEER_UP onlineSinceMs');
      w.u32Bytes(frame.cert, 'PEER_UP cert', MAX_CERT_BYTES, 1);
      break;
    case FrameType.PeerDown:
      w.fixedBytes(frame.peerId, PEER_ID_BYTES, 'PEER_DOWN peerId');
      break;
    case FrameType.Policy:
      w.u32Bytes(frame.blob, 'POLICY blob', MAX_POLICY_BLOB_BYTES, 1);
      break;
    case FrameType.Presence:
      w.u16(frame.entries.length, 'PRESENCE count');
      for (const entry of frame.entries) writePresenceEntry(w, entry);
      break;
    case FrameType.CertRequest:
      w.fixedBytes(frame.peerId, PEER_ID_BYTES, 'CERT_REQUEST peerId');
      break;
    case FrameType.Cert:
      w.fixedBytes(frame.peerId, PEER_ID_BYTES, 'CERT peerId');
      w.u32Bytes(frame.cert, 'CERT cert', MAX_CERT_BYTES, 1);
      break;
  }
  return HEADER_BYTES + w.length;
}

/** Encode `frame` into a new buffer of exactly its size. */
export function encodeRelayFrame(frame: RelayFrame): Uint8Array {
  const out = new Uint8Array(relayFrameSize(frame));
  encodeRelayFrameInto(frame, out, 0);
  return out;
}

/**
 * Hot path for SEND / DELIVER: write the 36-byte prefix (header + peerId) at
 * `offset` of `buf`, in front of a payload the caller places at
 * offset + SEND_HEADER_BYTES itself. Returns the bytes written (36).
 * Throws SM_ERR_WIRE_TYPE for another type, SM_ERR_WIRE_LENGTH for a peerId
 * that is not 32 bytes or a buffer without room.
 */
export function writeRelayHeader(
  buf: Uint8Array,
  offset: number,
  type: typeof FrameType.Send | typeof FrameType.Deliver,
  peerId: Uint8Array,
): number {
  if (type !== FrameType.Send && type !== FrameType.Deliver) {
    wireFail(WireCode.Type, `writeRelayHeader: type ${frameTypeName(type)} is not SEND or DELIVER`);
  }
  checkFixedBytes(peerId, PEER_ID_BYTES, `${frameTypeName(type)} peerId`);
  checkRoom(buf, offset, SEND_HEADER_BYTES, 'writeRelayHeader');
  putFrameHeader(buf, offset, type);
  buf.set(peerId, offset + HEADER_BYTES);
  return SEND_HEADER_BYTES;
}

function exactLength(bytes: Uint8Array, expected: number, type: number): void {
  if (bytes.length !== expected) {
    wireFail(WireCode.Length, `${frameTypeName(type)}: ${bytes.length} bytes, expected exactly ${expected}`);
  }
}

function minLength(bytes: Uint8Array, min: number, type: number): void {
  if (bytes.length < min) {
    wireFail(WireCode.Length, `${frameTypeName(type)}: ${bytes.length} bytes, at least ${min} required`);
  }
}

/**
 * Decode one relay link frame. Byte fields are VIEWS into `bytes` (see the
 * module header). Throws only WireError with an SM_ERR_WIRE_* code.
 */
export function decodeRelayFrame(bytes: Uint8Array): RelayFrame {
  // Only POLICY may exceed MAX_FRAME_BYTES; the type byte picks the bound, checkFrameHeader still checks in its order.
  const policy = bytes instanceof Uint8Array && bytes.length > HEADER_BYTES && bytes[HEADER_TYPE_OFFSET] === FrameType.Policy;
  const type = checkFrameHeader(bytes, policy ? MAX_POLICY_FRAME_BYTES : MAX_FRAME_BYTES, isRelayFrameType, CONTEXT);
  switch (type) {
    case FrameType.Send:
    case FrameType.Deliver:
      // Hot path: no reader object. MAX_FRAME_BYTES was checked by the header.
      minLength(bytes, SEND_HEADER_BYTES + 1, type);
      return {
        type,
        peerId: bytes.subarray(HEADER_BYTES, SEND_HEADER_BYTES),
        payload: bytes.subarray(SEND_HEADER_BYTES),
      };
    case FrameType.Ping:
    case FrameType.Pong:
      exactLength(bytes, PING_BYTES, type);
      return { type, nonce: getU64(bytes, HEADER_BYTES) };
    case FrameType.Unreachable:
      exactLength(bytes, UNREACHABLE_BYTES, type);
      return { type, peerId: bytes.subarray(HEADER_BYTES, UNREACHABLE_BYTES) };
    case FrameType.PeerDown:
      exactLength(bytes, PEER_DOWN_BYTES, type);
      return { type, peerId: bytes.subarray(HEADER_BYTES, PEER_DOWN_BYTES) };
    case FrameType.PeerUp: {
      minLength(bytes, PEER_UP_FIXED_BYTES + 1, type);
      const r = new ByteReader(bytes, HEADER_BYTES);
      const onlineSinceMs = r.u64Number('PEER_UP onlineSinceMs');
      const cert = r.u32Bytes('PEER_UP cert', MAX_CERT_BYTES, 1);
      r.end('PEER_UP');
      return { type, onlineSinceMs, cert };
    }
    case FrameType.Policy: {
      minLength(bytes, POLICY_FIXED_BYTES + 1, type);
      const r = new ByteReader(bytes, HEADER_BYTES);
      const blob = r.u32Bytes('POLICY blob', MAX_POLICY_BLOB_BYTES, 1);
      r.end('POLICY');
      return { type, blob };
    }
    case FrameType.Presence:
      return { type, entries: decodePresenceEntries(bytes) };
    case FrameType.CertRequest:
      exactLength(bytes, CERT_REQUEST_BYTES, type);
      return { type, peerId: bytes.subarray(HEADER_BYTES, CERT_REQUEST_BYTES) };
    case FrameType.Cert: {
      minLength(bytes, CERT_FIXED_BYTES + 1, type);
      const r = new ByteReader(bytes, HEADER_BYTES);
      const peerId = r.bytes(PEER_ID_BYTES, 'CERT peerId');
      const cert = r.u32Bytes('CERT cert', MAX_CERT_BYTES, 1);
      r.end('CERT');
      return { type, peerId, cert };
    }
    case FrameType.Hello: {
      minLength(bytes, HELLO_FIXED_BYTES + 1, type);
      const r = new ByteReader(bytes, HEADER_BYTES);
      const clientNonce = r.bytes(NONCE_BYTES, 'HELLO clientNonce');
      const cert = r.u32Bytes('HELLO cert', MAX_CERT_BYTES, 1);
      r.end('HELLO');
      return { type, clientNonce, cert };
    }
    case FrameType.Challenge: {
      exactLength(bytes, CHALLENGE_BYTES, type);
      const r = new ByteReader(bytes, HEADER_BYTES);
      const serverNonce = r.bytes(NONCE_BYTES, 'CHALLENGE serverNonce');
      const relayTimeMs = r.u64Number('CHALLENGE relayTimeMs');
      return { type, serverNonce, relayTimeMs };
    }
    case FrameType.Auth:
      exactLength(bytes, AUTH_BYTES, type);
      return { type, signature: bytes.subarray(HEADER_BYTES) };
    case FrameType.Established: {
      minLength(bytes, ESTABLISHED_FIXED_BYTES, type);
      const family = bytes[ESTABLISHED_FAMILY_OFFSET] as number;
      if (family !== ADDRESS_FAMILY_IPV4 && family !== ADDRESS_FAMILY_IPV6) {
        wireFail(WireCode.Field, `ESTABLISHED: address family ${family}, expected 4 or 6`);
      }
      const addressBytes = family === ADDRESS_FAMILY_IPV4 ? IPV4_BYTES : IPV6_BYTES;
      exactLength(bytes, ESTABLISHED_FIXED_BYTES + addressBytes, type);
      const r = new ByteReader(bytes, HEADER_BYTES);
      const sessionId = r.bytes(SESSION_ID_BYTES, 'ESTABLISHED sessionId');
      const heartbeatMs = r.u32('ESTABLISHED heartbeatMs');
      const idleTimeoutMs = r.u32('ESTABLISHED idleTimeoutMs');
      const maxFrameBytes = r.u32('ESTABLISHED maxFrameBytes');
      const observedPort = r.u16('ESTABLISHED observedPort');
      r.u8('ESTABLISHED family');
      const observedAddress = formatIpAddress(r.bytes(addressBytes, 'ESTABLISHED address'));
      return { type, sessionId, heartbeatMs, idleTimeoutMs, maxFrameBytes, observedAddress, observedPort };
    }
    case FrameType.Error:
    case FrameType.Close: {
      minLength(bytes, TEXT_FRAME_FIXED_BYTES, type);
      const name = frameTypeName(type);
      const code = getU16(bytes, HEADER_BYTES);
      const r = new ByteReader(bytes, HEADER_BYTES + 2);
      const field = type === FrameType.Error ? 'ERROR message' : 'CLOSE reason';
      const textView = r.u16Bytes(field, MAX_TEXT_BYTES);
      r.end(name);
      const text = decodeUtf8(textView, field);
      return type === FrameType.Error ? { type, code, message: text } : { type, code, reason: text };
    }
    default:
      // Unreachable: checkFrameHeader admitted only relay types.
      return wireFail(WireCode.Type, `${CONTEXT}: type ${frameTypeName(type)}`);
  }
}

function presenceEntrySize(entry: PresenceEntry): number {
  return entry.kind === PresenceKind.Up ? PRESENCE_UP_ENTRY_BYTES : PRESENCE_DOWN_ENTRY_BYTES;
}

function presenceEntriesSize(entries: readonly PresenceEntry[]): number {
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_PRESENCE_ENTRIES) {
    wireFail(WireCode.Field, `encode ${CONTEXT}: PRESENCE needs 1..${MAX_PRESENCE_ENTRIES} entries, got ${Array.isArray(entries) ? entries.length : typeof entries}`);
  }
  let size = 0;
  for (const entry of entries) {
    if (entry.kind !== PresenceKind.Up && entry.kind !== PresenceKind.Down) wireFail(WireCode.Field, `encode ${CONTEXT}: PRESENCE entry kind ${String((entry as { kind: unknown }).kind)}`);
    size += presenceEntrySize(entry);
  }
  return size;
}

function writePresenceEntry(w: ByteWriter, entry: PresenceEntry): void {
  w.u8(entry.kind, 'PRESENCE kind');
  w.fixedBytes(entry.peerId, PEER_ID_BYTES, 'PRESENCE peerId');
  if (entry.kind === PresenceKind.Up) {
    w.fixedBytes(entry.certDigest, CERT_DIGEST_BYTES, 'PRESENCE certDigest');
    w.u64Number(entry.onlineSinceMs, 'PRESENCE onlineSinceMs');
  }
}

/**
 * One PRESENCE entry on its own (73 or 33 bytes), for a relay that encodes a
 * member's change once and copies it into many frames (presenceFrame).
 */
export function encodePresenceEntry(entry: PresenceEntry): Uint8Array {
  const size = presenceEntrySize(entry);
  const w = new ByteWriter(new Uint8Array(size), 0);
  writePresenceEntry(w, entry);
  return w.finish();
}

/**
 * A PRESENCE frame from entries encoded by encodePresenceEntry (1..800 of
 * them, not re-validated): header, count, the entries copied in order.
 */
export function presenceFrame(encodedEntries: readonly Uint8Array[]): Uint8Array {
  if (encodedEntries.length < 1 || encodedEntries.length > MAX_PRESENCE_ENTRIES) {
    wireFail(WireCode.Field, `encode ${CONTEXT}: PRESENCE needs 1..${MAX_PRESENCE_ENTRIES} entries, got ${encodedEntries.length}`);
  }
  let size = PRESENCE_FIXED_BYTES;
  for (const e of encodedEntries) size += e.length;
  const buf = new Uint8Array(size);
  putFrameHeader(buf, 0, FrameType.Presence);
  buf[HEADER_BYTES] = encodedEntries.length & 0xff;
  buf[HEADER_BYTES + 1] = encodedEntries.length >>> 8;
  let at = PRESENCE_FIXED_BYTES;
  for (const e of encodedEntries) {
    buf.set(e, at);
    at += e.length;
  }
  return buf;
}

function decodePresenceEntries(bytes: Uint8Array): PresenceEntry[] {
  const type = FrameType.Presence;
  minLength(bytes, PRESENCE_FIXED_BYTES + PRESENCE_DOWN_ENTRY_BYTES, type);
  const r = new ByteReader(bytes, HEADER_BYTES);
  const count = r.u16('PRESENCE count');
  if (count < 1 || count > MAX_PRESENCE_ENTRIES) wireFail(WireCode.Field, `PRESENCE: ${count} entries, expected 1..${MAX_PRESENCE_ENTRIES}`);
  // The frame is at most MAX_FRAME_BYTES, so a lying count cannot make this loop long: it stops at the end.
  const entries: PresenceEntry[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.u8('PRESENCE kind');
    const peerId = r.bytes(PEER_ID_BYTES, 'PRESENCE peerId');
    if (kind === PresenceKind.Up) {
      const certDigest = r.bytes(CERT_DIGEST_BYTES, 'PRESENCE certDigest');
      const onlineSinceMs = r.u64Number('PRESENCE onlineSinceMs');
      entries.push({ kind, peerId, certDigest, onlineSinceMs });
    } else if (kind === PresenceKind.Down) {
      entries.push({ kind, peerId });
    } else {
      wireFail(WireCode.Field, `PRESENCE: entry ${i} kind ${kind}, expected 0 or 1`);
    }
  }
  r.end('PRESENCE');
  return entries;
}
