/**
 * AEAD for the data plane: ChaCha20-Poly1305 (RFC 8439, the default) and
 * AES-256-GCM (NIST SP 800-38D), both from node:crypto (OpenSSL).
 *
 * Implements the DATA frame rules of docs/protocol.md §2: the nonce is
 * 4 zero bytes || counter (u64 little-endian) and the frame header is the
 * associated data. Nonce reuse is impossible by construction: an AeadSealer
 * owns its counter, which only moves forward, and writes the counter into the
 * header itself before that header is authenticated. There is no API that
 * takes a caller-chosen nonce except aeadSealRaw/aeadOpenRaw, which exist for
 * known-answer vectors only.
 *
 * Callers must know:
 *  - AeadSealer/AeadOpener copy the key; the caller may wipe its own copy at
 *    once. destroy() wipes the internal copy; any later call throws
 *    CryptoError SM_ERR_CRYPTO_DESTROYED.
 *  - sealInPlace encrypts inside the caller's buffer (no result allocation
 *    beyond what node:crypto does internally).
 *  - AeadOpener.open never throws on bad network input: short input, a
 *    counter at or past REJECT_AFTER_MESSAGES or a failed tag all return
 *    null. Unauthenticated plaintext is never written to `out`. Replay
 *    protection is the caller's (the session's replay window).
 *  - sealInPlace is synchronous; one sealer must not be shared between
 *    sessions or directions (each direction has its own key).
 */

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CryptoError } from '../errors.js';
import { CryptoCode } from './crypto-errors.js';
import { wipe } from './bytes.js';
import {
  checkAlive,
  checkAnyBytes,
  checkBytes,
  checkInt,
} from './checks.js';

export type AeadAlgorithm = 'chacha20-poly1305' | 'aes-256-gcm';

/** Both algorithms take 256-bit keys. */
export const AEAD_KEY_BYTES = 32;
/** RFC 8439 §2.8 and SP 800-38D's recommended 96-bit IV. */
export const AEAD_NONCE_BYTES = 12;
/** Full-length 128-bit tags only: truncated GCM tags weaken forgery bounds. */
export const AEAD_TAG_BYTES = 16;
/** Bytes of the counter inside the nonce and the header (u64 LE). */
export const AEAD_COUNTER_BYTES = 8;
/** The counter sits after 4 zero bytes in the nonce (protocol.md §2). */
const NONCE_COUNTER_OFFSET = 4;
/**
 * Messages a key may seal, as WireGuard's REJECT_AFTER_MESSAGES: far below the
 * u64 wrap, leaving room for a replay window of 2^13, so a counter can never
 * wrap around and repeat a nonce.
 */
export const REJECT_AFTER_MESSAGES: bigint = 2n ** 64n - 2n ** 13n - 1n;
/** Largest buffer offset/length accepted: anything larger is a caller bug (frames are <= 64 KiB + headers). */
const MAX_BUFFER_INDEX = 2 ** 31 - 1;

function checkAlgorithm(name: string, alg: unknown): asserts alg is AeadAlgorithm {
  if (alg !== 'chacha20-poly1305' && alg !== 'aes-256-gcm') {
    throw new CryptoError(CryptoCode.ARG, `${name}: expected 'chacha20-poly1305' or 'aes-256-gcm', got ${String(alg)}`);
  }
}

// One cipher object per call: node:crypto has no re-keyable AEAD context.
// The two identical-looking branches let the type checker pick the right
// createCipheriv overload for each literal algorithm name; both accept
// authTagLength and setAAD({ plaintextLength }).
function encrypt(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): { ct: Buffer; tag: Buffer } {
  const c =
    alg === 'chacha20-poly1305'
      ? createCipheriv(alg, key, nonce, { authTagLength: AEAD_TAG_BYTES })
      : createCipheriv(alg, key, nonce, { authTagLength: AEAD_TAG_BYTES });
  c.setAAD(aad, { plaintextLength: pt.length });
  const ct = c.update(pt);
  c.final();
  return { ct, tag: c.getAuthTag() };
}

