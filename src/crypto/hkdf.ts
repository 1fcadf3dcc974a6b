/**
 * HKDF with SHA-256 (RFC 5869) and HMAC-SHA-256 (RFC 2104), over node:crypto.
 *
 * hkdf() is OpenSSL's one-shot HKDF. hkdfExtract() and hkdfExpand() expose the
 * two steps for key schedules that keep a PRK and expand it several times;
 * they are the RFC 5869 §2.2/§2.3 definitions written over node's HMAC, and the
 * tests check both paths against the RFC's test cases.
 *
 * Callers must know: results are fresh arrays the caller owns and should wipe;
 * a string `info` is encoded as UTF-8; an empty salt means HashLen zero bytes
 * (RFC 5869 §2.2), which HMAC treats identically.
 */

import { createHmac, hkdfSync } from 'node:crypto';
import { checkAnyBytes, checkBytes, checkInt } from './checks.js';
import { copyOut, utf8, wipe } from './bytes.js';

/** SHA-256 output length, HashLen in RFC 5869. */
export const HKDF_HASH_BYTES = 32;
/** RFC 5869 §2.3: L <= 255 * HashLen. */
export const HKDF_MAX_OUTPUT_BYTES = 255 * HKDF_HASH_BYTES;

function infoBytes(name: string, info: Uint8Array | string): Uint8Array {
  if (typeof info === 'string') return utf8(info);
  checkAnyBytes(name, info);
  return info;
}

/** HMAC-SHA-256(key, data[0] || data[1] || ...), 32 bytes. */
export function hmacSha256(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  checkAnyBytes('hmacSha256 key', key);
  const mac = createHmac('sha256', key);
  data.forEach((d, i) => {
    checkAnyBytes(`hmacSha256 data ${i}`, d);
    mac.update(d);
  });
  return copyOut(mac.digest());
}

/** RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM), 32 bytes. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  checkAnyBytes('hkdfExtract salt', salt);
  checkAnyBytes('hkdfExtract ikm', ikm);
  return hmacSha256(salt, ikm);
}

/** RFC 5869 §2.3: OKM = T(1) || T(2) || ... truncated to `length` bytes (1..8160). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array | string, length: number): Uint8Array {
  checkBytes('hkdfExpand prk', prk, HKDF_HASH_BYTES);
  const infoB = infoBytes('hkdfExpand info', info);
  checkInt('hkdfExpand length', length, 1, HKDF_MAX_OUTPUT_BYTES);
  const okm = new Uint8Array(length);
  const counter = new Uint8Array(1);
  let prev: Uint8Array = new Uint8Array(0);
  let at = 0;
  try {
    for (let i = 1; at < length; i++) {
      counter[0] = i; // RFC 5869 §2.3: T(i) = HMAC(PRK, T(i-1) || info || i)
      const t = hmacSha256(prk, prev, infoB, counter);
      wipe(prev);
      prev = t;
      const take = Math.min(t.length, length - at);
      okm.set(t.subarray(0, take), at);
      at += take;
    }
  } finally {
    wipe(prev);
  }
  return okm;
}

/** RFC 5869 HKDF-SHA-256: Expand(Extract(salt, ikm), info, length), length 1..8160. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length: number): Uint8Array {
  checkAnyBytes('hkdf ikm', ikm);
  checkAnyBytes('hkdf salt', salt);
  const infoB = infoBytes('hkdf info', info);
  checkInt('hkdf length', length, 1, HKDF_MAX_OUTPUT_BYTES);
  const okm = new Uint8Array(hkdfSync('sha256', ikm, salt, infoB, length));
  return okm;
}
