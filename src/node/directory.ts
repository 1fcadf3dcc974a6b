/**
 * The node's member directory: who is online, with a VERIFIED member
 * certificate each, indexed by peer id and by mesh address (docs/architecture.md
 * "Presence and the directory": peers check each other's certificates themselves;
 * docs/protocol.md §1 "Presence").
 *
 * The relay announces members (PEER_UP / PEER_DOWN, relayed by RelayLink's
 * 'peer_up' / 'peer_down' events), but the relay is untrusted: every
 * certificate it announces is verified here against the network CA
 * (signature, validity with the usual skew, revocation) and dropped when it
 * fails. A relay can therefore withhold or delay members, or report one
 * offline (which ends nothing we hold a session with, see below), but it
 * cannot invent a member, change a member's addresses or name, or bring a
 * revoked one back. Which address belongs to which peer is
 * what the CA signed, nothing else; L3 routing (byAddress) relies on it.
 * The same holds for the subnet routes a certificate carries
 * (docs/architecture.md "Subnet routes"): byRoute finds the member whose
 * certified route holds an address, longest prefix first (route-table.ts).
 *
 * Bad input never throws (docs/conventions.md §10): it is dropped, counted in `drops`
 * and logged at debug with the peer's short id:
 *   invalid_cert  not a member certificate of this network: garbage, another
 *                 CA, a bad signature, expired / not yet valid, revoked
 *   wrong_peer    a valid certificate fetched for another peer id than the
 *                 one it was requested for (src/node/cert-fetcher.ts)
 *   stale_cert    a valid certificate of a listed peer that is older
 *                 (notBeforeMs) than the one held: a relay replaying an old
 *                 certificate cannot roll a member's addresses back
 *   self          our own certificate (we never route to ourselves)
 *   unknown_peer  PEER_DOWN for a peer not listed (or not 32 bytes)
 *   too_many      a new member past `maxMembers`
 *
 * Presence is not reachability (docs/threat-model.md "Malicious relay"):
 * the relay decides who may be *introduced*, not who may keep an
 * authenticated session. A member the relay stops listing (PEER_DOWN, or
 * unconfirmed when the relay re-admits us and re-sends its list) while
 * `deps.sessionLive` says we hold a live session with it that does not need
 * the relay (a direct path) stays listed as OFFLINE: still routable by get /
 * byAddress / list with the certificate verified on entry, until the relay
 * announces it again (online), its session or its direct path ends
 * (`sessionChanged`, or the next `recheck`), or it is revoked or expires. A
 * relay restart, an outage or a forged PEER_DOWN therefore tears down no
 * working session or direct path; any other member leaves at once, as
 * before (a session that only the relay carries is useless while the relay
 * does not list its member). `isOnline` tells the two apart.
 *
 * Events (synchronous, from inside the call that caused them):
 *   'up'      (entry: DirectoryEntry, previous: DirectoryEntry | undefined)
 *             a member is listed (and online); `previous` is set when the
 *             entry replaced one of the same peer (re-announcement, or a
 *             newer certificate: addresses may have changed, so re-read them)
 *   'offline' (entry: DirectoryEntry)  the relay no longer lists the member,
 *             which stays listed (routable) while its session lives
 *   'down'    (entry: DirectoryEntry)  the member is no longer listed
 *
 * Entries and their address lists are frozen and never alias the caller's
 * buffers. Lookups are O(1); byAddress allocates nothing for IPv4.
 * Address conflicts (two certificates of one CA naming the same host
 * address, which only a misissuing CA produces) keep the first holder and
 * fall back to another holder when it leaves; they are counted in
 * `addressConflicts` and logged.
 *
 * Expiry is not watched by a timer here: the owner calls `recheck(nowMs)`
 * after loading a new revocation list and periodically (expiry, and offline
 * members whose session ended), see DIRECTORY_RECHECK_INTERVAL_MS.
 */
import { EventEmitter } from 'node:events';
import { ConfigError } from '../errors.js';
import { equalBytes, toHex } from '../crypto/bytes.js';
import type { MemberCertificate } from '../identity/certificate.js';
import { parseCidr } from '../identity/cidr.js';
import { parseRoute } from '../identity/cert-routes.js';
import { RouteTable } from './route-table.js';
import { CERT_CLOCK_SKEW_MS } from '../identity/membership.js';
import { shortId } from '../identity/peer-id.js';
import { systemClock, type Clock } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { DEFAULT_MAX_CLIENTS } from '../relay/relay-options.js';

