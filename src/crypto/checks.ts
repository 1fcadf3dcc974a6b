/**
 * Argument checks and error codes shared by the crypto package (docs/conventions.md §6, §9).
 *
 * Every public crypto function checks types and lengths before doing any work,
 * and its messages name the argument: `aead key: expected 32 bytes, got 31`.
 * The codes below are stable: callers branch on `err.code`, never on the text.
 */

import { CryptoError } from '../errors.js';

/** A byte argument has the wrong length (or is not a Uint8Array at all). */
export const SM_ERR_CRYPTO_LENGTH = 'SM_ERR_CRYPTO_LENGTH';
/** An argument has the wrong type or an out-of-range value (not a length problem). */
export const SM_ERR_CRYPTO_ARG = 'SM_ERR_CRYPTO_ARG';
/** A hex string that does not decode. */
export const SM_ERR_CRYPTO_HEX = 'SM_ERR_CRYPTO_HEX';
/** A key encapsulation failed: invalid public key, all-zero X25519 result. */
export const SM_ERR_CRYPTO_KEM = 'SM_ERR_CRYPTO_KEM';
/** A sealer has used every counter it may use. Rekey. */
export const SM_ERR_CRYPTO_COUNTER_EXHAUSTED = 'SM_ERR_CRYPTO_COUNTER_EXHAUSTED';
/** An object was used after destroy(). */
export const SM_ERR_CRYPTO_DESTROYED = 'SM_ERR_CRYPTO_DESTROYED';
/** A signing or key operation failed inside the primitive library. */
export const SM_ERR_CRYPTO_INTERNAL = 'SM_ERR_CRYPTO_INTERNAL';

/** Throws unless `value` is a Uint8Array of exactly `expected` bytes. */
export function checkBytes(name: string, value: unknown, expected: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError(SM_ERR_CRYPTO_LENGTH, `${name}: expected ${expected} bytes, got ${describe(value)}`);
  }
  if (value.length !== expected) {
    throw new CryptoError(SM_ERR_CRYPTO_LENGTH, `${name}: expected ${expected} bytes, got ${value.length}`);
  }
}

/** Throws unless `value` is a Uint8Array (any length). */
export function checkAnyBytes(name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError(SM_ERR_CRYPTO_LENGTH, `${name}: expected a Uint8Array, got ${describe(value)}`);
  }
}

/** Throws unless `value` is an integer in [min, max]. */
export function checkInt(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new CryptoError(SM_ERR_CRYPTO_ARG, `${name}: expected an integer in ${min}..${max}, got ${String(value)}`);
  }
}

/** Throws CryptoError SM_ERR_CRYPTO_DESTROYED when `destroyed` is set. */
export function checkAlive(what: string, destroyed: boolean): void {
  if (destroyed) throw new CryptoError(SM_ERR_CRYPTO_DESTROYED, `${what}: used after destroy()`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof ArrayBuffer) return 'an ArrayBuffer';
  return typeof value === 'object' ? `a ${(value as object).constructor?.name ?? 'object'}` : typeof value;
}
