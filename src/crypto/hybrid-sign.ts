/**
 * Hybrid signatures: Ed25519 (RFC 8032, node:crypto) + ML-DSA-87 (FIPS 204,
 * pq-backend.ts). docs/architecture.md "Identity and membership": identities
 * and the network CA hold one key of each kind, and a signature is valid only if BOTH verify, so
 * forging one requires breaking both algorithms.
 *
 * Layouts:
 *   public key | ed25519 public (32)    | ml-dsa-87 public (2592) |  = 2624
 *   signature  | ed25519 signature (64) | ml-dsa-87 signature (4627) |  = 4691
 *   seed       | ed25519 seed (32)      | ml-dsa-87 xi (32) |  = 64
 *
 * Both algorithms sign the same domain-separated message
 *   "shadowmesh-sig-v1" || 0x00 || u8(len(context)) || context || message
 * where context is a printable-ASCII label of 1..64 characters ("relay-auth",
 * "member-cert", ...). The length prefix makes (context, message) pairs
 * unambiguous, so a signature made for one purpose never verifies for another.
 * ML-DSA itself runs in pure mode with an empty FIPS 204 context string.
 *
 * Callers must know:
 *  - hybridVerify throws CryptoError SM_ERR_CRYPTO_LENGTH for a public key or
 *    signature of the wrong length and SM_ERR_CRYPTO_ARG for a bad context (both
 *    are caller bugs: decoders fix those lengths); for every other failure it
 *    returns false and never throws.
 *  - HybridSigner keeps its seed; exportSeed() returns a copy that the caller
 *    must wipe. destroy() wipes what JavaScript can reach; later calls throw
 *    SM_ERR_CRYPTO_DESTROYED.
 *  - sign() is hedged (fresh randomness in ML-DSA) unless `rnd` is given;
 *    rnd = 32 zero bytes gives the deterministic variant, for vectors.
 */

import { sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { CryptoError } from '../errors.js';
import { CryptoCode } from './crypto-errors.js';
import { concatBytes, copyOut, randomBytes, utf8, wipe } from './bytes.js';
import { checkAlive, checkAnyBytes, checkBytes } from './checks.js';
import { privateKeyFromSeed, publicKeyFromRaw, rawPublicKey } from './ed-x-keys.js';
import { getPqBackend, MLDSA87_RND_BYTES, type PqBackend } from './pq-backend.js';

export const ED25519_PUBLIC_BYTES = 32;
export const MLDSA87_PUBLIC_BYTES = 2592;
export const HYBRID_SIGN_PUBLIC_BYTES = ED25519_PUBLIC_BYTES + MLDSA87_PUBLIC_BYTES; // 2624
export const ED25519_SIGNATURE_BYTES = 64;
export const MLDSA87_SIGNATURE_BYTES = 4627;
export const HYBRID_SIGNATURE_BYTES = ED25519_SIGNATURE_BYTES + MLDSA87_SIGNATURE_BYTES; // 4691
/** Ed25519 seed (RFC 8032 §5.1.5, 32) || ML-DSA-87 xi (FIPS 204 Algorithm 1, 32). */
export const HYBRID_SIGN_SEED_BYTES = 64;
const ED25519_SEED_BYTES = 32;

/** Versioned domain label: bump it if the signed-message layout ever changes. */
export const HYBRID_SIGN_LABEL = 'shadowmesh-sig-v1';
/** Labels are short names, not data: 64 characters is plenty and fits the u8 prefix. */
export const HYBRID_SIGN_CONTEXT_MAX_CHARS = 64;

const LABEL_BYTES = utf8(HYBRID_SIGN_LABEL);
const CONTEXT_RE = /^[\x20-\x7e]+$/;

function checkContext(name: string, context: unknown): asserts context is string {
  if (
    typeof context !== 'string' ||
    context.length < 1 ||
    context.length > HYBRID_SIGN_CONTEXT_MAX_CHARS ||
    !CONTEXT_RE.test(context)
  ) {
    const shown = typeof context === 'string' ? JSON.stringify(context.slice(0, 80)) : typeof context;
    throw new CryptoError(
      CryptoCode.ARG,
      `${name}: expected 1..${HYBRID_SIGN_CONTEXT_MAX_CHARS} printable ASCII characters, got ${shown}`,
    );
  }
}

/** "shadowmesh-sig-v1" || 0x00 || u8(len(context)) || context || message. Exported for vectors. */
export function hybridSignedMessage(context: string, message: Uint8Array): Uint8Array {
  checkContext('hybrid signature context', context);
  checkAnyBytes('hybrid signature message', message);
  const ctx = utf8(context); // ASCII: one byte per character
  return concatBytes(LABEL_BYTES, Uint8Array.of(0, ctx.length), ctx, message);
}

export class HybridSigner {
  /** ed25519 public (32) || ml-dsa-87 public (2592). A copy: mutating it does not affect signing. */
  readonly publicKey: Uint8Array;
  readonly backend: PqBackend;
  #seed: Uint8Array;
  #edKey: KeyObject | undefined;
  #pqKey: unknown;
  #destroyed = false;

  private constructor(seed: Uint8Array, backend: PqBackend) {
    this.backend = backend;
    this.#seed = Uint8Array.from(seed);
    this.#edKey = privateKeyFromSeed('ed25519', this.#seed.subarray(0, ED25519_SEED_BYTES));
    const pq = backend.mldsaKeygen(this.#seed.subarray(ED25519_SEED_BYTES));
    this.#pqKey = pq.secretKey;
    this.publicKey = concatBytes(rawPublicKey('ed25519', this.#edKey), pq.publicKey);
  }

  /** A new random identity. */
  static generate(backend?: PqBackend): HybridSigner {
    const seed = randomBytes(HYBRID_SIGN_SEED_BYTES);
    try {
      return new HybridSigner(seed, backend ?? getPqBackend());
    } finally {
      wipe(seed);
    }
  }

  /** The signer for a 64-byte seed (ed25519 seed 32 || ml-dsa xi 32). The seed is copied. */
  static fromSeed(seed: Uint8Array, backend?: PqBackend): HybridSigner {
    checkBytes('HybridSigner seed', seed, HYBRID_SIGN_SEED_BYTES);
    return new HybridSigner(seed, backend ?? getPqBackend());
  }

  /** A copy of the 64-byte seed; the caller wipes it. */
  exportSeed(): Uint8Array {
    checkAlive('HybridSigner', this.#destroyed);
    return Uint8Array.from(this.#seed);
  }

  /** Signs; returns ed25519 sig (64) || ml-dsa-87 sig (4627). rnd (32) only affects ML-DSA. */
  sign(context: string, message: Uint8Array, rnd?: Uint8Array): Uint8Array {
    checkAlive('HybridSigner', this.#destroyed);
    checkContext('HybridSigner.sign context', context);
    checkAnyBytes('HybridSigner.sign message', message);
    if (rnd !== undefined) checkBytes('HybridSigner.sign rnd', rnd, MLDSA87_RND_BYTES);
    const m = hybridSignedMessage(context, message);
    let edSig: Uint8Array;
    try {
      edSig = copyOut(edSign(null, m, this.#edKey as KeyObject));
    } catch (err) {
      throw new CryptoError(CryptoCode.INTERNAL, 'HybridSigner.sign: Ed25519 signing failed', { cause: err });
    }
    const pqSig = this.backend.mldsaSign(this.#pqKey, m, rnd);
    if (edSig.length !== ED25519_SIGNATURE_BYTES || pqSig.length !== MLDSA87_SIGNATURE_BYTES) {
      throw new CryptoError(CryptoCode.INTERNAL, 'HybridSigner.sign: a primitive returned a signature of unexpected length');
    }
    return concatBytes(edSig, pqSig);
  }

  /** Wipes the seed and the ML-DSA key; later calls throw. Safe to call more than once. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    wipe(this.#seed);
    this.backend.destroySecretKey(this.#pqKey);
    this.#pqKey = undefined;
    this.#edKey = undefined;
  }
}

/**
 * True only when both the Ed25519 and the ML-DSA-87 halves verify over the
 * domain-separated message. Wrong lengths throw (see header); anything else false.
 */
export function hybridVerify(
  publicKey: Uint8Array,
  context: string,
  message: Uint8Array,
  signature: Uint8Array,
  backend?: PqBackend,
): boolean {
  checkBytes('hybridVerify publicKey', publicKey, HYBRID_SIGN_PUBLIC_BYTES);
  checkContext('hybridVerify context', context);
  checkAnyBytes('hybridVerify message', message);
  checkBytes('hybridVerify signature', signature, HYBRID_SIGNATURE_BYTES);
  const pq = backend ?? getPqBackend();
  const m = hybridSignedMessage(context, message);
  let edOk = false;
  try {
    const edPub = publicKeyFromRaw('ed25519', publicKey.subarray(0, ED25519_PUBLIC_BYTES));
    edOk = edVerify(null, m, edPub, signature.subarray(0, ED25519_SIGNATURE_BYTES));
  } catch {
    edOk = false;
  }
  if (!edOk) return false;
  return pq.mldsaVerify(publicKey.subarray(ED25519_PUBLIC_BYTES), m, signature.subarray(ED25519_SIGNATURE_BYTES));
}
