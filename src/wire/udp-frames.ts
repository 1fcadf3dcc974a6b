/**
 * Codec for the UDP-only frames of direct UDP paths (docs/protocol.md §3.5):
 * UDP_PROBE 0x2a, UDP_PROBE_ACK 0x2b and UDP_FRAGMENT 0x2c. They travel only
 * in datagrams between two nodes, beside whole peer frames (0x21..0x24); a
 * relay and a WSS path never carry them.
 *
 *   UDP_PROBE / UDP_PROBE_ACK (little-endian):
 *   | 0 version u8 (=1) | 1 type u8 | 2..3 reserved (0) | 4 purpose u8 (1..4) | 5 embedLen u8 (0 or 20) |
 *   | 6..7 padLen u16 | 8..39 senderPeerId | 40..55 txid[16] | 56..63 timestampMs u64 |
 *   | embed[embedLen] (a PATH_PROBE / PATH_PROBE_ACK) | padLen zero bytes | mac[16] |
 *
 *   UDP_FRAGMENT:
 *   | 0 version u8 (=1) | 1 type u8 (0x2c) | 2..3 reserved (0) | 4..7 frameId u32 | 8 index u8 |
 *   | 9 count u8 (2..255) | 10..11 reserved (0) | data (1.. bytes) |
 *
 * The MAC of a probe is the transport's (udp-probe-auth.ts): this codec only
 * places and finds it. Byte fields of decoded frames are VIEWS of the input.
 * Decoders throw only WireError (SM_ERR_WIRE_*), lengths first.
 */
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import {
  HEADER_BYTES,
  HEADER_TYPE_OFFSET,
  MAX_UDP_DATAGRAM_BYTES,
  MAX_UDP_FRAGMENTS,
  MAX_UDP_PROBE_EMBED_BYTES,
  MIN_UDP_PROBE_BYTES,
  PEER_ID_BYTES,
  UDP_FRAGMENT_HEADER_BYTES,
  UDP_PROBE_FIXED_BYTES,
  UDP_PROBE_MAC_BYTES,
  UDP_TXID_BYTES,
  UdpFrameType,
  UdpProbePurpose,
} from './constants.js';
import { checkFrameHeader, putFrameHeader } from './frame-header.js';
import { WireCode, wireFail } from './wire-errors.js';

export interface UdpProbeFields {
  ack: boolean;
  purpose: UdpProbePurpose;
  senderPeerId: Uint8Array;
  txid: Uint8Array;
  timestampMs: number;
  /** Empty, or one PATH_PROBE / PATH_PROBE_ACK (20 bytes). */
  embed: Uint8Array;
  /** Zero bytes added (MTU probes); the whole datagram stays <= MAX_UDP_DATAGRAM_BYTES. */
  padding: number;
}

export interface UdpProbe extends UdpProbeFields {
  /** Everything the MAC covers (all bytes before it), a view. */
  signed: Uint8Array;
  mac: Uint8Array;
}

export interface UdpFragment {
  frameId: number;
  index: number;
  count: number;
  data: Uint8Array;
}

const PURPOSES: ReadonlySet<number> = new Set(Object.values(UdpProbePurpose));

/** True for 0x2a..0x2c. */
export function isUdpFrameType(type: number): type is UdpFrameType {
  return type >= UdpFrameType.UdpProbe && type <= UdpFrameType.UdpFragment;
}

/** The type byte of a datagram, or -1 when it has none. */
export function datagramType(bytes: Uint8Array): number {
  return bytes.length > HEADER_TYPE_OFFSET ? (bytes[HEADER_TYPE_OFFSET] as number) : -1;
}

/** Size of an encoded probe with these fields. */
export function udpProbeSize(embedBytes: number, padding: number): number {
  return MIN_UDP_PROBE_BYTES + embedBytes + padding;
}

/** A probe with an all-zero MAC field: the caller computes the MAC over `bytes.subarray(0, -16)` and writes it into the last 16 bytes. */
export function encodeUdpProbe(f: UdpProbeFields): Uint8Array {
  if (!PURPOSES.has(f.purpose)) wireFail(WireCode.Field, `UDP_PROBE purpose: ${String(f.purpose)}`);
  if (f.embed.length !== 0 && f.embed.length !== MAX_UDP_PROBE_EMBED_BYTES) {
    wireFail(WireCode.Length, `UDP_PROBE embed: ${f.embed.length} bytes, expected 0 or ${MAX_UDP_PROBE_EMBED_BYTES}`);
  }
  if (!Number.isInteger(f.padding) || f.padding < 0) wireFail(WireCode.Field, `UDP_PROBE padding: ${f.padding}`);
  const size = udpProbeSize(f.embed.length, f.padding);
  if (size > MAX_UDP_DATAGRAM_BYTES) wireFail(WireCode.TooLarge, `UDP_PROBE: ${size} bytes, limit ${MAX_UDP_DATAGRAM_BYTES}`);
  const out = new Uint8Array(size);
  putFrameHeader(out, 0, f.ack ? UdpFrameType.UdpProbeAck : UdpFrameType.UdpProbe);
  const w = new ByteWriter(out, HEADER_BYTES);
  w.u8(f.purpose, 'UDP_PROBE purpose').u8(f.embed.length, 'UDP_PROBE embedLen').u16(f.padding, 'UDP_PROBE padLen');
  w.fixedBytes(f.senderPeerId, PEER_ID_BYTES, 'UDP_PROBE senderPeerId');
  w.fixedBytes(f.txid, UDP_TXID_BYTES, 'UDP_PROBE txid');
  w.u64Number(f.timestampMs, 'UDP_PROBE timestampMs');
  w.bytes(f.embed, 'UDP_PROBE embed');
  return out; // padding and MAC are the zeros already there
}

