/**
 * Rendezvous: where peers can reach each other, for every carrier
 * (docs/architecture.md "Carriers"; docs/protocol.md §3.1 and §3.5.6). As
 * Tailscale keeps discovery apart from its transports, this module owns the
 * candidate registry both direct transports read, and neither transport
 * owns it:
 *
 *  - our local candidates per carrier: the UDP transport's host and
 *    reflexive addresses (setUdpCandidates), and the WSS listener's
 *    addresses (listen-addresses.ts) plus the advertised ones (setAdvertise,
 *    e.g. the address the relay observed), all with the listener's port;
 *  - our mesh subnets (setMeshPrefixes), and the members' subnet routes we
 *    accept (setRoutedPrefixes, docs/architecture.md "Subnet routes"):
 *    addresses inside them are never advertised, dialed nor probed
 *    (isMeshAddress), since a "direct" path through the tunnel would carry
 *    the tunnel inside itself (a member serving a LAN offers its LAN
 *    address, which our kernel routes into the mesh);
 *  - what peers offered, per peer: the pins of their certificates (current
 *    first, then the previous one) and their candidates, filtered by
 *    candidate-filter.ts (refusals counted in stats.candidatesRefused, by
 *    reason, and at most MAX_CANDIDATES_PER_OFFER kept per peer).
 *
 * It never verifies an offer: offer-exchange.ts does, and stores only what
 * verified. It never throws on what peers sent. Returned candidates are
 * copies. Events: 'changed' () when our own candidates changed (the offer
 * exchange re-signs and re-sends our PATH_OFFER). Not re-entrant from its
 * own 'changed' listeners in any way that matters: it emits after its state
 * is updated.
 */
import { EventEmitter } from 'node:events';
import { toHex } from '../../../crypto/bytes.js';
import { ConfigError } from '../../../errors.js';
import { parseCidr, type Cidr } from '../../../identity/cidr.js';
import { parseRoute } from '../../../identity/cert-routes.js';
import { MAX_PATH_CANDIDATES } from '../../../wire/constants.js';
import { canonicalIpText, parseIpAddress } from '../../../wire/ip-address.js';
import { isIP } from 'node:net';
import { PathCode } from '../path-errors.js';
import { candidateRefusal, filterCandidates, interfaceBroadcasts, isLoopbackAddress, newRefusalCounts, type CandidatePolicy, type CandidateRefusal } from './candidate-filter.js';
import { listenAddresses } from './listen-addresses.js';
import type { PathCandidate } from './path-offer.js';

/** A carrier a candidate belongs to; an offer's candidate without one is WSS (docs/protocol.md §3.1). */
export type Carrier = 'wss' | 'udp';

export interface RendezvousStats {
  /** Candidates never dialed or offered (candidate-filter.ts): of peers' offers, and relay-observed addresses we would have advertised; by reason. */
  candidatesRefused: Record<CandidateRefusal | 'over_cap', number>;
}

/** What a verified offer tells us about a peer (offer-exchange.ts builds it). */
export interface PeerOfferEntry {
  peerId: Uint8Array;
  timestampMs: number;
  /** The offer's bytes, to tell a harmless duplicate from a conflicting one. */
  bytes: Uint8Array;
  /** Current pin first, then the previous one: a connection the peer began before rotating still passes. */
  pins: Uint8Array[];
  candidates: PathCandidate[];
}

function carrierOf(c: PathCandidate): Carrier {
  return c.transport ?? 'wss';
}

/** True when the first `prefix` bits of `a` and `b` are equal (same length arrays). */
function prefixMatch(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[full]! ^ b[full]!) & mask) === 0;
}

function checkAddresses(name: string, addresses: unknown): asserts addresses is readonly string[] {
  if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== 'string' || isIP(a) === 0)) {
    throw new ConfigError(PathCode.OPTION, `direct transport option ${name}: expected an array of IP addresses, got ${JSON.stringify(addresses) ?? String(addresses)}`);
  }
}

