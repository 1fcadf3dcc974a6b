/**
 * Argument checks shared by the crypto package (docs/conventions.md §6, §9).
 *
 * Every public crypto function checks types and lengths before doing any work,
 * and its messages name the argument: `aead key: expected 32 bytes, got 31`.
 * Their codes are CryptoCode's (crypto-errors.ts): callers branch on `err.code`, never on the text.
 */

import { CryptoError } from '../errors.js';
import { CryptoCode } from './crypto-errors.js';


/** Throws unless `value` is a Uint8Array of exactly `expected` bytes. */
export function checkBytes(name: string, value: unknown, expected: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError(CryptoCode.LENGTH, `${name}: expected ${expected} bytes, got ${describe(value)}`);
  }
  if (value.length !== expected) {
    throw new CryptoError(CryptoCode.LENGTH, `${name}: expected ${expected} bytes, got ${value.length}`);
  }
}

/** Throws unless `value` is a Uint8Array (any length). */
export function checkAnyBytes(name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError(CryptoCode.LENGTH, `${name}: expected a Uint8Array, got ${describe(value)}`);
  }
}

/** Throws unless `value` is an integer in [min, max]. */
export function checkInt(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new CryptoError(CryptoCode.ARG, `${name}: expected an integer in ${min}..${max}, got ${String(value)}`);
  }
}

/** Throws CryptoError SM_ERR_CRYPTO_DESTROYED when `destroyed` is set. */
export function checkAlive(what: string, destroyed: boolean): void {
  if (destroyed) throw new CryptoError(CryptoCode.DESTROYED, `${what}: used after destroy()`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof ArrayBuffer) return 'an ArrayBuffer';
  return typeof value === 'object' ? `a ${(value as object).constructor?.name ?? 'object'}` : typeof value;
}
