/**
 * The members online on this relay as the operator page lists them
 * (docs/architecture.md "Web console"): name, short peer id, mesh
 * addresses, where it connects from, when it was admitted and its traffic
 * (client-connection.ts MemberTraffic).
 *
 * Bounded: at most MAX_LISTED_MEMBERS entries, sorted by name then peer
 * id so the same members are shown from one snapshot to the next, with
 * `total` always the complete count. The list carries member names, so it
 * is served only behind the operator's admin token (the web console),
 * never on the unauthenticated GET /stats (docs/threat-model.md §7).
 * Entries are fresh objects; nothing is a view of a connection's state.
 */
import { toHex } from '../crypto/bytes.js';
import { shortId } from '../identity/peer-id.js';
import { formatHostPort } from '../wire/ip-address.js';
import type { MemberTraffic } from './client-connection.js';

/** A page redrawn every second must stay small: 200 rows is a screenful many times over, and a snapshot of ~60 KB at most. */
export const MAX_LISTED_MEMBERS = 200;

/** What the list reads of one admitted connection (ClientConnection fits). */
export interface ListedConnection {
  readonly peerId: Uint8Array | null;
  readonly certificate: { readonly name?: string; readonly addresses?: readonly string[] } | null;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly traffic: MemberTraffic;
}

export interface ListedMember extends MemberTraffic {
  name: string;
  /** shortId of the peer id (src/identity/peer-id.ts). */
  peer: string;
  /** Mesh addresses from the certificate. */
  addresses: string[];
  /** Where the member's connection comes from (IP:port). */
  remote: string;
  /** Admission time on this relay (Unix ms). */
  admittedAtMs: number;
}

export interface MemberListSnapshot {
  /** Members online on this relay, all of them. */
  total: number;
  /** The first `limit` of them, by name then peer id. */
  members: ListedMember[];
}

export function memberList(entries: Iterable<{ conn: ListedConnection; admittedAtMs: number }>, limit = MAX_LISTED_MEMBERS): MemberListSnapshot {
  const all: Array<{ key: string; conn: ListedConnection; name: string; admittedAtMs: number }> = [];
  for (const { conn, admittedAtMs } of entries) {
    if (conn.peerId === null || conn.certificate === null) continue;
    all.push({ key: toHex(conn.peerId), conn, name: conn.certificate.name ?? '', admittedAtMs });
  }
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const members = all.slice(0, Math.max(0, limit)).map(({ conn, name, admittedAtMs }): ListedMember => ({
    name,
    peer: shortId(conn.peerId as Uint8Array),
    addresses: [...(conn.certificate?.addresses ?? [])],
    remote: formatHostPort(conn.remoteAddress, conn.remotePort),
    admittedAtMs,
    ...conn.traffic,
  }));
  return { total: all.length, members };
}
