/**
 * OfferExchange: our PATH_OFFER out, peers' PATH_OFFERs in
 * (docs/protocol.md §3.1; docs/architecture.md "Path choice"). It owns
 *
 *  - building and signing our offer: the WSS listener's current pin and the
 *    Rendezvous' local candidates, cached until either changes, each new one
 *    with a later timestamp than the last;
 *  - accepting a peer's offer: decoded, naming the peer whose session it
 *    came in, newer than the last accepted one (the same offer again is a
 *    harmless duplicate), signed by the peer's identity key. Only then is it
 *    stored in the Rendezvous, with the peer's previous pin kept beside the
 *    new one. Refusals are counted in stats.refused by OfferCode and
 *    reported as 'refused'; nothing a peer sends makes it throw;
 *  - the network policy (docs/architecture.md "Network policy"): when
 *    mayExchange(peerId) says no (the policy allows no flow between us and
 *    that peer), our offer is not sent to it (counted in stats.withheld) and
 *    its offers are refused with OfferCode.POLICY before anything else is
 *    looked at, so a pair the policy keeps apart never learns each other's
 *    underlay addresses;
 *  - the "call me maybe" glue: send(peerId) puts our offer in the session
 *    (once the direct transports are ready), receive(peerId, body) accepts
 *    one and tells the owner ('accepted'), and every change of our offer is
 *    re-sent to every established peer.
 *
 * Offers are not acknowledged: one sent over a dying path is lost, so the
 * owner calls send() with every direct retry and after every fallback (a
 * duplicate is harmless).
 *
 * Events: 'offer_changed' () our certificate rotated or our candidates
 * changed while the WSS listener runs; 'refused' (peerId, code) a peer's
 * offer was refused; 'accepted' (peerId) a peer's offer was stored (not for
 * a duplicate). Never 'error'.
 */
import { EventEmitter } from 'node:events';
import { equalBytes, toHex } from '../../../crypto/bytes.js';
import { ConfigError } from '../../../errors.js';
import { silentLogger, type Logger } from '../../../util/logger.js';
import { systemClock, type Clock } from '../../../util/clock.js';
import { PEER_ID_BYTES } from '../../../wire/constants.js';
import { PathCode } from '../path-errors.js';
import { OfferCode } from './rendezvous-errors.js';
import { decodePathOffer, signPathOffer, verifyPathOffer } from './path-offer.js';
import type { Rendezvous } from './rendezvous.js';

export interface OfferExchangeDeps {
  /** Our HybridSigner (signs PATH_OFFERs). */
  signer: { sign(context: string, message: Uint8Array): Uint8Array };
  localPeerId: Uint8Array;
  rendezvous: Rendezvous;
  /** The WSS listener's current certificate pin, or null while it does not run (no offer then). */
  currentPin(): Uint8Array | null;
  /** The peer's hybrid identity public key (from its verified member certificate), or null if unknown. */
  peerPublicKey(peerId: Uint8Array): Uint8Array | null;
  /** Send our offer body to a peer inside its session (InnerType.PathOffer). Optional: without it send() does nothing. */
  sendOffer?(peerId: Uint8Array, body: Uint8Array): void;
  /** Whether the network policy lets us exchange offers with this peer. Optional: without it, every peer may. */
  mayExchange?(peerId: Uint8Array): boolean;
  /** Peers with an established session (each gets a changed offer). Optional. */
  establishedPeers?(): Iterable<Uint8Array>;
  clock?: Clock;
  logger?: Logger;
}

export interface OfferExchangeStats {
  /** Refused offers by OfferCode. */
  refused: Record<string, number>;
  /** Our offers not sent because the network policy keeps us apart from the peer. */
  withheld: number;
}

/** The prefix every OfferCode value starts with; drops() names a refusal by what follows, lower-cased. */
const OFFER_CODE_PREFIX = 'SM_ERR_PATH_OFFER_';

function checkPeerId(peerId: Uint8Array, what: string): void {
  if (!(peerId instanceof Uint8Array) || peerId.length !== PEER_ID_BYTES) {
    throw new ConfigError(PathCode.ARG, `${what}: expected a ${PEER_ID_BYTES}-byte peer id, got ${peerId instanceof Uint8Array ? peerId.length : typeof peerId}`);
  }
}

function shortId(peerId: Uint8Array): string {
  return toHex(peerId.subarray(0, 4));
}

export class OfferExchange extends EventEmitter {
  readonly stats: OfferExchangeStats = { refused: {}, withheld: 0 };
  readonly #deps: OfferExchangeDeps;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #localPeerId: Uint8Array;
  #offer: Uint8Array | null = null;
  #offerPin: Uint8Array | null = null;
  #lastOfferMs = 0;
  #ready = false;

  constructor(deps: OfferExchangeDeps) {
    super();
    if (deps === null || typeof deps !== 'object') throw new ConfigError(PathCode.OPTION, 'offer exchange deps: expected an object');
    if (typeof deps.signer?.sign !== 'function') throw new ConfigError(PathCode.OPTION, 'offer exchange deps.signer: expected a signer with sign(context, message)');
    if (typeof deps.peerPublicKey !== 'function') throw new ConfigError(PathCode.OPTION, 'offer exchange deps.peerPublicKey: expected a function');
    if (typeof deps.currentPin !== 'function') throw new ConfigError(PathCode.OPTION, 'offer exchange deps.currentPin: expected a function');
    checkPeerId(deps.localPeerId, 'deps.localPeerId');
    this.#deps = deps;
    this.#localPeerId = Uint8Array.from(deps.localPeerId);
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
    deps.rendezvous.on('changed', () => this.offerChanged());
  }

