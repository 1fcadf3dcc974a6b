/**
 * The bytes relays exchange over NATS (docs/architecture.md "Relay
 * cluster"; what each lets a sender do: docs/threat-model.md "Relay cluster
 * over NATS").
 *
 * Every message starts with the same 18 bytes:
 *
 *   offset  size  field
 *   0       1     version (CLUSTER_VERSION)
 *   1       1     type (ClusterType)
 *   2       16    sender relay instance id (random per relay process start)
 *
 * then, by type (integers big-endian):
 *
 *   HELLO      1 name length, name (UTF-8, ≤ 64)   "I (re)joined: send me your lists"
 *   HEARTBEAT  1 name length, name, 4 member count
 *   SYNC_BEGIN 4 sync id                          a full member list follows
 *   MEMBERS    4 sync id (0: a live join), 2 count, then per member:
 *              8 admission time (Unix ms), 2 certificate length, certificate
 *   SYNC_END   4 sync id, 4 members sent           members of the sender not in
 *                                                   this list are gone
 *   LEAVE      32 peer id, 8 admission time
 *   FORWARD    32 destination peer id, then a DELIVER frame exactly as the
 *              relay would write it to a local member (docs/protocol.md §1):
 *              4-byte header, 32-byte source peer id, sealed payload
 *
 * The decoder never throws: whatever arrives from NATS is input from the
 * network (docs/conventions.md §10), so it returns `{ type: 'invalid',
 * reason }` and the caller counts the reason. Variable fields (certificates,
 * the DELIVER frame) are views of the input (`subarray`); the caller copies
 * what it keeps. Certificates are only sized here; the caller verifies them
 * against the network CA.
 */
import { MAX_MEMBER_CERT_BYTES } from '../../identity/certificate.js';
import { FrameType, HEADER_BYTES, MAX_FRAME_BYTES, PEER_ID_BYTES, PROTOCOL_VERSION, SEND_HEADER_BYTES } from '../../wire/constants.js';
import { MAX_CLUSTER_MESSAGE_BYTES, MAX_RELAY_NAME_BYTES } from './cluster-options.js';

export const CLUSTER_VERSION = 1;
export const RELAY_ID_BYTES = 16;
export const CLUSTER_HEADER_BYTES = 2 + RELAY_ID_BYTES;
/** Fixed part of one MEMBERS entry: admission time and certificate length. */
const MEMBER_FIXED_BYTES = 8 + 2;
/** A MEMBERS message is cut below this, half the largest message, so a list never hits max_payload. */
export const MEMBERS_BATCH_BYTES = MAX_CLUSTER_MESSAGE_BYTES / 2;

export const ClusterType = Object.freeze({
  Hello: 1,
  Heartbeat: 2,
  SyncBegin: 3,
  Members: 4,
  SyncEnd: 5,
  Leave: 6,
  Forward: 7,
} as const);

export interface ClusterMemberEntry {
  admittedAtMs: number;
  /** View of the input. */
  cert: Uint8Array;
}

export type ClusterMessage =
  | { type: 'hello'; relayId: string; name: string }
  | { type: 'heartbeat'; relayId: string; name: string; members: number }
  | { type: 'sync-begin'; relayId: string; syncId: number }
  | { type: 'members'; relayId: string; syncId: number; members: ClusterMemberEntry[] }
  | { type: 'sync-end'; relayId: string; syncId: number; count: number }
  | { type: 'leave'; relayId: string; peerId: Uint8Array; admittedAtMs: number }
  /** `frame` is the DELIVER frame (a view of the input); `dst` a view too. */
  | { type: 'forward'; relayId: string; dst: Uint8Array; frame: Uint8Array };

/** Why a message was dropped; one counter each (cluster-stats.ts). */
export type ClusterDecodeReason = 'too-large' | 'truncated' | 'version' | 'type' | 'length' | 'name' | 'certificate-size' | 'frame';

export type Decoded = ClusterMessage | { type: 'invalid'; reason: ClusterDecodeReason };

function header(type: number, relayId: Uint8Array, bodyBytes: number): Buffer {
  const out = Buffer.allocUnsafe(CLUSTER_HEADER_BYTES + bodyBytes);
  out[0] = CLUSTER_VERSION;
  out[1] = type;
  out.set(relayId, 2);
  return out;
}