/** Decode a UDP_PROBE / UDP_PROBE_ACK (MAC not checked). Throws only WireError. */
export function decodeUdpProbe(bytes: Uint8Array): UdpProbe {
  const type = checkFrameHeader(bytes, MAX_UDP_DATAGRAM_BYTES, (t) => t === UdpFrameType.UdpProbe || t === UdpFrameType.UdpProbeAck, 'UDP_PROBE');
  if (bytes.length < MIN_UDP_PROBE_BYTES) wireFail(WireCode.Length, `UDP_PROBE: ${bytes.length} bytes, at least ${MIN_UDP_PROBE_BYTES}`);
  const r = new ByteReader(bytes, HEADER_BYTES);
  const purpose = r.u8('UDP_PROBE purpose');
  if (!PURPOSES.has(purpose)) wireFail(WireCode.Field, `UDP_PROBE purpose: ${purpose}`);
  const embedLen = r.u8('UDP_PROBE embedLen');
  if (embedLen !== 0 && embedLen !== MAX_UDP_PROBE_EMBED_BYTES) wireFail(WireCode.Length, `UDP_PROBE embedLen: ${embedLen}`);
  const padding = r.u16('UDP_PROBE padLen');
  if (bytes.length !== udpProbeSize(embedLen, padding)) {
    wireFail(WireCode.Length, `UDP_PROBE: ${bytes.length} bytes, expected ${udpProbeSize(embedLen, padding)}`);
  }
  const senderPeerId = r.bytes(PEER_ID_BYTES, 'UDP_PROBE senderPeerId');
  const txid = r.bytes(UDP_TXID_BYTES, 'UDP_PROBE txid');
  const timestampMs = r.u64Number('UDP_PROBE timestampMs');
  const embed = r.bytes(embedLen, 'UDP_PROBE embed');
  r.zeros(padding, 'UDP_PROBE padding');
  const mac = r.bytes(UDP_PROBE_MAC_BYTES, 'UDP_PROBE mac');
  r.end('UDP_PROBE');
  return {
    ack: type === UdpFrameType.UdpProbeAck,
    purpose: purpose as UdpProbePurpose,
    senderPeerId,
    txid,
    timestampMs,
    embed,
    padding,
    signed: bytes.subarray(0, UDP_PROBE_FIXED_BYTES + embedLen + padding),
    mac,
  };
}

/** Write a UDP_FRAGMENT header at `offset` of `target` (which has room for it). */
export function putUdpFragmentHeader(target: Uint8Array, offset: number, frameId: number, index: number, count: number): void {
  if (count < 2 || count > MAX_UDP_FRAGMENTS || index < 0 || index >= count) {
    wireFail(WireCode.Field, `UDP_FRAGMENT: index ${index} of ${count}`);
  }
  // Hot path (one call per datagram): plain byte stores, no writer object.
  putFrameHeader(target, offset, UdpFrameType.UdpFragment);
  const id = frameId >>> 0;
  const o = offset + HEADER_BYTES;
  target[o] = id & 0xff;
  target[o + 1] = (id >>> 8) & 0xff;
  target[o + 2] = (id >>> 16) & 0xff;
  target[o + 3] = id >>> 24;
  target[o + 4] = index;
  target[o + 5] = count;
  target[o + 6] = 0;
  target[o + 7] = 0;
}

/** Decode a UDP_FRAGMENT; `data` is a view. Throws only WireError. */
export function decodeUdpFragment(bytes: Uint8Array): UdpFragment {
  checkFrameHeader(bytes, MAX_UDP_DATAGRAM_BYTES, (t) => t === UdpFrameType.UdpFragment, 'UDP_FRAGMENT');
  if (bytes.length <= UDP_FRAGMENT_HEADER_BYTES) wireFail(WireCode.Length, `UDP_FRAGMENT: ${bytes.length} bytes, more than ${UDP_FRAGMENT_HEADER_BYTES} needed`);
  const r = new ByteReader(bytes, HEADER_BYTES);
  const frameId = r.u32('UDP_FRAGMENT frameId');
  const index = r.u8('UDP_FRAGMENT index');
  const count = r.u8('UDP_FRAGMENT count');
  r.zeros(2, 'UDP_FRAGMENT reserved');
  if (count < 2 || index >= count) wireFail(WireCode.Field, `UDP_FRAGMENT: index ${index} of ${count}`);
  return { frameId, index, count, data: r.rest() };
}
