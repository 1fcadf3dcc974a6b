/**
 * Shared fixture for the direct-transport tests: identities, fake session
 * keys and public-key lookups, transports on 127.0.0.1 (each with its own
 * Rendezvous and OfferExchange, as a node wires them: rendezvousOf(t),
 * offersOf(t)), and event helpers. Nothing here opens a socket beyond
 * loopback.
 */
import { once, type EventEmitter } from 'node:events';
import { randomBytes, sha256, toHex } from '../src/crypto/bytes.js';
import { HybridSigner } from '../src/crypto/hybrid-sign.js';
import { DirectTransport, type DirectTransportOptions } from '../src/node/path/direct-transport.js';
import { OfferExchange } from '../src/node/path/rendezvous/offer-exchange.js';
import { Rendezvous } from '../src/node/path/rendezvous/rendezvous.js';
import type { Clock } from '../src/util/clock.js';

export interface Member {
  signer: HybridSigner;
  peerId: Uint8Array;
}

let cached: Member[] | null = null;

/** Three identities, generated once per test file (ML-DSA key generation is not free). */
export function members(): Member[] {
  if (cached === null) {
    cached = [0, 1, 2].map(() => {
      const signer = HybridSigner.generate();
      return { signer, peerId: sha256(signer.publicKey) };
    });
  }
  return cached;
}

/** Everyone knows everyone's public key; session keys are set per pair. */
export class FakeSessions {
  readonly keys = new Map<string, Uint8Array>();
  readonly publicKeys = new Map<string, Uint8Array>();

  constructor(all: Member[]) {
    for (const m of all) this.publicKeys.set(toHex(m.peerId), m.signer.publicKey);
  }

  /** Give `a` and `b` the same fresh path-auth key (as a session would). */
  pair(a: Member, b: Member, key: Uint8Array = randomBytes(32)): Uint8Array {
    this.keys.set(`${toHex(a.peerId)}>${toHex(b.peerId)}`, key);
    this.keys.set(`${toHex(b.peerId)}>${toHex(a.peerId)}`, Uint8Array.from(key));
    return key;
  }

  /** One side only: what `self` thinks the key with `other` is. */
  set(self: Member, other: Member, key: Uint8Array): void {
    this.keys.set(`${toHex(self.peerId)}>${toHex(other.peerId)}`, key);
  }

  transport(self: Member, options: DirectTransportOptions = {}, clock?: Clock, rendezvous = new Rendezvous()): DirectTransport {
    const t = new DirectTransport(
      {
        pathAuthKey: (peer) => this.keys.get(`${toHex(self.peerId)}>${toHex(peer)}`) ?? null,
        rendezvous,
        ...(clock !== undefined ? { clock } : {}),
      },
      { listenHost: '127.0.0.1', ...options },
    );
    const offers = new OfferExchange({
      signer: self.signer,
      localPeerId: self.peerId,
      rendezvous,
      currentPin: () => t.currentPin(),
      peerPublicKey: (peer) => this.publicKeys.get(toHex(peer)) ?? null,
      ...(clock !== undefined ? { clock } : {}),
    });
    t.on('pin_changed', () => offers.offerChanged());
    parts.set(t, { rendezvous, offers });
    return t;
  }
}

const parts = new WeakMap<DirectTransport, { rendezvous: Rendezvous; offers: OfferExchange }>();

/** The Rendezvous a fixture transport reads. */
export function rendezvousOf(t: DirectTransport): Rendezvous {
  return parts.get(t)!.rendezvous;
}

/** The OfferExchange wired to a fixture transport (its 'offer_changed' follows the transport's rotations). */
export function offersOf(t: DirectTransport): OfferExchange {
  return parts.get(t)!.offers;
}

/** Resolve with the arguments of the next `event`, or reject after `ms`. */
export async function next<T extends unknown[]>(emitter: EventEmitter, event: string, ms = 10_000): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return (await once(emitter, event, { signal: ac.signal })) as T;
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`no '${event}' within ${ms} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `cond` until true or `ms` passes. */
export async function until(cond: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A clock `offsetMs` away from the real one (real timers). */
export function skewedClock(offsetMs: number): Clock {
  return {
    now: () => Date.now() + offsetMs,
    schedule(delayMs, fn) {
      const t = setTimeout(fn, Math.max(0, delayMs));
      t.unref();
      return { cancel: () => clearTimeout(t) };
    },
  };
}