function withName(type: number, relayId: Uint8Array, name: string, extra: number): { out: Buffer; at: number } {
  const nameBytes = Buffer.from(name, 'utf8');
  const out = header(type, relayId, 1 + nameBytes.length + extra);
  out[CLUSTER_HEADER_BYTES] = nameBytes.length;
  out.set(nameBytes, CLUSTER_HEADER_BYTES + 1);
  return { out, at: CLUSTER_HEADER_BYTES + 1 + nameBytes.length };
}

export function encodeHello(relayId: Uint8Array, name: string): Buffer {
  return withName(ClusterType.Hello, relayId, name, 0).out;
}

export function encodeHeartbeat(relayId: Uint8Array, name: string, members: number): Buffer {
  const { out, at } = withName(ClusterType.Heartbeat, relayId, name, 4);
  out.writeUInt32BE(members >>> 0, at);
  return out;
}

export function encodeSyncBegin(relayId: Uint8Array, syncId: number): Buffer {
  const out = header(ClusterType.SyncBegin, relayId, 4);
  out.writeUInt32BE(syncId >>> 0, CLUSTER_HEADER_BYTES);
  return out;
}

export function encodeSyncEnd(relayId: Uint8Array, syncId: number, count: number): Buffer {
  const out = header(ClusterType.SyncEnd, relayId, 8);
  out.writeUInt32BE(syncId >>> 0, CLUSTER_HEADER_BYTES);
  out.writeUInt32BE(count >>> 0, CLUSTER_HEADER_BYTES + 4);
  return out;
}

/** MEMBERS messages for `members`, each below MEMBERS_BATCH_BYTES (one per member at worst). */
export function encodeMembers(relayId: Uint8Array, syncId: number, members: readonly ClusterMemberEntry[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < members.length) {
    let bytes = 0;
    let j = i;
    while (j < members.length && j - i < 0xffff && (j === i || bytes + MEMBER_FIXED_BYTES + (members[j] as ClusterMemberEntry).cert.length <= MEMBERS_BATCH_BYTES)) {
      bytes += MEMBER_FIXED_BYTES + (members[j] as ClusterMemberEntry).cert.length;
      j++;
    }
    const msg = header(ClusterType.Members, relayId, 6 + bytes);
    msg.writeUInt32BE(syncId >>> 0, CLUSTER_HEADER_BYTES);
    msg.writeUInt16BE(j - i, CLUSTER_HEADER_BYTES + 4);
    let at = CLUSTER_HEADER_BYTES + 6;
    for (let k = i; k < j; k++) {
      const m = members[k] as ClusterMemberEntry;
      msg.writeBigUInt64BE(BigInt(m.admittedAtMs), at);
      msg.writeUInt16BE(m.cert.length, at + 8);
      msg.set(m.cert, at + MEMBER_FIXED_BYTES);
      at += MEMBER_FIXED_BYTES + m.cert.length;
    }
    out.push(msg);
    i = j;
  }
  return out;
}

export function encodeLeave(relayId: Uint8Array, peerId: Uint8Array, admittedAtMs: number): Buffer {
  const out = header(ClusterType.Leave, relayId, PEER_ID_BYTES + 8);
  out.set(peerId, CLUSTER_HEADER_BYTES);
  out.writeBigUInt64BE(BigInt(admittedAtMs), CLUSTER_HEADER_BYTES + PEER_ID_BYTES);
  return out;
}

/** FORWARD: the destination and the DELIVER frame, byte for byte (one copy per frame). */
export function encodeForward(relayId: Uint8Array, dst: Uint8Array, deliverFrame: Uint8Array): Buffer {
  const out = header(ClusterType.Forward, relayId, PEER_ID_BYTES + deliverFrame.length);
  out.set(dst, CLUSTER_HEADER_BYTES);
  out.set(deliverFrame, CLUSTER_HEADER_BYTES + PEER_ID_BYTES);
  return out;
}

const invalid = (reason: ClusterDecodeReason): Decoded => ({ type: 'invalid', reason });