export class Rendezvous extends EventEmitter {
  readonly stats: RendezvousStats = { candidatesRefused: newRefusalCounts() };
  #meshPrefixes: Cidr[] = [];
  /** Subnet routes we accept: reached through the mesh, so never a direct path's address. */
  #routedPrefixes: Cidr[] = [];
  #advertise: readonly string[] = Object.freeze([]);
  #udpCandidates: readonly PathCandidate[] = [];
  /** The WSS listener's configured host until it is bound, then the bound host ('' without a WSS listener). */
  #wssHost = '';
  #wssBound = false;
  #wssPort = 0;
  /** hex(peerId) -> latest verified offer. */
  readonly #peers = new Map<string, PeerOfferEntry>();
  /** hex(pin) -> hex(peerId)s that signed it. */
  readonly #pinIndex = new Map<string, Set<string>>();

  constructor(options: { advertise?: readonly string[] } = {}) {
    super();
    if (options.advertise !== undefined) {
      checkAddresses('advertise', options.advertise);
      this.#advertise = Object.freeze([...options.advertise]);
    }
  }

  // ------------------------------------------------------------ our side

  /**
   * The WSS listener's host and port: `bound` false while only configured
   * (the loopback rule already follows it), true once listening (its
   * addresses become candidates).
   */
  setWssListener(host: string, port: number, bound: boolean): void {
    this.#wssHost = host;
    this.#wssPort = port;
    this.#wssBound = bound;
  }

  /**
   * Declare our mesh subnets (the device's CIDRs from our certificate).
   * Addresses inside them are neither advertised nor dialed.
   */
  setMeshPrefixes(cidrs: readonly string[]): void {
    this.#meshPrefixes = cidrs.map((c) => parseCidr(c));
    this.emit('changed');
  }

  /**
   * Declare the members' subnet routes this node accepts (routed into the
   * mesh); addresses inside them are neither dialed nor probed from now on,
   * nor advertised from our next offer. No 'changed': members coming and
   * going must not make us re-sign our offer each time.
   */
  setRoutedPrefixes(cidrs: readonly string[]): void {
    this.#routedPrefixes = cidrs.map((c) => parseRoute(c));
  }

