/**
 * PATH_OFFER (docs/protocol.md §3.1): what a node tells each peer, inside
 * the end-to-end session (inner type 0x06), so the peer can reach it
 * directly: the fingerprint of its current ephemeral TLS certificate and its
 * listener addresses, signed with its hybrid identity (docs/protocol.md
 * §3.2: pinning is end-to-end authenticated). The relay
 * cannot read or forge it: it travels sealed, and the signature would fail.
 *
 * Layout (little-endian; the body after the inner-type byte):
 *
 *   | 0 version u8 (=2) | 1 reserved u8 (=0) | 2..33 peerId | 34..41 timestampMs u64 |
 *   | 42..73 fingerprint[32] = SHA-256(SPKI DER of the TLS certificate) |
 *   | 74 count u8 (0..32) | count x ( transport u8 (1 WSS | 2 UDP) | flags u8 (bit 0: reflexive) |
 *   |                                family u8 (4|6) | address[4|16] | port u16 (1..65535) ) |
 *   | signature[4691]: hybrid, context "path-offer", over every byte before it |
 *
 * Version 1 (the first layout) has no transport and flags bytes: every
 * candidate is a WSS listener. It is still decoded; only v2 is written.
 *
 * Ports are the node's REAL listener port or its UDP socket's port (never a
 * source port the relay saw on the WSS link); a reflexive UDP candidate is
 * the address and port a STUN server saw that UDP socket come from. Zero
 * candidates is valid: the offer still pins the certificate the node dials
 * with.
 *
 * What callers must know: decodePathOffer throws only WireError
 * (SM_ERR_WIRE_*); its `peerId`, `fingerprint`, `signature` and `signed` are
 * views of the input. verifyPathOffer checks the signature only; freshness
 * (newer than the last accepted offer from that peer) is the receiver's
 * state (direct-transport.ts).
 */
import { hybridVerify } from '../../../crypto/hybrid-sign.js';
import { ByteReader } from '../../../wire/byte-reader.js';
import { ByteWriter, checkUint } from '../../../wire/byte-writer.js';
import {
  ADDRESS_FAMILY_IPV4,
  ADDRESS_FAMILY_IPV6,
  HYBRID_SIGNATURE_BYTES,
  IPV4_BYTES,
  IPV6_BYTES,
  MAX_PATH_CANDIDATES,
  MAX_PATH_OFFER_BYTES,
  PATH_CANDIDATE_FLAG_REFLEXIVE,
  PATH_FINGERPRINT_BYTES,
  PATH_OFFER_FIXED_BYTES,
  PATH_OFFER_VERSION,
  PATH_OFFER_VERSION_1,
  PathTransportTag,
  PEER_ID_BYTES,
} from '../../../wire/constants.js';
import { formatIpAddress, parseIpAddress } from '../../../wire/ip-address.js';
import { WireCode, wireFail } from '../../../wire/wire-errors.js';

/** Hybrid-signature context of PATH_OFFER (protocol.md §3.1). */
export const PATH_OFFER_CONTEXT = 'path-offer';
/** Smallest PATH_OFFER: no candidates. */
export const MIN_PATH_OFFER_BYTES = PATH_OFFER_FIXED_BYTES + HYBRID_SIGNATURE_BYTES;

export type PathTransport = 'wss' | 'udp';

export interface PathCandidate {
  /** Canonical IPv4 or IPv6 text (RFC 5952). */
  address: string;
  /** The listener port (WSS) or UDP socket port, 1..65535. */
  port: number;
  /** Default 'wss'. */
  transport?: PathTransport;
  /** Seen by a relay or STUN server rather than a local interface address. Default false. */
  reflexive?: boolean;
}

export interface PathOfferFields {
  peerId: Uint8Array;
  timestampMs: number;
  fingerprint: Uint8Array;
  candidates: readonly PathCandidate[];
}

export interface PathOffer extends PathOfferFields {
  signature: Uint8Array;
  /** The signed bytes (everything before the signature), a view. */
  signed: Uint8Array;
}

/** The bytes the signature covers. Throws WireError on a bad field. */
export function encodePathOfferSigned(fields: PathOfferFields): Uint8Array {
  if (fields.candidates.length > MAX_PATH_CANDIDATES) {
    wireFail(WireCode.TooLarge, `PATH_OFFER: ${fields.candidates.length} candidates, limit ${MAX_PATH_CANDIDATES}`);
  }
  const w = new ByteWriter();
  w.u8(PATH_OFFER_VERSION, 'PATH_OFFER version').u8(0, 'PATH_OFFER reserved');
  w.fixedBytes(fields.peerId, PEER_ID_BYTES, 'PATH_OFFER peerId');
  w.u64Number(fields.timestampMs, 'PATH_OFFER timestampMs');
  w.fixedBytes(fields.fingerprint, PATH_FINGERPRINT_BYTES, 'PATH_OFFER fingerprint');
  w.u8(fields.candidates.length, 'PATH_OFFER count');
  for (const c of fields.candidates) {
    const ip = parseIpAddress(c.address, 'PATH_OFFER candidate address');
    checkUint(c.port, 0xffff, 'PATH_OFFER candidate port');
    if (c.port === 0) wireFail(WireCode.Field, 'PATH_OFFER candidate port: 0 is not a listener port');
    const transport = c.transport ?? 'wss';
    if (transport !== 'wss' && transport !== 'udp') wireFail(WireCode.Field, `PATH_OFFER candidate transport: expected wss or udp, got ${String(transport)}`);
    w.u8(transport === 'udp' ? PathTransportTag.Udp : PathTransportTag.Wss, 'PATH_OFFER candidate transport');
    w.u8(c.reflexive === true ? PATH_CANDIDATE_FLAG_REFLEXIVE : 0, 'PATH_OFFER candidate flags');
    w.u8(ip.family, 'PATH_OFFER candidate family').bytes(ip.bytes).u16(c.port, 'PATH_OFFER candidate port');
  }
  return w.finish().slice();
}

