/**
 * Member certificates on demand: turns the relay's small presence entries
 * (peer id, SHA-256 of the certificate, admission time; docs/protocol.md §1
 * "Presence") into verified directory entries by fetching each certificate
 * from the relay (CERT_REQUEST / CERT) and caching it by digest
 * (docs/architecture.md "Presence at scale").
 *
 * Design: every announced member is fetched, eagerly and paced: at most
 * `maxOutstanding` requests in flight, each with a deadline, in the order
 * the members were announced. So a small network's directory, names, whois,
 * policy groups and handshakes behave as when presence carried the
 * certificates, just a round trip later; a large one fills at the pace the
 * relay's per-member request limit allows. A certificate whose digest is in
 * the cache (a member re-announced after our re-admission, or one that
 * reconnected with the same certificate) is not fetched again.
 *
 * The relay is untrusted (docs/threat-model.md "Malicious relay"). What it
 * answers is checked in this order, and dropped and counted when it fails:
 *   unsolicited     a CERT for a peer we have no request out for
 *   not_announced   an answer for a peer the relay stopped listing meanwhile
 *   digest_mismatch bytes whose SHA-256 is not the digest announced (a
 *                   forged or substituted certificate); asked again up to
 *                   MAX_FETCH_ATTEMPTS times in all
 *   timeout         no answer before the deadline; asked again likewise
 *   too_many        an announcement past `maxMembers` distinct peers
 *   not_sent        the link would not take the request now (retried)
 * and what passes goes to `accept` (the directory), which verifies the
 * certificate exactly as for PEER_UP (CA signature, validity, revocation,
 * peer id = hash of its keys) and that it is the requested peer's.
 *
 * A member announced with a new digest while a request for it is in flight
 * (it re-connected, e.g. to renew its certificate) is asked again at once:
 * the relay drops a request for a peer it lists under no connection at that
 * moment, and waiting out the deadline would keep a member that is online
 * unreachable for seconds. The answer to the earlier request then comes or
 * not; the first one that matches the latest digest is delivered, the other
 * is dropped (counted as a mismatch when it carries the older bytes).
 *
 * What a relay can make us keep: one record per announced peer (at most
 * `maxMembers`), `maxOutstanding` peers with requests in flight (at most
 * two requests each), `cacheEntries` certificates.
 * Single-threaded and not re-entrant from `accept` / `down` into the same
 * peer; throws on nothing the relay sends.
 */
import { sha256, toHex } from '../crypto/bytes.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { shortId } from '../identity/peer-id.js';

/** Requests in flight at once: enough to hide a relay round trip behind the
 *  others (8 × ~7.4 KB answers), few enough that one node never asks faster
 *  than the relay's per-member limit lets through in a burst. */
export const CERT_FETCH_MAX_OUTSTANDING = 8;
/** A request not answered in this time is counted and asked again: many
 *  round trips, and longer than the relay takes to refill a burst. */
export const CERT_FETCH_TIMEOUT_MS = 5_000;
/** Requests per announced certificate before giving up until it is announced
 *  again: a lying relay costs us three answers, an honest one under load
 *  gets two more chances. */
export const MAX_FETCH_ATTEMPTS = 3;
/** Certificates kept by digest (~7.4 KB each, ~30 MiB at most): a whole
 *  network of thousands survives a re-admission without being fetched again. */
export const CERT_CACHE_ENTRIES = 4_096;

export type CertFetchDropReason = 'unsolicited' | 'not_announced' | 'digest_mismatch' | 'timeout' | 'too_many' | 'not_sent';

export interface CertFetcherDeps {
  /** Send CERT_REQUEST(peerId); false when the link would not take it. */
  request(peerId: Uint8Array): boolean;
  /** Verify and list (Directory.onPeerUp with the expected peer): truthy when listed. */
  accept(cert: Uint8Array, onlineSinceMs: number, peerId: Uint8Array): unknown;
  /** The relay says a member we listed is gone (Directory.onPeerDown). */
  down(peerId: Uint8Array): void;
  clock: Clock;
  logger?: Logger;
}

