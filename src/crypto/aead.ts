/**
 * AEAD for the data plane: ChaCha20-Poly1305 (RFC 8439, the default) and
 * AES-256-GCM (NIST SP 800-38D), both OpenSSL's, reached one of two ways
 * (docs/architecture.md "Native AEAD contexts"):
 *
 *  - 'native': the AEAD context addon (native/aead.cc via native-aead.ts),
 *    one OpenSSL context per key and direction, keyed once; per frame only
 *    the nonce is set, and nothing is allocated;
 *  - 'js': node:crypto, a new Cipheriv/Decipheriv per frame. The reference
 *    and the fallback when the addon is absent; both give the same bytes
 *    (test/crypto/native-aead.test.ts).
 *
 * Sealers and openers take `impl` ('auto', the default, picks 'native' when
 * the addon loads); `impl` on the object says which one runs.
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
 *  - AeadSealer/AeadOpener copy the key (into the addon's context or a
 *    private array); the caller may wipe its own copy at once. destroy()
 *    wipes the internal copy (the addon frees and cleanses its context); any
 *    later call throws CryptoError SM_ERR_CRYPTO_DESTROYED.
 *  - sealInPlace encrypts inside the caller's buffer: nothing is allocated
 *    with the addon; node:crypto allocates its cipher object and results.
 *  - impl 'native' throws SM_ERR_CRYPTO_NATIVE_UNAVAILABLE when the addon is
 *    missing; 'auto' quietly uses node:crypto then.
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
import { loadNativeAead, nativeAeadUnavailableReason, type NativeAeadAddon, type NativeAeadHandle } from './native-aead.js';
import {
  checkAlive,
  checkAnyBytes,
  checkBytes,
  checkInt,
} from './checks.js';

export type AeadAlgorithm = 'chacha20-poly1305' | 'aes-256-gcm';
/** Which implementation runs: the native context addon or node:crypto. */
export type AeadImpl = 'native' | 'js';
/** What a caller may ask for: 'auto' is 'native' when the addon loads, else 'js'. */
export type AeadImplChoice = AeadImpl | 'auto';

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

/** The addon for `choice`, or null for node:crypto. Throws when 'native' was asked for and is not there. */
function resolveImpl(name: string, choice: unknown): NativeAeadAddon | null {
  if (choice !== 'auto' && choice !== 'native' && choice !== 'js') {
    throw new CryptoError(CryptoCode.ARG, `${name}: expected 'auto', 'native' or 'js', got ${String(choice)}`);
  }
  if (choice === 'js') return null;
  const addon = loadNativeAead();
  if (addon === null && choice === 'native') {
    throw new CryptoError(CryptoCode.NATIVE_UNAVAILABLE, `${name}: the native AEAD addon is unavailable: ${nativeAeadUnavailableReason()}`);
  }
  return addon;
}