function readName(b: Uint8Array, at: number): { name: string; next: number } | null {
  if (b.length < at + 1) return null;
  const len = b[at] as number;
  if (len === 0 || len > MAX_RELAY_NAME_BYTES || b.length < at + 1 + len) return null;
  const name = Buffer.from(b.buffer, b.byteOffset + at + 1, len).toString('utf8');
  // Names end up in /stats and metric labels: printable characters only.
  if (!/^[\x21-\x7e]+$/.test(name)) return null;
  return { name, next: at + 1 + len };
}

function u64(b: Buffer, at: number): number {
  const v = b.readBigUInt64BE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
}

/** Decode one NATS message; never throws. */
export function decodeClusterMessage(data: Uint8Array): Decoded {
  if (data.length > MAX_CLUSTER_MESSAGE_BYTES) return invalid('too-large');
  if (data.length < CLUSTER_HEADER_BYTES) return invalid('truncated');
  if (data[0] !== CLUSTER_VERSION) return invalid('version');
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const relayId = b.toString('hex', 2, CLUSTER_HEADER_BYTES);
  const at = CLUSTER_HEADER_BYTES;
  switch (b[1]) {
    case ClusterType.Hello: {
      const n = readName(b, at);
      if (n === null) return invalid('name');
      return n.next === b.length ? { type: 'hello', relayId, name: n.name } : invalid('length');
    }
    case ClusterType.Heartbeat: {
      const n = readName(b, at);
      if (n === null) return invalid('name');
      if (b.length !== n.next + 4) return invalid('length');
      return { type: 'heartbeat', relayId, name: n.name, members: b.readUInt32BE(n.next) };
    }
    case ClusterType.SyncBegin:
      if (b.length !== at + 4) return invalid('length');
      return { type: 'sync-begin', relayId, syncId: b.readUInt32BE(at) };
    case ClusterType.SyncEnd:
      if (b.length !== at + 8) return invalid('length');
      return { type: 'sync-end', relayId, syncId: b.readUInt32BE(at), count: b.readUInt32BE(at + 4) };
    case ClusterType.Members: {
      if (b.length < at + 6) return invalid('length');
      const syncId = b.readUInt32BE(at);
      const count = b.readUInt16BE(at + 4);
      const members: ClusterMemberEntry[] = [];
      let p = at + 6;
      for (let i = 0; i < count; i++) {
        if (b.length < p + MEMBER_FIXED_BYTES) return invalid('length');
        const admittedAtMs = u64(b, p);
        const len = b.readUInt16BE(p + 8);
        if (admittedAtMs < 0) return invalid('length');
        if (len === 0 || len > MAX_MEMBER_CERT_BYTES) return invalid('certificate-size');
        if (b.length < p + MEMBER_FIXED_BYTES + len) return invalid('length');
        members.push({ admittedAtMs, cert: data.subarray(p + MEMBER_FIXED_BYTES, p + MEMBER_FIXED_BYTES + len) });
        p += MEMBER_FIXED_BYTES + len;
      }
      if (p !== b.length || count === 0) return invalid('length');
      return { type: 'members', relayId, syncId, members };
    }
    case ClusterType.Leave: {
      if (b.length !== at + PEER_ID_BYTES + 8) return invalid('length');
      const admittedAtMs = u64(b, at + PEER_ID_BYTES);
      if (admittedAtMs < 0) return invalid('length');
      return { type: 'leave', relayId, peerId: data.subarray(at, at + PEER_ID_BYTES), admittedAtMs };
    }
    case ClusterType.Forward: {
      const frame = data.subarray(at + PEER_ID_BYTES);
      // docs/protocol.md §1: exactly what a relay hands a member — a DELIVER with a non-empty payload.
      if (frame.length < SEND_HEADER_BYTES + 1 || frame.length > MAX_FRAME_BYTES) return invalid('frame');
      if (frame[0] !== PROTOCOL_VERSION || frame[1] !== FrameType.Deliver || frame[2] !== 0 || frame[3] !== 0) return invalid('frame');
      return { type: 'forward', relayId, dst: data.subarray(at, at + PEER_ID_BYTES), frame };
    }
    default:
      return invalid('type');
  }
}

/** The source peer id of a DELIVER frame (a view). */
export function deliverSource(frame: Uint8Array): Uint8Array {
  return frame.subarray(HEADER_BYTES, SEND_HEADER_BYTES);
}