/** A complete PATH_OFFER: the signed part and `sign(PATH_OFFER_CONTEXT, signed)`. */
export function signPathOffer(signer: { sign(context: string, message: Uint8Array): Uint8Array }, fields: PathOfferFields): Uint8Array {
  const signed = encodePathOfferSigned(fields);
  const signature = signer.sign(PATH_OFFER_CONTEXT, signed);
  const out = new Uint8Array(signed.length + signature.length);
  out.set(signed);
  out.set(signature, signed.length);
  return out;
}

/** Decode a PATH_OFFER; throws only WireError. */
export function decodePathOffer(bytes: Uint8Array): PathOffer {
  if (!(bytes instanceof Uint8Array)) wireFail(WireCode.Field, 'PATH_OFFER: expected a Uint8Array');
  if (bytes.length > MAX_PATH_OFFER_BYTES) wireFail(WireCode.TooLarge, `PATH_OFFER: ${bytes.length} bytes, limit ${MAX_PATH_OFFER_BYTES}`);
  if (bytes.length < MIN_PATH_OFFER_BYTES) wireFail(WireCode.Length, `PATH_OFFER: ${bytes.length} bytes, at least ${MIN_PATH_OFFER_BYTES}`);
  const signed = bytes.subarray(0, bytes.length - HYBRID_SIGNATURE_BYTES);
  const r = new ByteReader(signed);
  const version = r.u8('PATH_OFFER version');
  if (version !== PATH_OFFER_VERSION && version !== PATH_OFFER_VERSION_1) {
    wireFail(WireCode.Version, `PATH_OFFER: version ${version}, expected ${PATH_OFFER_VERSION_1} or ${PATH_OFFER_VERSION}`);
  }
  r.zeros(1, 'PATH_OFFER reserved');
  const peerId = r.bytes(PEER_ID_BYTES, 'PATH_OFFER peerId');
  const timestampMs = r.u64Number('PATH_OFFER timestampMs');
  const fingerprint = r.bytes(PATH_FINGERPRINT_BYTES, 'PATH_OFFER fingerprint');
  const count = r.u8('PATH_OFFER count');
  if (count > MAX_PATH_CANDIDATES) wireFail(WireCode.TooLarge, `PATH_OFFER: ${count} candidates, limit ${MAX_PATH_CANDIDATES}`);
  const candidates: PathCandidate[] = [];
  for (let i = 0; i < count; i++) {
    let transport: PathTransport = 'wss';
    let reflexive = false;
    if (version !== PATH_OFFER_VERSION_1) {
      const tag = r.u8('PATH_OFFER candidate transport');
      if (tag === PathTransportTag.Udp) transport = 'udp';
      else if (tag !== PathTransportTag.Wss) return wireFail(WireCode.Field, `PATH_OFFER candidate ${i}: transport ${tag}, expected 1 or 2`);
      const flags = r.u8('PATH_OFFER candidate flags');
      if ((flags & ~PATH_CANDIDATE_FLAG_REFLEXIVE) !== 0) return wireFail(WireCode.Field, `PATH_OFFER candidate ${i}: unknown flags 0x${flags.toString(16)}`);
      reflexive = (flags & PATH_CANDIDATE_FLAG_REFLEXIVE) !== 0;
    }
    const family = r.u8('PATH_OFFER candidate family');
    let size: number;
    if (family === ADDRESS_FAMILY_IPV4) size = IPV4_BYTES;
    else if (family === ADDRESS_FAMILY_IPV6) size = IPV6_BYTES;
    else return wireFail(WireCode.Field, `PATH_OFFER candidate ${i}: family ${family}, expected 4 or 6`);
    const address = formatIpAddress(r.bytes(size, 'PATH_OFFER candidate address'));
    const port = r.u16('PATH_OFFER candidate port');
    if (port === 0) wireFail(WireCode.Field, `PATH_OFFER candidate ${i}: port 0`);
    candidates.push({ address, port, transport, reflexive });
  }
  r.end('PATH_OFFER');
  return { peerId, timestampMs, fingerprint, candidates, signature: bytes.subarray(signed.length), signed };
}

/** True when `offer`'s hybrid signature verifies under `publicKey` (both halves). Never throws for a bad key length: false. */
export function verifyPathOffer(publicKey: Uint8Array, offer: PathOffer): boolean {
  try {
    return hybridVerify(publicKey, PATH_OFFER_CONTEXT, offer.signed, offer.signature);
  } catch {
    return false;
  }
}