  /** True for an address inside our mesh subnets or the routes we accept (never advertised, never dialed or probed). */
  isMeshAddress(address: string): boolean {
    if (this.#meshPrefixes.length === 0 && this.#routedPrefixes.length === 0) return false;
    let bytes: Uint8Array;
    try {
      bytes = parseIpAddress(address).bytes;
    } catch {
      return false;
    }
    const inside = (c: Cidr): boolean => c.address.length === bytes.length && prefixMatch(c.address, bytes, c.prefix);
    return this.#meshPrefixes.some(inside) || this.#routedPrefixes.some(inside);
  }

  /** The candidates our offer carries: UDP first (they cross NATs), then advertised (reflexive) WSS addresses, then the interfaces. */
  localCandidates(): PathCandidate[] {
    const hosts = this.#wssBound ? listenAddresses(this.#wssHost, this.#wssHost === '::') : [];
    const seen = new Set<string>();
    const out: PathCandidate[] = [];
    for (const c of this.#udpCandidates) {
      if (out.length >= MAX_PATH_CANDIDATES || this.isMeshAddress(c.address)) continue;
      out.push({ ...c });
    }
    // No WSS listener (not bound yet, or WSS off: direct-transport.ts `wss: false`): no WSS candidate at all.
    if (!this.#wssBound) return out;
    const policy = this.candidatePolicy();
    for (const h of [...this.#advertise, ...hosts]) {
      const a = canonicalIpText(h) ?? h;
      if (seen.has(a) || out.length >= MAX_PATH_CANDIDATES || this.isMeshAddress(a)) continue;
      // An advertised address may be the relay's word (ESTABLISHED): peers would dial it.
      if (this.#advertise.includes(h) && candidateRefusal(a, this.#wssPort, policy) !== null) continue;
      seen.add(a);
      out.push({ address: a, port: this.#wssPort, transport: 'wss', reflexive: this.#advertise.includes(a) });
    }
    return out;
  }

  /** Replace the UDP candidates our offer carries (udp-transport.ts 'candidates'); 'changed' when they differ. */
  setUdpCandidates(candidates: readonly PathCandidate[]): void {
    const next = Object.freeze(candidates.map((c) => ({ address: canonicalIpText(c.address) ?? c.address, port: c.port, transport: 'udp' as const, reflexive: c.reflexive === true })));
    const same = next.length === this.#udpCandidates.length &&
      next.every((c, i) => { const o = this.#udpCandidates[i]!; return o.address === c.address && o.port === c.port && o.reflexive === c.reflexive; });
    if (same) return;
    this.#udpCandidates = next;
    this.emit('changed');
  }

  /** Replace the extra advertised WSS addresses (e.g. a new relay-observed address); 'changed' when they differ. */
  setAdvertise(addresses: readonly string[]): void {
    checkAddresses('advertise', addresses);
    const next = Object.freeze(addresses.map((a) => canonicalIpText(a) ?? a));
    if (next.length === this.#advertise.length && next.every((a, i) => a === this.#advertise[i])) return;
    // Kept (a later bind may change the loopback rule) but never put in an offer while refused (localCandidates).
    const policy = this.candidatePolicy();
    for (const a of next) {
      const why = candidateRefusal(a, this.#wssPort === 0 ? 1 : this.#wssPort, policy);
      if (why !== null) this.stats.candidatesRefused[why]++;
    }
    this.#advertise = next;
    this.emit('changed');
  }

  /** What we may dial (candidate-filter.ts): loopback only while our WSS listener is on loopback. */
  candidatePolicy(): CandidatePolicy {
    return { loopbackAllowed: isLoopbackAddress(this.#wssHost), broadcasts: interfaceBroadcasts() };
  }

  // ------------------------------------------------------------ peers' side

  /** The latest verified offer of `peerId` (the stored entry; not to be modified), or undefined. */
  peerOffer(peerId: Uint8Array): Readonly<PeerOfferEntry> | undefined {
    return this.#peers.get(toHex(peerId));
  }

  /**
   * Store a verified offer of `peerId` (offer-exchange.ts). Its candidates
   * pass candidate-filter.ts here, whoever stores them.
   */
  setPeerOffer(entry: PeerOfferEntry): void {
    const key = toHex(entry.peerId);
    this.#unindex(key);
    // docs/protocol.md §3.5.6: no unspecified, multicast, broadcast or (unless we are on loopback) loopback
    // address is ever dialed or probed, and at most MAX_CANDIDATES_PER_OFFER of an offer are taken.
    const candidates = filterCandidates(entry.candidates, this.candidatePolicy(), this.stats.candidatesRefused).map((c) => ({ ...c }));
    this.#peers.set(key, { ...entry, candidates });
    for (const pin of entry.pins) {
      const k = toHex(pin);
      let set = this.#pinIndex.get(k);
      if (set === undefined) this.#pinIndex.set(k, (set = new Set()));
      set.add(key);
    }
  }

  /** Forget a peer's offer and pins (it left the network or its session ended); open paths stay. */
  forgetPeer(peerId: Uint8Array): void {
    const key = toHex(peerId);
    this.#unindex(key);
    this.#peers.delete(key);
  }

  /** The candidates of `peerId`'s latest accepted offer (copies), or null; `carrier` filters. */
  peerCandidates(peerId: Uint8Array, carrier?: Carrier): PathCandidate[] | null {
    const p = this.#peers.get(toHex(peerId));
    if (p === undefined) return null;
    return p.candidates.filter((c) => carrier === undefined || carrierOf(c) === carrier).map((c) => ({ ...c }));
  }

  /** The pins `peerId` signed (current first), or null without an offer. The stored arrays; not to be modified. */
  peerPins(peerId: Uint8Array): readonly Uint8Array[] | null {
    return this.#peers.get(toHex(peerId))?.pins ?? null;
  }

  /** The peers (ids, copies) whose latest offer carries `pin`; empty for a pin nobody signed. */
  pinOwners(pin: Uint8Array): Uint8Array[] {
    const set = this.#pinIndex.get(toHex(pin));
    if (set === undefined) return [];
    const out: Uint8Array[] = [];
    for (const k of set) {
      const p = this.#peers.get(k);
      if (p !== undefined) out.push(Uint8Array.from(p.peerId));
    }
    return out;
  }

  #unindex(key: string): void {
    const known = this.#peers.get(key);
    if (known === undefined) return;
    for (const pin of known.pins) {
      const k = toHex(pin);
      const set = this.#pinIndex.get(k);
      set?.delete(key);
      if (set?.size === 0) this.#pinIndex.delete(k);
    }
  }
}
