/**
 * Raw 32-byte Ed25519 (RFC 8032) and X25519 (RFC 7748) keys to and from
 * node:crypto KeyObjects, through their fixed DER encodings (RFC 8410).
 *
 * node:crypto in Node 20 imports raw curve keys only as DER or JWK; the DER
 * forms of these keys are a fixed prefix followed by the 32 key bytes, so the
 * conversion is a concatenation, checked on the way out.
 *
 * Callers must know: privateKeyFromSeed copies the seed into a temporary DER
 * buffer that it wipes; the KeyObject itself lives in OpenSSL memory.
 */

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CryptoError } from '../errors.js';
import { CryptoCode } from './crypto-errors.js';
import { concatBytes, copyOut, wipe } from './bytes.js';

export type CurveName = 'ed25519' | 'x25519';

/** Raw key length of both curves. */
export const CURVE25519_KEY_BYTES = 32;

// RFC 8410 §7 / §10: OneAsymmetricKey with a CurvePrivateKey OCTET STRING, and SubjectPublicKeyInfo.
// OIDs id-Ed25519 1.3.101.112 (2b 65 70), id-X25519 1.3.101.110 (2b 65 6e).
const PKCS8_PREFIX: Record<CurveName, Buffer> = {
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
};
const SPKI_PREFIX: Record<CurveName, Buffer> = {
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
  x25519: Buffer.from('302a300506032b656e032100', 'hex'),
};

/** A private KeyObject from a 32-byte seed (Ed25519) or scalar (X25519; OpenSSL clamps it). */
export function privateKeyFromSeed(curve: CurveName, seed: Uint8Array): KeyObject {
  const der = concatBytes(PKCS8_PREFIX[curve], seed);
  try {
    return createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.length), format: 'der', type: 'pkcs8' });
  } finally {
    wipe(der);
  }
}

/** A public KeyObject from 32 raw bytes. Throws when OpenSSL rejects the encoding. */
export function publicKeyFromRaw(curve: CurveName, raw: Uint8Array): KeyObject {
  const der = concatBytes(SPKI_PREFIX[curve], raw);
  return createPublicKey({ key: Buffer.from(der.buffer, der.byteOffset, der.length), format: 'der', type: 'spki' });
}

/** The 32 raw public key bytes of a private or public KeyObject. */
export function rawPublicKey(curve: CurveName, key: KeyObject): Uint8Array {
  const der = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  const prefix = SPKI_PREFIX[curve];
  if (der.length !== prefix.length + CURVE25519_KEY_BYTES || !der.subarray(0, prefix.length).equals(prefix)) {
    throw new CryptoError(CryptoCode.INTERNAL, `${curve}: unexpected SPKI encoding from node:crypto`);
  }
  return copyOut(der.subarray(prefix.length));
}