/** The addon's algorithm number (native/aead.cc create()). */
function nativeAlg(alg: AeadAlgorithm): 0 | 1 {
  return alg === 'chacha20-poly1305' ? 0 : 1;
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
export function aeadSealRaw(
  alg: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  impl: AeadImplChoice = 'js',
): Uint8Array {
  checkAlgorithm('aeadSealRaw alg', alg);
  checkBytes('aeadSealRaw key', key, AEAD_KEY_BYTES);
  checkBytes('aeadSealRaw nonce', nonce, AEAD_NONCE_BYTES);
  checkAnyBytes('aeadSealRaw aad', aad);
  checkAnyBytes('aeadSealRaw plaintext', plaintext);
  const addon = resolveImpl('aeadSealRaw impl', impl);
  if (addon !== null) {
    const buf = new Uint8Array(aad.length + plaintext.length + AEAD_TAG_BYTES);
    buf.set(aad, 0);
    buf.set(plaintext, aad.length);
    const h = addon.create(nativeAlg(alg), key, true);
    try {
      if (!addon.seal(h, nonce, buf, 0, aad.length, plaintext.length)) throw new CryptoError(CryptoCode.INTERNAL, 'aeadSealRaw: OpenSSL failed to seal');
    } finally {
      addon.destroy(h);
    }
    return buf.slice(aad.length);
  }
  const { ct, tag } = encrypt(alg, key, nonce, aad, plaintext);
  const out = new Uint8Array(ct.length + AEAD_TAG_BYTES);
  out.set(ct, 0);
  out.set(tag, ct.length);
  return out;
}

/** One-shot open with an explicit nonce; null when authentication fails or sealed is shorter than a tag. */
export function aeadOpenRaw(
  alg: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  impl: AeadImplChoice = 'js',
): Uint8Array | null {
  checkAlgorithm('aeadOpenRaw alg', alg);
  checkBytes('aeadOpenRaw key', key, AEAD_KEY_BYTES);
  checkBytes('aeadOpenRaw nonce', nonce, AEAD_NONCE_BYTES);
  checkAnyBytes('aeadOpenRaw aad', aad);
  checkAnyBytes('aeadOpenRaw sealed', sealed);
  const addon = resolveImpl('aeadOpenRaw impl', impl);
  if (addon !== null) {
    if (sealed.length < AEAD_TAG_BYTES) return null;
    const out = new Uint8Array(sealed.length - AEAD_TAG_BYTES);
    const h = addon.create(nativeAlg(alg), key, false);
    try {
      return addon.open(h, nonce, aad, sealed, out) < 0 ? null : out;
    } finally {
      addon.destroy(h);
    }
  }
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
  /** Which implementation seals (see the module comment). */
  readonly impl: AeadImpl;
  /** node:crypto's key copy; empty with the addon, which keeps the key in its context only. */
  #key: Uint8Array;
  #addon: NativeAeadAddon | null;
  #handle: NativeAeadHandle | null = null;
  #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #nonceView = new DataView(this.#nonce.buffer);
  #counterBytes = new Uint8Array(AEAD_COUNTER_BYTES);
  #counterView = new DataView(this.#counterBytes.buffer);
  #next = 0n;
  #destroyed = false;

  constructor(alg: AeadAlgorithm, key: Uint8Array, options?: { limit?: bigint; impl?: AeadImplChoice }) {
    checkAlgorithm('AeadSealer alg', alg);
    checkBytes('AeadSealer key', key, AEAD_KEY_BYTES);
    const limit = options?.limit ?? REJECT_AFTER_MESSAGES;
    if (typeof limit !== 'bigint' || limit < 1n || limit > REJECT_AFTER_MESSAGES) {
      throw new CryptoError(CryptoCode.ARG, `AeadSealer options.limit: expected a bigint in 1..${REJECT_AFTER_MESSAGES}, got ${String(limit)}`);
    }
    this.#addon = resolveImpl('AeadSealer options.impl', options?.impl ?? 'auto');
    this.algorithm = alg;
    this.limit = limit;
    this.impl = this.#addon !== null ? 'native' : 'js';
    if (this.#addon !== null) {
      this.#handle = this.#addon.create(nativeAlg(alg), key, true);
      this.#key = new Uint8Array(0);
    } else {
      this.#key = Uint8Array.from(key);
    }
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

    const addon = this.#addon;
    if (addon !== null) {
      if (!addon.seal(this.#handle!, this.#nonce, buf, offset, headerLength, plaintextLength)) {
        throw new CryptoError(CryptoCode.INTERNAL, `AeadSealer: OpenSSL failed to seal counter ${counter}`);
      }
      return counter;
    }
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

  /** Wipes the key (the addon frees and cleanses its context). Safe to call more than once. */
  destroy(): void {
    wipe(this.#key);
    if (this.#handle !== null) {
      this.#addon!.destroy(this.#handle);
      this.#handle = null;
    }
    this.#destroyed = true;
  }
}

/** Opens frames sealed by an AeadSealer with the same algorithm and key. Replay checks are the caller's. */
export class AeadOpener {
  readonly algorithm: AeadAlgorithm;
  /** Which implementation opens (see the module comment). */
  readonly impl: AeadImpl;
  /** node:crypto's key copy; empty with the addon. */
  #key: Uint8Array;
  #addon: NativeAeadAddon | null;
  #handle: NativeAeadHandle | null = null;
  /**
   * The addon decrypts here before a caller's `out` sees a byte, so `out` is
   * untouched by a failed tag (as with node:crypto). Grows to the largest
   * frame opened, which the caller's frame limit bounds; wiped after each use.
   */
  #scratch = new Uint8Array(0);
  #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #nonceView = new DataView(this.#nonce.buffer);
  #destroyed = false;

  constructor(alg: AeadAlgorithm, key: Uint8Array, options?: { impl?: AeadImplChoice }) {
    checkAlgorithm('AeadOpener alg', alg);
    checkBytes('AeadOpener key', key, AEAD_KEY_BYTES);
    this.#addon = resolveImpl('AeadOpener options.impl', options?.impl ?? 'auto');
    this.algorithm = alg;
    this.impl = this.#addon !== null ? 'native' : 'js';
    if (this.#addon !== null) {
      this.#handle = this.#addon.create(nativeAlg(alg), key, false);
      this.#key = new Uint8Array(0);
    } else {
      this.#key = Uint8Array.from(key);
    }
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
    const addon = this.#addon;
    if (addon !== null) return this.#openNative(addon, header, sealed, out);
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

  /**
   * open() into the sealed bytes themselves: on success the plaintext is
   * `sealed.subarray(0, sealed.length - 16)`, returned as that view, and the
   * tag bytes are left as they were; null on the same failures as open().
   * After a failed tag the ciphertext may have been overwritten with zeros
   * (the addon decrypts before the tag is known and then wipes), so the
   * caller must not use `sealed` again either way. For a receive path that
   * owns its datagram: no output buffer, nothing allocated with the addon.
   */
  openInPlace(header: Uint8Array, counter: bigint, sealed: Uint8Array): Uint8Array | null {
    checkAlive('AeadOpener', this.#destroyed);
    if (!(header instanceof Uint8Array) || !(sealed instanceof Uint8Array)) return null;
    if (typeof counter !== 'bigint' || counter < 0n || counter >= REJECT_AFTER_MESSAGES) return null;
    if (sealed.length < AEAD_TAG_BYTES) return null;
    setCounterNonce(this.#nonceView, counter);
    const n = sealed.length - AEAD_TAG_BYTES;
    const addon = this.#addon;
    if (addon !== null) {
      return addon.open(this.#handle!, this.#nonce, header, sealed, sealed) < 0 ? null : sealed.subarray(0, n);
    }
    const pt = decrypt(this.algorithm, this.#key, this.#nonce, header, sealed);
    if (pt === null) return null;
    sealed.set(pt);
    pt.fill(0);
    return sealed.subarray(0, n);
  }

  /** open() through the addon; the nonce is already set. */
  #openNative(addon: NativeAeadAddon, header: Uint8Array, sealed: Uint8Array, out: Uint8Array | undefined): Uint8Array | null {
    if (sealed.length < AEAD_TAG_BYTES) return null;
    const n = sealed.length - AEAD_TAG_BYTES;
    if (!(out instanceof Uint8Array) || out.length < n) {
      // A fresh array nobody else sees: the addon decrypts straight into it and zeroes it on a failed tag.
      const fresh = new Uint8Array(n);
      return addon.open(this.#handle!, this.#nonce, header, sealed, fresh) < 0 ? null : fresh;
    }
    if (this.#scratch.length < n) this.#scratch = new Uint8Array(n);
    const scratch = this.#scratch;
    if (addon.open(this.#handle!, this.#nonce, header, sealed, scratch) < 0) return null;
    out.set(scratch.subarray(0, n));
    scratch.fill(0, 0, n);
    return out.subarray(0, n);
  }

  /** Wipes the key (the addon frees and cleanses its context). Safe to call more than once. */
  destroy(): void {
    wipe(this.#key);
    if (this.#handle !== null) {
      this.#addon!.destroy(this.#handle);
      this.#handle = null;
    }
    this.#destroyed = true;
  }
}