/** One relay serves thousands of members (docs/architecture.md "Limits and scale"): the same bound as the relay's maxClients default. */
export const DEFAULT_DIRECTORY_MAX_MEMBERS = DEFAULT_MAX_CLIENTS;
/** How often an owner should call recheck() so an expired member leaves the
 *  directory promptly: a minute is small against certificate lifetimes
 *  (days to years) and costs one pass over the entries. */
export const DIRECTORY_RECHECK_INTERVAL_MS = 60_000;

const PEER_ID_BYTES = 32;
const IPV4_BYTES = 4;
const IPV6_BYTES = 16;

export interface DirectoryAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order (the host address, not the network). */
  bytes: Uint8Array;
  prefix: number;
  /** CIDR text as in the certificate, e.g. "10.10.10.3/24". */
  text: string;
}

export interface DirectoryEntry {
  peerId: Uint8Array;
  /** Lowercase hex of peerId: the key of get(). */
  hex: string;
  /** Member name from the certificate. */
  name: string;
  cert: MemberCertificate;
  addresses: DirectoryAddress[];
  /** Subnet routes from the certificate (bytes: the network address); empty for most members. */
  routes: DirectoryAddress[];
  /** When the relay saw the member come online (relay clock, Unix ms). */
  onlineSinceMs: number;
}

export type DirectoryDropReason = 'invalid_cert' | 'wrong_peer' | 'stale_cert' | 'self' | 'unknown_peer' | 'too_many';

/** What the directory needs of the membership verifier (MembershipVerifier fits). */
export interface DirectoryVerifier {
  /** Decodes and verifies (CA, validity, revocation); throws on any failure. */
  verify(certBytes: Uint8Array, nowMs: number): MemberCertificate;
  isRevoked(peerId: Uint8Array): boolean;
  readonly ca: { readonly notAfterMs: number };
}

export interface DirectoryDeps {
  verifier: DirectoryVerifier;
  selfPeerId: Uint8Array;
  /** True while we hold a live, authenticated session with this peer that does not depend on the relay (its current
   *  keys can receive and it runs on a direct path). Such a member stays listed, offline, when the relay stops
   *  listing it. Absent: no member is kept. */
  sessionLive?: (peerId: Uint8Array) => boolean;
  clock?: Clock;
  logger?: Logger;
}

export interface DirectoryOptions {
  /** Largest number of members listed at once; further new members are dropped ('too_many'). */
  maxMembers?: number;
}

const OPTION_KEYS: readonly string[] = ['maxMembers'];

