/**
 * Hybrid key encapsulation: X25519 (RFC 7748, node:crypto) + ML-KEM-1024
 * (FIPS 203, pq-backend.ts). docs/architecture.md "Sessions and keys": peer sessions use
 * both, so the session key stays secret while either one holds.
 *
 * Layouts:
 *   public key  | x25519 public (32)           | ml-kem-1024 ek (1568) |  = 1600
 *   ciphertext  | x25519 ephemeral public (32) | ml-kem-1024 ct (1568) |  = 1600
 *   key seed    | x25519 private (32)          | ml-kem d || z (64)    |  = 96
 *   encaps seed | x25519 ephemeral private (32)| ml-kem m (32)         |  = 64
 *
 * Combiner (HYBRID_KEM_LABEL = "shadowmesh-hybrid-kem-v1"):
 *
 *   sharedSecret = SHA3-256( ss_mlkem || ss_x25519 || ct_mlkem || ct_x25519
 *                            || ek_mlkem || ek_x25519 || label )
 *
 * Why this shape: it follows the generic combiners of the CFRG hybrid-KEM
 * draft (draft-irtf-cfrg-hybrid-kems), which hash both shared secrets together
 * with both ciphertexts and both public keys. X-Wing, the optimised combiner
 * that omits the ML-KEM ciphertext and key, is only proven for ML-KEM-768, so
 * we bind everything: X25519 alone is not IND-CCA, and hashing its ciphertext
 * (the ephemeral key) and the recipient's key makes the combined KEM robust
 * even if one component is broken or its ciphertext is malleable. All fields
 * have fixed lengths, so the concatenation is unambiguous; the versioned label
 * separates this KEM from any other use of SHA3-256.
 *
 * Callers must know:
 *  - An all-zero X25519 result (a low-order public key or ephemeral key)
 *    throws CryptoError SM_ERR_CRYPTO_KEM, as does an ML-KEM encapsulation
 *    key that fails the FIPS 203 §7.2 check. Wrong lengths throw
 *    SM_ERR_CRYPTO_LENGTH. A tampered ML-KEM ciphertext does not throw:
 *    ML-KEM's implicit rejection yields an unrelated secret, and the
 *    handshake fails later at key confirmation.
 *  - Results are fresh arrays owned by the caller; intermediates are wiped.
 *  - HybridKemKeyPair keeps its seed; destroy() wipes it, later use throws.
 */

import { createHash, diffieHellman, type KeyObject } from 'node:crypto';
import { CryptoError } from '../errors.js';
import { CryptoCode } from './crypto-errors.js';
import { concatBytes, copyOut, randomBytes, utf8, wipe } from './bytes.js';
import { checkAlive, checkBytes } from './checks.js';
import { privateKeyFromSeed, publicKeyFromRaw, rawPublicKey } from './ed-x-keys.js';
import { getPqBackend, type PqBackend } from './pq-backend.js';

export const X25519_BYTES = 32;
export const MLKEM1024_PUBLIC_BYTES = 1568;
export const MLKEM1024_CIPHERTEXT_BYTES = 1568;
export const HYBRID_KEM_PUBLIC_BYTES = X25519_BYTES + MLKEM1024_PUBLIC_BYTES; // 1600
export const HYBRID_KEM_CIPHERTEXT_BYTES = X25519_BYTES + MLKEM1024_CIPHERTEXT_BYTES; // 1600
/** x25519 private (32) || ML-KEM-1024 d || z (64). */
export const HYBRID_KEM_SEED_BYTES = 96;
/** x25519 ephemeral private (32) || ML-KEM-1024 m (32). */
export const HYBRID_KEM_ENCAPS_SEED_BYTES = 64;
/** SHA3-256 output. */
export const HYBRID_KEM_SHARED_BYTES = 32;
/** Versioned: a new combiner or layout gets a new label. */
export const HYBRID_KEM_LABEL = 'shadowmesh-hybrid-kem-v1';

const LABEL_BYTES = utf8(HYBRID_KEM_LABEL);

/** X25519(priv, peerPublic); throws SM_ERR_CRYPTO_KEM for an all-zero (low-order) result. */
function x25519(privateKey: KeyObject, peerPublic: Uint8Array, what: string): Uint8Array {
  let ss: Uint8Array;
  try {
    ss = copyOut(diffieHellman({ privateKey, publicKey: publicKeyFromRaw('x25519', peerPublic) }));
  } catch (err) {
    // OpenSSL refuses to return an all-zero X25519 result (RFC 7748 §6.1).
    throw new CryptoError(CryptoCode.KEM, `${what}: X25519 failed (low-order public key?)`, { cause: err });
  }
  let zero = 0;
  for (let i = 0; i < ss.length; i++) zero |= ss[i] ?? 0;
  if (ss.length !== X25519_BYTES || zero === 0) {
    wipe(ss);
    throw new CryptoError(CryptoCode.KEM, `${what}: X25519 result is all zero (low-order public key)`);
  }
  return ss;
}

