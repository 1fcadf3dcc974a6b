/**
 * Which candidate addresses a node dials or probes (docs/protocol.md §3.5.6;
 * issue 11). Candidates reach a node from elsewhere — a peer's PATH_OFFER,
 * the relay's view of our address (ESTABLISHED), a STUN server's answer (by
 * default the relay's) — and a direct attempt sends TLS ClientHellos or
 * punch probes to them. So whoever names them must not be able to aim that
 * traffic at addresses that are nobody's in particular or everybody's:
 *
 *   unspecified   0.0.0.0/8, ::                       ('unspecified')
 *   multicast     224.0.0.0/4, ff00::/8               ('multicast')
 *   broadcast     255.255.255.255 and the directed broadcast address of
 *                 each of this host's IPv4 interfaces ('broadcast')
 *   loopback      127.0.0.0/8, ::1 — unless our own listener or socket is
 *                 bound to a loopback address: such a node can only reach
 *                 loopback, and only loopback reaches it ('loopback')
 *   port 0 or an address that is no IP address        ('port', 'not_ip')
 *
 * IPv4-mapped IPv6 forms (::ffff:a.b.c.d) are judged as the IPv4 address.
 * A candidate that passes is still only a place to try: no data goes to a
 * UDP address before an authenticated probe answered from it, nor over TLS
 * before the pinned certificate and the re-handshake (§3.3) checked out.
 *
 * capCandidates bounds how many of one offer a node takes
 * (MAX_CANDIDATES_PER_OFFER), shared fairly between WSS and UDP.
 *
 * Pure but for reading this host's interface table (broadcast addresses);
 * never throws.
 */
import { networkInterfaces } from 'node:os';
import { formatIpAddress, isIpv4Mapped, parseIpAddress } from '../../../wire/ip-address.js';
import type { PathCandidate } from './path-offer.js';

/** Candidates taken from one PATH_OFFER, at most (the wire allows 32): every interface and
 *  reflexive address a real host has fits, and a direct attempt's fan-out stays small. */
export const MAX_CANDIDATES_PER_OFFER = 16;

export type CandidateRefusal = 'not_ip' | 'port' | 'unspecified' | 'multicast' | 'broadcast' | 'loopback';

/** Every refusal reason, for counters that start at zero. */
export const CANDIDATE_REFUSALS: readonly CandidateRefusal[] = Object.freeze(['not_ip', 'port', 'unspecified', 'multicast', 'broadcast', 'loopback']);

export function newRefusalCounts(): Record<CandidateRefusal | 'over_cap', number> {
  return { not_ip: 0, port: 0, unspecified: 0, multicast: 0, broadcast: 0, loopback: 0, over_cap: 0 };
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms (a bound host given as text). */
export function isLoopbackAddress(text: string): boolean {
  const b = bytesOf(text);
  return b !== null && isLoopbackBytes(b);
}

/** 127.0.0.0/8 (4 bytes) or ::1 (16 bytes). */
function isLoopbackBytes(b: Uint8Array): boolean {
  return b.length === 4 ? b[0] === 127 : b.every((x, i) => x === (i === 15 ? 1 : 0));
}

/** The address as 4 (IPv4, mapped forms unmapped) or 16 bytes; null when it is no IP address. */
function bytesOf(text: string): Uint8Array | null {
  try {
    const b = parseIpAddress(text).bytes;
    if (b.length === 16 && isIpv4Mapped(b)) return b.slice(12);
    return b;
  } catch {
    return null;
  }
}

/** Directed broadcast addresses of this host's IPv4 interfaces (address | ~netmask), for /30 and wider. */
export function interfaceBroadcasts(): Set<string> {
  const out = new Set<string>();
  try {
    for (const list of Object.values(networkInterfaces())) {
      for (const ni of list ?? []) {
        if (ni.family !== 'IPv4') continue;
        const a = bytesOf(ni.address);
        const m = bytesOf(ni.netmask);
        if (a === null || m === null || a.length !== 4 || m.length !== 4) continue;
        if (m[3]! >= 0xfe) continue; // /31 and /32 have no broadcast address
        out.add(formatIpAddress(Uint8Array.from(a, (x, i) => (x | (~m[i]! & 0xff)) & 0xff)));
      }
    }
  } catch {
    // no interface table: only the limited broadcast address is known
  }
  return out;
}

export interface CandidatePolicy {
  /** Our own listener or socket is bound to a loopback address. */
  loopbackAllowed: boolean;
  /** Directed broadcast addresses known here (interfaceBroadcasts()). */
  broadcasts?: ReadonlySet<string>;
}

/** Why `address`:`port` must not be dialed or probed, or null when it may. Never throws. */
export function candidateRefusal(address: string, port: number, policy: CandidatePolicy): CandidateRefusal | null {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) return 'port';
  const b = typeof address === 'string' ? bytesOf(address) : null;
  if (b === null) return 'not_ip';
  if (b.length === 4) {
    if (b[0] === 0) return 'unspecified';
    if (b[0]! >= 224 && b[0]! <= 239) return 'multicast';
    if (b.every((x) => x === 255)) return 'broadcast';
    if (policy.broadcasts?.has(formatIpAddress(b)) === true) return 'broadcast';
    if (isLoopbackBytes(b)) return policy.loopbackAllowed ? null : 'loopback';
    return null;
  }
  if (b.every((x) => x === 0)) return 'unspecified';
  if (b[0] === 0xff) return 'multicast';
  if (isLoopbackBytes(b)) return policy.loopbackAllowed ? null : 'loopback';
  return null;
}

/**
 * The candidates that may be dialed or probed, at most `max` of them: each transport
 * gets up to half first (in the offer's order), then the rest fill what is left.
 * Every candidate left out is counted in `counts` by reason ('over_cap' beyond `max`).
 */
export function filterCandidates(
  candidates: readonly PathCandidate[],
  policy: CandidatePolicy,
  counts: Record<CandidateRefusal | 'over_cap', number>,
  max = MAX_CANDIDATES_PER_OFFER,
): PathCandidate[] {
  const ok: PathCandidate[] = [];
  for (const c of candidates) {
    const why = candidateRefusal(c.address, c.port, policy);
    if (why === null) ok.push(c);
    else counts[why]++;
  }
  if (ok.length <= max) return ok;
  const half = Math.floor(max / 2);
  const taken = new Set<PathCandidate>();
  for (const t of ['wss', 'udp'] as const) {
    let n = 0;
    for (const c of ok) if ((c.transport ?? 'wss') === t && n < half) { taken.add(c); n++; }
  }
  for (const c of ok) if (taken.size < max) taken.add(c);
  counts.over_cap += ok.length - taken.size;
  return ok.filter((c) => taken.has(c));
}