export interface CertFetcherOptions {
  maxOutstanding: number;
  timeoutMs: number;
  maxMembers: number;
  cacheEntries: number;
}

/** The requests in flight for one peer. */
interface InFlight {
  /** Unix ms after which the answer is given up on. */
  deadline: number;
  /** Answers still due: 1, or 2 after a re-ask for a new digest. */
  answers: number;
  /** The digest announced when it was last asked for. */
  digest: string;
}

interface Announced {
  peerId: Uint8Array;
  digest: string;
  onlineSinceMs: number;
  attempts: number;
  /** Handed to `accept` under this digest (so a later down concerns the directory). */
  delivered: boolean;
}

export class CertFetcher {
  readonly #deps: CertFetcherDeps;
  readonly #o: CertFetcherOptions;
  readonly #logger: Logger;
  /** peer hex -> what the relay announced last. */
  readonly #announced = new Map<string, Announced>();
  /** Peers to fetch, in announcement order (a Set: each once). */
  readonly #wanted = new Set<string>();
  /** peer hex -> its requests in flight. */
  readonly #outstanding = new Map<string, InFlight>();
  /** digest hex -> certificate bytes, least recently used first. */
  readonly #cache = new Map<string, Uint8Array>();
  readonly #drops: Record<CertFetchDropReason, number> = { unsolicited: 0, not_announced: 0, digest_mismatch: 0, timeout: 0, too_many: 0, not_sent: 0 };
  #timer: TimerHandle | null = null;
  #fetched = 0;

