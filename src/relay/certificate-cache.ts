/**
 * Verified member certificates the relay has already checked, so that a
 * member reconnecting, or a flood of HELLOs replaying one member's
 * certificate, costs a SHA-256 and a map lookup instead of a hybrid
 * (Ed25519 + ML-DSA-87) CA signature verification each (docs/protocol.md §1
 * admission; docs/threat-model.md).
 *
 * Only the signature result is reused. On every hit the verifier's
 * `checkCurrent` judges validity times and revocation again, so a
 * certificate revoked or expired after it was cached is refused with the
 * same error as without the cache (and dropped from it). Only certificates
 * that verified get in, so a stranger cannot fill the cache: every entry
 * needs the CA's signature. Least recently used entries leave first once
 * `entries` are held; `entries` 0 turns the cache off. A verifier without
 * `checkCurrent` is used uncached.
 *
 * Keyed by SHA-256 of the exact bytes presented: a certificate that differs
 * in any bit is a different key and is verified in full. Returned objects
 * are shared between connections presenting the same bytes; callers must
 * not modify them.
 */
import { sha256, toHex } from '../crypto/bytes.js';
import type { AdmissibleCertificate, MembershipCheck } from '../handshake/relay-auth.js';

/** A verifier the cache can wrap: MembershipVerifier (src/identity) fits. */
export interface CacheableMembership<C extends AdmissibleCertificate> extends MembershipCheck<C> {
  isRevoked(peerId: Uint8Array): boolean;
  /** The checks of verify() after the signature, for a certificate verify() returned; throws as verify() does. */
  checkCurrent?(cert: C, nowMs: number): void;
}

export interface CertificateCacheStats {
  /** HELLOs answered from the cache (no signature check). */
  hits: number;
  /** Certificates verified in full (signature included). */
  verifications: number;
  /** Certificates held now. */
  size: number;
}

export class CertificateCache<C extends AdmissibleCertificate> implements MembershipCheck<C> {
  readonly #inner: CacheableMembership<C>;
  readonly #entries: number;
  /** hex(SHA-256(bytes)) -> verified certificate, least recently used first. */
  readonly #cache = new Map<string, C>();
  #hits = 0;
  #verifications = 0;

  constructor(inner: CacheableMembership<C>, entries: number) {
    this.#inner = inner;
    this.#entries = typeof inner.checkCurrent === 'function' ? entries : 0;
  }

  get stats(): CertificateCacheStats {
    return { hits: this.#hits, verifications: this.#verifications, size: this.#cache.size };
  }

  verify(certBytes: Uint8Array, nowMs: number): C {
    if (this.#entries === 0) {
      this.#verifications++;
      return this.#inner.verify(certBytes, nowMs);
    }
    const key = toHex(sha256(certBytes));
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#cache.delete(key);
      // Throws (revoked, expired): the entry stays out; a later presentation is verified in full.
      (this.#inner.checkCurrent as (cert: C, nowMs: number) => void).call(this.#inner, cached, nowMs);
      this.#cache.set(key, cached);
      this.#hits++;
      return cached;
    }
    this.#verifications++;
    const cert = this.#inner.verify(certBytes, nowMs);
    this.#cache.set(key, cert);
    while (this.#cache.size > this.#entries) this.#cache.delete(this.#cache.keys().next().value as string);
    return cert;
  }
}