  /**
   * Our offer is no longer what we would sign (the certificate rotated, our
   * candidates changed): drop the cached one and, while the WSS listener
   * runs, emit 'offer_changed' and re-send it to every established peer.
   */
  offerChanged(): void {
    this.#offer = null;
    if (this.#deps.currentPin() === null) return;
    this.emit('offer_changed');
    if (this.#ready) for (const id of this.#deps.establishedPeers?.() ?? []) this.send(id);
  }

  /** Whether send() sends (the owner sets it once the direct transports are up, clears it at stop). */
  get ready(): boolean {
    return this.#ready;
  }

  set ready(value: boolean) {
    this.#ready = value;
  }

  /**
   * Our current PATH_OFFER, signed: the body that follows the inner-type
   * byte PATH_OFFER (0x06) in a session message. Cached until the
   * certificate or the candidates change; each new one has a later timestamp.
   */
  localOffer(): Uint8Array {
    const pin = this.#deps.currentPin();
    if (pin === null) {
      throw new ConfigError(PathCode.ARG, 'OfferExchange.localOffer: the direct transport is not running (call start() first)');
    }
    if (this.#offer === null || this.#offerPin === null || !equalBytes(this.#offerPin, pin)) {
      const timestampMs = Math.max(this.#clock.now(), this.#lastOfferMs + 1);
      this.#offer = signPathOffer(this.#deps.signer, {
        peerId: this.#localPeerId,
        timestampMs,
        fingerprint: pin,
        candidates: this.#deps.rendezvous.localCandidates(),
      });
      this.#offerPin = Uint8Array.from(pin);
      this.#lastOfferMs = timestampMs;
    }
    return this.#offer;
  }

  /** Our offer to one peer, inside its session; nothing before the direct transports are ready, nothing to a peer the policy keeps apart. */
  send(peerId: Uint8Array): void {
    if (!this.#ready || this.#deps.sendOffer === undefined) return;
    if (this.#deps.mayExchange !== undefined && !this.#deps.mayExchange(peerId)) {
      this.stats.withheld++;
      return;
    }
    this.#deps.sendOffer(peerId, this.localOffer());
  }

  /** Refused offers by reason (policy, stale, signature, ...), for status and metrics. */
  drops(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [code, n] of Object.entries(this.stats.refused)) out[code.slice(OFFER_CODE_PREFIX.length).toLowerCase()] = n;
    return out;
  }

  /** A PATH_OFFER body from `peerId`'s session: accepted and stored, or refused and counted. Only while ready. */
  receive(peerId: Uint8Array, offer: Uint8Array): boolean {
    if (!this.#ready) return false;
    return this.accept(peerId, offer);
  }

  /**
   * A PATH_OFFER received inside the session from `peerId`. Refused at
   * once when the policy keeps us apart (mayExchange). Verified with
   * peerPublicKey(peerId) and refused unless newer than the last accepted
   * one (the same offer again is a harmless duplicate: true). False, counted
   * and 'refused', otherwise.
   */
  accept(peerId: Uint8Array, offer: Uint8Array): boolean {
    checkPeerId(peerId, 'acceptOffer peerId');
    // docs/architecture.md "Network policy": a peer we may not talk to gets nothing stored, whatever it sent.
    if (this.#deps.mayExchange !== undefined && !this.#deps.mayExchange(peerId)) return this.#refuse(peerId, OfferCode.POLICY);
    let o;
    try {
      o = decodePathOffer(offer);
    } catch {
      return this.#refuse(peerId, OfferCode.MALFORMED);
    }
    if (!equalBytes(o.peerId, peerId)) return this.#refuse(peerId, OfferCode.PEER);
    const rendezvous = this.#deps.rendezvous;
    const known = rendezvous.peerOffer(peerId);
    if (known !== undefined && o.timestampMs <= known.timestampMs) {
      if (o.timestampMs === known.timestampMs && equalBytes(known.bytes, offer)) return true;
      return this.#refuse(peerId, OfferCode.STALE);
    }
    const publicKey = this.#deps.peerPublicKey(peerId);
    if (publicKey === null) return this.#refuse(peerId, OfferCode.UNKNOWN_PEER);
    if (!verifyPathOffer(publicKey, o)) return this.#refuse(peerId, OfferCode.SIGNATURE);
    const fingerprint = Uint8Array.from(o.fingerprint);
    const pins: Uint8Array[] = [fingerprint];
    const previous = known?.pins[0];
    if (previous !== undefined && !equalBytes(previous, fingerprint)) pins.push(previous);
    rendezvous.setPeerOffer({ peerId: Uint8Array.from(peerId), timestampMs: o.timestampMs, bytes: Uint8Array.from(offer), pins, candidates: [...o.candidates] });
    this.#log.debug(`${shortId(peerId)} path offer accepted`, { candidates: o.candidates.length });
    this.emit('accepted', Uint8Array.from(peerId));
    return true;
  }

  #refuse(peerId: Uint8Array, code: string): false {
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
    this.#log.debug(`${shortId(peerId)} path offer refused`, { code });
    this.emit('refused', Uint8Array.from(peerId), code);
    return false;
  }
}