/** Returns the plaintext as a node Buffer, or null when the tag does not verify. */
function decrypt(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | null {
  if (sealed.length < AEAD_TAG_BYTES) return null;
  const ctLen = sealed.length - AEAD_TAG_BYTES;
  const d =
    alg === 'chacha20-poly1305'
      ? createDecipheriv(alg, key, nonce, { authTagLength: AEAD_TAG_BYTES })
      : createDecipheriv(alg, key, nonce, { authTagLength: AEAD_TAG_BYTES });
  d.setAuthTag(sealed.subarray(ctLen));
  d.setAAD(aad, { plaintextLength: ctLen });
  const pt = d.update(sealed.subarray(0, ctLen));
  try {
    d.final();
  } catch {
    pt.fill(0); // never release unauthenticated plaintext
    return null;
  }
  return pt;
}

/** One-shot seal with an explicit nonce; returns ciphertext || tag. For known-answer vectors only. */
export function aeadSealRaw(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkAlgorithm('aeadSealRaw alg', alg);
  checkBytes('aeadSealRaw key', key, AEAD_KEY_BYTES);
  checkBytes('aeadSealRaw nonce', nonce, AEAD_NONCE_BYTES);
  checkAnyBytes('aeadSealRaw aad', aad);
  checkAnyBytes('aeadSealRaw plaintext', plaintext);
  const { ct, tag } = encrypt(alg, key, nonce, aad, plaintext);
  const out = new Uint8Array(ct.length + AEAD_TAG_BYTES);
  out.set(ct, 0);
  out.set(tag, ct.length);
  return out;
}

/** One-shot open with an explicit nonce; null when authentication fails or sealed is shorter than a tag. */
export function aeadOpenRaw(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  checkAlgorithm('aeadOpenRaw alg', alg);
  checkBytes('aeadOpenRaw key', key, AEAD_KEY_BYTES);
  checkBytes('aeadOpenRaw nonce', nonce, AEAD_NONCE_BYTES);
  checkAnyBytes('aeadOpenRaw aad', aad);
  checkAnyBytes('aeadOpenRaw sealed', sealed);
  const pt = decrypt(alg, key, nonce, aad, sealed);
  if (pt === null) return null;
  const out = new Uint8Array(pt.length);
  out.set(pt);
  pt.fill(0);
  return out;
}

/** Writes `counter` as the protocol nonce (4 zero bytes || u64 LE) into `nonce`. */
function setCounterNonce(view: DataView, counter: bigint): void {
  view.setBigUint64(NONCE_COUNTER_OFFSET, counter, true);
}

/**
 * Seals frames with strictly increasing counters 0, 1, 2, ... under one key.
 * After `limit` messages every call throws SM_ERR_CRYPTO_COUNTER_EXHAUSTED.
 */
export class AeadSealer {
  readonly algorithm: AeadAlgorithm;
  readonly limit: bigint;
  #key: Uint8Array;
  #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #nonceView = new DataView(this.#nonce.buffer);
  #counterBytes = new Uint8Array(AEAD_COUNTER_BYTES);
  #counterView = new DataView(this.#counterBytes.buffer);
  #next = 0n;
  #destroyed = false;

  constructor(alg: AeadAlgorithm, key: Uint8Array, options?: { limit?: bigint }) {
    checkAlgorithm('AeadSealer alg', alg);
    checkBytes('AeadSealer key', key, AEAD_KEY_BYTES);
    const limit = options?.limit ?? REJECT_AFTER_MESSAGES;
    if (typeof limit !== 'bigint' || limit < 1n || limit > REJECT_AFTER_MESSAGES) {
      throw new CryptoError(CryptoCode.ARG, `AeadSealer options.limit: expected a bigint in 1..${REJECT_AFTER_MESSAGES}, got ${String(limit)}`);
    }
    this.algorithm = alg;
    this.limit = limit;
    this.#key = Uint8Array.from(key);
  }

  /** How many counters were used (= the next counter to be used). */
  get sent(): bigint {
    return this.#next;
  }

  /**
   * Seals in place. Layout from buf[offset]:
   *   | header (headerLength; counter u64 LE written at counterOffset) | plaintext (plaintextLength) | tag (16) |
   * The counter is written before the header is used as associated data.
   * Returns the counter used. The counter is consumed even if encryption
   * throws, so a counter is never used twice.
   */
  sealInPlace(buf: Uint8Array, offset: number, headerLength: number, counterOffset: number, plaintextLength: number): bigint {
    checkAlive('AeadSealer', this.#destroyed);
    checkAnyBytes('sealInPlace buf', buf);
    checkInt('sealInPlace offset', offset, 0, MAX_BUFFER_INDEX);
    checkInt('sealInPlace headerLength', headerLength, AEAD_COUNTER_BYTES, MAX_BUFFER_INDEX);
    checkInt('sealInPlace counterOffset', counterOffset, 0, headerLength - AEAD_COUNTER_BYTES);
    checkInt('sealInPlace plaintextLength', plaintextLength, 0, MAX_BUFFER_INDEX);
    const ptStart = offset + headerLength;
    const end = ptStart + plaintextLength + AEAD_TAG_BYTES;
    if (end > buf.length) {
      throw new CryptoError(
        CryptoCode.LENGTH,
        `sealInPlace buf: expected at least ${end} bytes (offset ${offset} + header ${headerLength} + plaintext ${plaintextLength} + tag ${AEAD_TAG_BYTES}), got ${buf.length}`,
      );
    }
    if (this.#next >= this.limit) {
      throw new CryptoError(CryptoCode.COUNTER_EXHAUSTED, `AeadSealer: all ${this.limit} counters used; rekey`);
    }
    const counter = this.#next;
    this.#next = counter + 1n;

    this.#counterView.setBigUint64(0, counter, true);
    buf.set(this.#counterBytes, offset + counterOffset);
    setCounterNonce(this.#nonceView, counter);

    const { ct, tag } = encrypt(
      this.algorithm,
      this.#key,
      this.#nonce,
      buf.subarray(offset, ptStart),
      buf.subarray(ptStart, ptStart + plaintextLength),
    );
    buf.set(ct, ptStart);
    buf.set(tag, ptStart + plaintextLength);
    return counter;
  }

  /** Wipes the key. Safe to call more than once. */
  destroy(): void {
    wipe(this.#key);
    this.#destroyed = true;
  }
}

/** Opens frames sealed by an AeadSealer with the same algorithm and key. Replay checks are the caller's. */
export class AeadOpener {
  readonly algorithm: AeadAlgorithm;
  #key: Uint8Array;
  #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #nonceView = new DataView(this.#nonce.buffer);
  #destroyed = false;

  constructor(alg: AeadAlgorithm, key: Uint8Array) {
    checkAlgorithm('AeadOpener alg', alg);
    checkBytes('AeadOpener key', key, AEAD_KEY_BYTES);
    this.algorithm = alg;
    this.#key = Uint8Array.from(key);
  }

  /**
   * header = the associated data (the frame header, counter included);
   * sealed = ciphertext || tag. Returns the plaintext, written into `out`
   * (and returned as a view of it) when `out` is large enough, else in a new
   * array; null when authentication fails or the input cannot be valid.
   * Throws only when used after destroy() (a programmer mistake).
   */
  open(header: Uint8Array, counter: bigint, sealed: Uint8Array, out?: Uint8Array): Uint8Array | null {
    checkAlive('AeadOpener', this.#destroyed);
    if (!(header instanceof Uint8Array) || !(sealed instanceof Uint8Array)) return null;
    // A sealer never uses a counter at or past REJECT_AFTER_MESSAGES, so such a frame is forged.
    if (typeof counter !== 'bigint' || counter < 0n || counter >= REJECT_AFTER_MESSAGES) return null;
    setCounterNonce(this.#nonceView, counter);
    const pt = decrypt(this.algorithm, this.#key, this.#nonce, header, sealed);
    if (pt === null) return null;
    if (out instanceof Uint8Array && out.length >= pt.length) {
      out.set(pt);
      pt.fill(0);
      return out.subarray(0, pt.length);
    }
    // node:crypto's output buffer is already fresh and ours alone: hand it over as a plain
    // Uint8Array view instead of copying it (and zeroing the copy's source) per frame.
    return new Uint8Array(pt.buffer, pt.byteOffset, pt.length);
  }

  /** Wipes the key. Safe to call more than once. */
  destroy(): void {
    wipe(this.#key);
    this.#destroyed = true;
  }
}