/** The combiner in the header. Exported for vectors; all arguments have fixed lengths. */
export function hybridKemCombine(
  ssMlkem: Uint8Array,
  ssX25519: Uint8Array,
  ctMlkem: Uint8Array,
  ctX25519: Uint8Array,
  ekMlkem: Uint8Array,
  ekX25519: Uint8Array,
): Uint8Array {
  checkBytes('hybridKemCombine ssMlkem', ssMlkem, 32);
  checkBytes('hybridKemCombine ssX25519', ssX25519, X25519_BYTES);
  checkBytes('hybridKemCombine ctMlkem', ctMlkem, MLKEM1024_CIPHERTEXT_BYTES);
  checkBytes('hybridKemCombine ctX25519', ctX25519, X25519_BYTES);
  checkBytes('hybridKemCombine ekMlkem', ekMlkem, MLKEM1024_PUBLIC_BYTES);
  checkBytes('hybridKemCombine ekX25519', ekX25519, X25519_BYTES);
  const h = createHash('sha3-256');
  for (const part of [ssMlkem, ssX25519, ctMlkem, ctX25519, ekMlkem, ekX25519, LABEL_BYTES]) h.update(part);
  return copyOut(h.digest());
}

export class HybridKemKeyPair {
  /** x25519 public (32) || ML-KEM-1024 ek (1568). A copy: mutating it does not affect decapsulation. */
  readonly publicKey: Uint8Array;
  readonly backend: PqBackend;
  #publicKey: Uint8Array;
  #seed: Uint8Array;
  #xKey: KeyObject | undefined;
  #pqKey: unknown;
  #destroyed = false;

  private constructor(seed: Uint8Array, backend: PqBackend) {
    this.backend = backend;
    this.#seed = Uint8Array.from(seed);
    this.#xKey = privateKeyFromSeed('x25519', this.#seed.subarray(0, X25519_BYTES));
    const pq = backend.mlkemKeygen(this.#seed.subarray(X25519_BYTES));
    this.#pqKey = pq.secretKey;
    this.#publicKey = concatBytes(rawPublicKey('x25519', this.#xKey), pq.publicKey);
    this.publicKey = Uint8Array.from(this.#publicKey);
  }

  /** A key pair from a 96-byte seed, or a random one. The seed is copied. */
  static generate(seed?: Uint8Array, backend?: PqBackend): HybridKemKeyPair {
    const pq = backend ?? getPqBackend();
    if (seed !== undefined) {
      checkBytes('HybridKemKeyPair seed', seed, HYBRID_KEM_SEED_BYTES);
      return new HybridKemKeyPair(seed, pq);
    }
    const fresh = randomBytes(HYBRID_KEM_SEED_BYTES);
    try {
      return new HybridKemKeyPair(fresh, pq);
    } finally {
      wipe(fresh);
    }
  }

  /** The 32-byte combined shared secret for a 1600-byte hybrid ciphertext. */
  decapsulate(cipherText: Uint8Array): Uint8Array {
    checkAlive('HybridKemKeyPair', this.#destroyed);
    checkBytes('HybridKemKeyPair.decapsulate cipherText', cipherText, HYBRID_KEM_CIPHERTEXT_BYTES);
    const ctX = cipherText.subarray(0, X25519_BYTES);
    const ctPq = cipherText.subarray(X25519_BYTES);
    let ssX: Uint8Array | undefined;
    let ssPq: Uint8Array | undefined;
    try {
      ssX = x25519(this.#xKey as KeyObject, ctX, 'HybridKemKeyPair.decapsulate cipherText');
      ssPq = this.backend.mlkemDecapsulate(ctPq, this.#pqKey);
      return hybridKemCombine(
        ssPq,
        ssX,
        ctPq,
        ctX,
        this.#publicKey.subarray(X25519_BYTES),
        this.#publicKey.subarray(0, X25519_BYTES),
      );
    } finally {
      wipe(ssX, ssPq);
    }
  }

  /** Wipes the seed and the ML-KEM key; later calls throw. Safe to call more than once. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    wipe(this.#seed);
    this.backend.destroySecretKey(this.#pqKey);
    this.#pqKey = undefined;
    this.#xKey = undefined;
  }
}

/**
 * Encapsulates to a 1600-byte hybrid public key. With a 64-byte seed the
 * result is deterministic (vectors); without one, fresh randomness is used.
 */
export function hybridEncapsulate(
  publicKey: Uint8Array,
  seed?: Uint8Array,
  backend?: PqBackend,
): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
  checkBytes('hybridEncapsulate publicKey', publicKey, HYBRID_KEM_PUBLIC_BYTES);
  if (seed !== undefined) checkBytes('hybridEncapsulate seed', seed, HYBRID_KEM_ENCAPS_SEED_BYTES);
  const pq = backend ?? getPqBackend();
  const ekX = publicKey.subarray(0, X25519_BYTES);
  const ekPq = publicKey.subarray(X25519_BYTES);
  const ephSeed = seed ? seed.subarray(0, X25519_BYTES) : randomBytes(X25519_BYTES);
  let ssX: Uint8Array | undefined;
  let ssPq: Uint8Array | undefined;
  try {
    const eph = privateKeyFromSeed('x25519', ephSeed);
    const ctX = rawPublicKey('x25519', eph);
    ssX = x25519(eph, ekX, 'hybridEncapsulate publicKey');
    const enc = seed ? pq.mlkemEncapsulate(ekPq, seed.subarray(X25519_BYTES)) : pq.mlkemEncapsulate(ekPq);
    ssPq = enc.sharedSecret;
    const sharedSecret = hybridKemCombine(ssPq, ssX, enc.cipherText, ctX, ekPq, ekX);
    return { cipherText: concatBytes(ctX, enc.cipherText), sharedSecret };
  } finally {
    wipe(ssX, ssPq);
    if (!seed) wipe(ephSeed);
  }
}
