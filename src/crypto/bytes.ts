/**
 * Byte helpers for the crypto package: wiping, constant-time comparison,
 * concatenation, randomness, SHA-256, hex and UTF-8.
 *
 * Callers must know:
 *  - every function returns a fresh, plain Uint8Array (never a view into a
 *    pooled Buffer), so wipe() on a result cannot touch unrelated memory;
 *  - equalBytes is constant time only for inputs of equal length (the length
 *    itself is not secret in any of our uses);
 *  - randomBytes and sha256 come from node:crypto (OpenSSL); no I/O here.
 */

import { createHash, randomFillSync, timingSafeEqual } from 'node:crypto';
import { CryptoError } from '../errors.js';
import { CryptoCode } from './crypto-errors.js';
import { checkAnyBytes, checkInt } from './checks.js';

/** Largest randomBytes request: far above any key or nonce, low enough to catch a unit mistake. */
export const RANDOM_BYTES_MAX = 1 << 20;
/** SHA-256 output length. */
export const SHA256_BYTES = 32;

/** Overwrites every given buffer with zeros. null/undefined entries are skipped. */
export function wipe(...bufs: Array<Uint8Array | undefined | null>): void {
  for (const b of bufs) {
    if (b) b.fill(0);
  }
}

/** True when a and b hold the same bytes; constant time when the lengths are equal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  checkAnyBytes('equalBytes a', a);
  checkAnyBytes('equalBytes b', b);
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return timingSafeEqual(a, b);
}

/** Orders a and b byte by byte (a shorter prefix first): negative, zero or positive. Not constant time. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  checkAnyBytes('compareBytes a', a);
  checkAnyBytes('compareBytes b', b);
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** A new array holding all parts in order. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  parts.forEach((p, i) => {
    checkAnyBytes(`concatBytes part ${i}`, p);
    total += p.length;
  });
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** n bytes from the operating system's CSPRNG (through OpenSSL). */
export function randomBytes(n: number): Uint8Array {
  checkInt('randomBytes n', n, 0, RANDOM_BYTES_MAX);
  const out = new Uint8Array(n);
  randomFillSync(out);
  return out;
}

/** SHA-256 over the concatenation of parts (FIPS 180-4), 32 bytes. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  parts.forEach((p, i) => {
    checkAnyBytes(`sha256 part ${i}`, p);
    h.update(p);
  });
  return copyOut(h.digest());
}

/** Lower-case hex. */
export function toHex(b: Uint8Array): string {
  checkAnyBytes('toHex b', b);
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Decodes hex (either case, even length, no prefix or spaces); CryptoError SM_ERR_CRYPTO_HEX otherwise. */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string') throw new CryptoError(CryptoCode.HEX, `fromHex s: expected a string, got ${typeof s}`);
  if (!HEX_RE.test(s)) {
    throw new CryptoError(CryptoCode.HEX, `fromHex s: not an even-length hex string (length ${s.length})`);
  }
  return copyOut(Buffer.from(s, 'hex'));
}

const encoder = new TextEncoder();

/** UTF-8 encoding of s. */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * Copies a Buffer returned by node:crypto into a fresh Uint8Array and zeroes
 * the Buffer, so results never alias Node's memory pool.
 */
export function copyOut(buf: Buffer): Uint8Array {
  const out = new Uint8Array(buf.length);
  out.set(buf);
  buf.fill(0);
  return out;
}