  constructor(deps: CertFetcherDeps, options: Partial<CertFetcherOptions> = {}) {
    this.#deps = deps;
    this.#logger = deps.logger ?? silentLogger;
    this.#o = {
      maxOutstanding: options.maxOutstanding ?? CERT_FETCH_MAX_OUTSTANDING,
      timeoutMs: options.timeoutMs ?? CERT_FETCH_TIMEOUT_MS,
      maxMembers: options.maxMembers ?? Number.MAX_SAFE_INTEGER,
      cacheEntries: options.cacheEntries ?? CERT_CACHE_ENTRIES,
    };
  }

  /** Dropped answers and announcements by reason; a live read-only view. */
  get drops(): Readonly<Record<CertFetchDropReason, number>> {
    return this.#drops;
  }

  /** Certificates received whose digest matched. */
  get fetched(): number {
    return this.#fetched;
  }

  /** Peers with requests in flight now. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** The relay lists `peerId` with the certificate whose SHA-256 is `certDigest`. */
  up(peerId: Uint8Array, certDigest: Uint8Array, onlineSinceMs: number): void {
    const hex = toHex(peerId);
    const digest = toHex(certDigest);
    const previous = this.#announced.get(hex);
    if (previous === undefined && this.#announced.size >= this.#o.maxMembers) {
      this.#drops.too_many++;
      return;
    }
    const rec: Announced = { peerId, digest, onlineSinceMs, attempts: 0, delivered: previous?.delivered ?? false };
    this.#announced.set(hex, rec);
    if (this.#cache.has(digest)) {
      this.#wanted.delete(hex);
      this.#deliver(hex, rec);
      return;
    }
    // In flight already for this digest: the answer is checked against it. For an older digest: ask
    // again now, the relay may have dropped the first request (see the header).
    const inFlight = this.#outstanding.get(hex);
    if (inFlight === undefined || (inFlight.digest !== digest && inFlight.answers < 2)) this.#wanted.add(hex);
    this.#pump();
  }

  /** The relay stopped listing `peerId`. */
  down(peerId: Uint8Array): void {
    const hex = toHex(peerId);
    const rec = this.#announced.get(hex);
    this.#announced.delete(hex);
    this.#wanted.delete(hex);
    // A member never listed (its certificate not fetched yet) is nothing to the directory; an unknown one is its to count.
    if (rec === undefined || rec.delivered) this.#deps.down(peerId);
  }

  /** The relay's answer to a request. */
  cert(peerId: Uint8Array, bytes: Uint8Array): void {
    const hex = toHex(peerId);
    const inFlight = this.#outstanding.get(hex);
    if (inFlight === undefined) {
      this.#drop('unsolicited', peerId);
      return;
    }
    if (--inFlight.answers === 0) this.#outstanding.delete(hex);
    const rec = this.#announced.get(hex);
    if (rec === undefined) {
      this.#drop('not_announced', peerId);
    } else if (toHex(sha256(bytes)) !== rec.digest) {
      // docs/threat-model.md "Malicious relay": not the certificate it announced. Asked again unless
      // another answer is still due or the other one was this digest's.
      this.#drop('digest_mismatch', peerId);
      if (inFlight.answers === 0 && !this.#cache.has(rec.digest)) this.#retry(hex, rec);
    } else if (this.#cache.has(rec.digest)) {
      // The second answer of a re-ask, both with the latest certificate: delivered already.
    } else {
      this.#fetched++;
      this.#remember(rec.digest, bytes);
      this.#deliver(hex, rec);
    }
    this.#pump();
  }

  /** A (re-)admission voids the relay's list (protocol.md §1): forget it and what is in flight; keep the cache. */
  reset(): void {
    this.#announced.clear();
    this.#wanted.clear();
    this.#outstanding.clear();
  }

  /** Stop the deadline timer (the node is stopping). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }

  #deliver(hex: string, rec: Announced): void {
    const bytes = this.#cache.get(rec.digest) as Uint8Array;
    // LRU: a certificate in use moves to the back.
    this.#cache.delete(rec.digest);
    this.#cache.set(rec.digest, bytes);
    if (this.#deps.accept(bytes, rec.onlineSinceMs, rec.peerId)) {
      rec.delivered = true;
    } else {
      // Refused by the directory (counted there): never serve these bytes from the cache.
      this.#cache.delete(rec.digest);
      this.#logger.debug(`${shortId(rec.peerId)} certificate refused by the directory`, { peer: hex.slice(0, 16) });
    }
  }

  #remember(digest: string, bytes: Uint8Array): void {
    this.#cache.set(digest, bytes);
    while (this.#cache.size > this.#o.cacheEntries) this.#cache.delete(this.#cache.keys().next().value as string);
  }

  #retry(hex: string, rec: Announced): void {
    rec.attempts++;
    if (rec.attempts < MAX_FETCH_ATTEMPTS) this.#wanted.add(hex);
  }

  #drop(reason: CertFetchDropReason, peerId: Uint8Array): void {
    this.#drops[reason]++;
    this.#logger.debug('certificate answer dropped', { reason, peer: shortId(peerId) });
  }

  #pump(): void {
    const now = this.#deps.clock.now();
    for (const [hex, inFlight] of this.#outstanding) {
      if (inFlight.deadline > now) continue;
      this.#outstanding.delete(hex);
      this.#drops.timeout++;
      const rec = this.#announced.get(hex);
      // Unless the other answer of a re-ask brought this digest's certificate.
      if (rec !== undefined && !this.#cache.has(rec.digest)) this.#retry(hex, rec);
    }
    for (const hex of this.#wanted) {
      const rec = this.#announced.get(hex);
      const inFlight = this.#outstanding.get(hex);
      if (rec === undefined || (inFlight !== undefined && (inFlight.answers >= 2 || inFlight.digest === rec.digest))) {
        this.#wanted.delete(hex);
        continue;
      }
      // A re-ask takes no new slot.
      if (inFlight === undefined && this.#outstanding.size >= this.#o.maxOutstanding) break;
      if (!this.#deps.request(rec.peerId)) {
        this.#drops.not_sent++;
        break; // the link is down or full: the timer tries again
      }
      this.#wanted.delete(hex);
      const deadline = now + this.#o.timeoutMs;
      if (inFlight === undefined) {
        this.#outstanding.set(hex, { deadline, answers: 1, digest: rec.digest });
      } else {
        inFlight.deadline = deadline;
        inFlight.answers++;
        inFlight.digest = rec.digest;
      }
    }
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== null || (this.#outstanding.size === 0 && this.#wanted.size === 0)) return;
    this.#timer = this.#deps.clock.schedule(this.#o.timeoutMs, () => {
      this.#timer = null;
      this.#pump();
    });
  }
}