function resolveOptions(options: DirectoryOptions): Readonly<Required<DirectoryOptions>> {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `directory options: expected an object, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `directory option ${key}: unknown option`);
  }
  const o = { maxMembers: DEFAULT_DIRECTORY_MAX_MEMBERS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  if (typeof o.maxMembers !== 'number' || !Number.isInteger(o.maxMembers) || o.maxMembers < 1 || o.maxMembers > 1_000_000) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `directory option maxMembers: expected an integer in [1, 1000000], got ${JSON.stringify(o.maxMembers)}`);
  }
  return Object.freeze(o as Required<DirectoryOptions>);
}

/** u32 key of an IPv4 address: no allocation on the routing path. */
function ipv4Key(a: Uint8Array): number {
  return (((a[0] as number) << 24) | ((a[1] as number) << 16) | ((a[2] as number) << 8) | (a[3] as number)) >>> 0;
}

/** String key of an IPv6 address (one latin1 character per byte). */
function ipv6Key(a: Uint8Array): string {
  return String.fromCharCode(...a);
}

function lowerHex(peerId: Uint8Array | string): string | undefined {
  if (typeof peerId === 'string') return peerId.length === PEER_ID_BYTES * 2 ? peerId.toLowerCase() : undefined;
  if (peerId instanceof Uint8Array && peerId.length === PEER_ID_BYTES) return toHex(peerId);
  return undefined;
}

export class Directory extends EventEmitter {
  readonly #verifier: DirectoryVerifier;
  readonly #selfHex: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #o: Readonly<Required<DirectoryOptions>>;
  readonly #byPeer = new Map<string, DirectoryEntry>();
  readonly #byV4 = new Map<number, DirectoryEntry>();
  readonly #byV6 = new Map<string, DirectoryEntry>();
  readonly #routes = new RouteTable<DirectoryEntry>();
  /** Hex ids of listed members the relay does not list now (kept for their live session). */
  readonly #offline = new Set<string>();
  readonly #sessionLive: (peerId: Uint8Array) => boolean;
  readonly #drops: Record<DirectoryDropReason, number> = { invalid_cert: 0, wrong_peer: 0, stale_cert: 0, self: 0, unknown_peer: 0, too_many: 0 };
  #addressConflicts = 0;
  /** Hex of host addresses claimed by more than one member; only these need a fallback scan. */
  readonly #contended = new Set<string>();

  constructor(deps: DirectoryDeps, options: DirectoryOptions = {}) {
    super();
    if (deps === null || typeof deps !== 'object' || typeof deps.verifier?.verify !== 'function' || typeof deps.verifier.isRevoked !== 'function') {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', 'directory deps.verifier: expected a MembershipVerifier');
    }
    if (!(deps.selfPeerId instanceof Uint8Array) || deps.selfPeerId.length !== PEER_ID_BYTES) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `directory deps.selfPeerId: expected ${PEER_ID_BYTES} bytes`);
    }
    this.#verifier = deps.verifier;
    this.#selfHex = toHex(deps.selfPeerId);
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger ?? silentLogger;
    this.#sessionLive = deps.sessionLive ?? (() => false);
    this.#o = resolveOptions(options);
  }

  /** Dropped announcements by reason; a live read-only view. */
  get drops(): Readonly<Record<DirectoryDropReason, number>> {
    return this.#drops;
  }

  /** Host addresses or routes claimed by two listed members at once (a misissuing CA). */
  get addressConflicts(): number {
    return this.#addressConflicts;
  }

  get size(): number {
    return this.#byPeer.size;
  }

  /** The most members listed at once (option maxMembers). */
  get maxMembers(): number {
    return this.#o.maxMembers;
  }

  /**
   * A member is online (RelayLink 'peer_up'). Verifies `certBytes` and lists
   * or replaces the member; returns the entry, or null when dropped (counted).
   * The bytes are copied (the certificate decoder keeps its own copy).
   * `expectedPeerId`, when given, is the peer the certificate was fetched
   * for: a certificate of anyone else is dropped ('wrong_peer').
   */
  onPeerUp(certBytes: Uint8Array, onlineSinceMs: number, expectedPeerId?: Uint8Array): DirectoryEntry | null {
    let cert: MemberCertificate;
    try {
      if (!(certBytes instanceof Uint8Array)) throw new TypeError('not bytes');
      cert = this.#verifier.verify(certBytes, this.#clock.now());
    } catch (err) {
      this.#drop('invalid_cert', 'announced certificate refused', { code: String((err as { code?: unknown }).code ?? 'unknown'), error: (err as Error).message });
      return null;
    }
    if (expectedPeerId !== undefined && !equalBytes(cert.peerId, expectedPeerId)) {
      this.#drop('wrong_peer', 'certificate of another peer than requested', { peer: shortId(cert.peerId) });
      return null;
    }
    const hex = toHex(cert.peerId);
    if (hex === this.#selfHex) {
      this.#drop('self', 'our own certificate announced', { peer: shortId(cert.peerId) });
      return null;
    }
    const previous = this.#byPeer.get(hex);
    if (previous === undefined && this.#byPeer.size >= this.#o.maxMembers) {
      this.#drop('too_many', 'directory full', { peer: shortId(cert.peerId), maxMembers: this.#o.maxMembers });
      return null;
    }
    if (previous !== undefined && cert.notBeforeMs < previous.cert.notBeforeMs) {
      this.#drop('stale_cert', 'older certificate than the one held', { peer: shortId(cert.peerId) });
      return null;
    }
    const entry = makeEntry(cert, hex, Number.isSafeInteger(onlineSinceMs) && onlineSinceMs >= 0 ? onlineSinceMs : 0);
    if (previous !== undefined) this.#unindex(previous);
    this.#offline.delete(hex);
    this.#byPeer.set(hex, entry);
    this.#index(entry);
    this.emit('up', entry, previous);
    return entry;
  }

  /**
   * The relay says a member went offline (RelayLink 'peer_down'): it leaves,
   * unless we hold a live session with it, which keeps it listed offline.
   * An unknown peer is counted and ignored; one already offline stays so.
   */
  onPeerDown(peerId: Uint8Array): void {
    const hex = lowerHex(peerId);
    const entry = hex === undefined ? undefined : this.#byPeer.get(hex);
    if (entry === undefined) {
      this.#drop('unknown_peer', 'down for a peer not listed', { peer: peerId instanceof Uint8Array && peerId.length === PEER_ID_BYTES ? shortId(peerId) : 'malformed' });
      return;
    }
    this.#notListed(entry);
  }

  /**
   * The relay's list is void: a (re-)admission is about to re-send it
   * (RelayLink 'established'). Reconciles instead of clearing: every member
   * becomes unconfirmed, so those without a live session leave ('down') and
   * those with one stay listed offline ('offline') until the re-sent list
   * names them again.
   */
  resetPresence(): void {
    for (const entry of [...this.#byPeer.values()]) this.#notListed(entry);
  }

  /**
   * The session or direct path that kept an offline member listed may have
   * ended (e.g. its direct path was lost): an offline member that
   * `sessionLive` no longer vouches for leaves now ('down'). Anything else is
   * left alone (online members follow the relay; unknown ids are ignored).
   */
  sessionChanged(peerId: Uint8Array): void {
    const hex = lowerHex(peerId);
    const entry = hex === undefined ? undefined : this.#byPeer.get(hex);
    if (entry === undefined || !this.#offline.has(entry.hex) || this.#sessionLive(entry.peerId)) return;
    this.#logger.info(`${shortId(entry.peerId)} left the directory`, { name: entry.name, reason: 'offline, direct session ended' });
    this.#remove(entry);
  }

  /** Forget everyone, sessions or not, emitting 'down' for each. */
  clear(): void {
    for (const entry of [...this.#byPeer.values()]) this.#remove(entry);
  }

  /**
   * Drop members that are no longer members at `nowMs`: revoked (call after
   * loading a new revocation list into the verifier) or expired, or whose CA
   * expired (same skew as MembershipVerifier), online or offline; and
   * offline members whose session has ended. Emits 'down' for each and
   * returns how many left. Signatures are not re-checked: they were, on entry.
   */
  recheck(nowMs: number): number {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new ConfigError('SM_ERR_CONFIG_NOW', `directory recheck nowMs: expected a finite number, got ${String(nowMs)}`);
    const caExpired = nowMs - CERT_CLOCK_SKEW_MS > this.#verifier.ca.notAfterMs;
    let removed = 0;
    for (const entry of [...this.#byPeer.values()]) {
      const revoked = this.#verifier.isRevoked(entry.peerId);
      const expired = caExpired || nowMs - CERT_CLOCK_SKEW_MS > entry.cert.notAfterMs;
      const ended = !revoked && !expired && this.#offline.has(entry.hex) && !this.#sessionLive(entry.peerId);
      if (!revoked && !expired && !ended) continue;
      this.#logger.info(`${shortId(entry.peerId)} left the directory`, { name: entry.name, reason: revoked ? 'revoked' : expired ? 'expired' : 'offline, session ended' });
      this.#remove(entry);
      removed++;
    }
    return removed;
  }

  /** The listed member with this peer id (32 bytes, or 64 hex digits in any case). */
  get(peerId: Uint8Array | string): DirectoryEntry | undefined {
    const hex = lowerHex(peerId);
    return hex === undefined ? undefined : this.#byPeer.get(hex);
  }

  /** True when the member is listed and the relay lists it too (false: unknown, or kept offline for its session). */
  isOnline(peerId: Uint8Array | string): boolean {
    const hex = lowerHex(peerId);
    return hex !== undefined && this.#byPeer.has(hex) && !this.#offline.has(hex);
  }

  /** How many listed members are offline (kept for a live session). */
  get offlineCount(): number {
    return this.#offline.size;
  }

  /** A snapshot of the listed members (online and offline), in the order they were listed. */
  list(): DirectoryEntry[] {
    return [...this.#byPeer.values()];
  }

  /** The member whose certificate holds exactly this host address (4 or 16 bytes), for L3 routing. O(1). */
  byAddress(addr: Uint8Array): DirectoryEntry | undefined {
    if (addr.length === IPV4_BYTES) return this.#byV4.get(ipv4Key(addr));
    if (addr.length === IPV6_BYTES) return this.#byV6.get(ipv6Key(addr));
    return undefined;
  }

  /**
   * The member whose certified subnet route holds this address (4 or 16
   * bytes), longest prefix first, or undefined. Callers ask byAddress first:
   * a member's own address beats a route.
   */
  byRoute(addr: Uint8Array): DirectoryEntry | undefined {
    return this.#routes.size === 0 ? undefined : this.#routes.lookup(addr);
  }

  #drop(reason: DirectoryDropReason, msg: string, fields: Record<string, string | number>): void {
    this.#drops[reason]++;
    this.#logger.debug(`directory: ${msg}`, { reason, ...fields });
  }

  /** The relay does not list `entry` (any more): offline while its session lives, else gone. */
  #notListed(entry: DirectoryEntry): void {
    if (this.#offline.has(entry.hex)) return;
    if (!this.#sessionLive(entry.peerId)) {
      this.#remove(entry);
      return;
    }
    this.#offline.add(entry.hex);
    this.#logger.debug(`${shortId(entry.peerId)} offline at the relay; kept for its live session`, { name: entry.name });
    this.emit('offline', entry);
  }

  #remove(entry: DirectoryEntry): void {
    this.#byPeer.delete(entry.hex);
    this.#offline.delete(entry.hex);
    this.#unindex(entry);
    this.emit('down', entry);
  }

  #index(entry: DirectoryEntry): void {
    for (const a of entry.addresses) {
      const holder = this.byAddress(a.bytes);
      if (holder !== undefined && holder !== entry) {
        this.#addressConflicts++;
        this.#contended.add(toHex(a.bytes));
        this.#logger.info(`${shortId(entry.peerId)} claims an address already held`, { address: a.text, holder: shortId(holder.peerId) });
        continue;
      }
      if (a.family === 4) this.#byV4.set(ipv4Key(a.bytes), entry);
      else this.#byV6.set(ipv6Key(a.bytes), entry);
    }
    for (const r of entry.routes) {
      if (this.#routes.add(r.bytes, r.prefix, entry)) continue;
      this.#addressConflicts++;
      this.#logger.info(`${shortId(entry.peerId)} claims a route already held`, { route: r.text });
    }
  }

  #unindex(entry: DirectoryEntry): void {
    for (const a of entry.addresses) {
      if (this.byAddress(a.bytes) !== entry) continue;
      if (a.family === 4) this.#byV4.delete(ipv4Key(a.bytes));
      else this.#byV6.delete(ipv6Key(a.bytes));
      // Rare (conflicts only): hand the address to another listed holder, if any.
      if (this.#contended.size === 0 || !this.#contended.has(toHex(a.bytes))) continue;
      for (const other of this.#byPeer.values()) {
        if (other === entry || !other.addresses.some((b) => b.family === a.family && equalBytes(b.bytes, a.bytes))) continue;
        if (a.family === 4) this.#byV4.set(ipv4Key(a.bytes), other);
        else this.#byV6.set(ipv6Key(a.bytes), other);
        break;
      }
    }
    for (const r of entry.routes) {
      if (!this.#routes.remove(r.bytes, r.prefix, entry)) continue;
      // Rare (a misissuing CA): hand the route to another listed holder, if any.
      for (const other of this.#byPeer.values()) {
        if (other !== entry && other.routes.some((o) => o.text === r.text) && this.#routes.add(r.bytes, r.prefix, other)) break;
      }
    }
  }
}

function makeEntry(cert: MemberCertificate, hex: string, onlineSinceMs: number): DirectoryEntry {
  // The certificate's addresses were validated when it was decoded; parseCidr gives their bytes.
  const addresses = cert.addresses.map((text) => {
    const c = parseCidr(text);
    return Object.freeze({ family: c.family, bytes: c.address, prefix: c.prefix, text });
  });
  return Object.freeze({
    peerId: Uint8Array.from(cert.peerId),
    hex,
    name: cert.name,
    cert,
    addresses: Object.freeze(addresses) as DirectoryAddress[],
    routes: Object.freeze(cert.routes.map((text) => {
      const c = parseRoute(text);
      return Object.freeze({ family: c.family, bytes: c.address, prefix: c.prefix, text });
    })) as DirectoryAddress[],
    onlineSinceMs,
  });
}
