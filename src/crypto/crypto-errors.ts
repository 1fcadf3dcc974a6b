/**
 * Stable error codes thrown by crypto (docs/conventions.md §9), as
 * CryptoError except PQ_BACKEND (a ConfigError). Callers branch on
 * `err.code`, never on the text; a code, once shipped, is never reused for
 * another meaning.
 */

export const CryptoCode = Object.freeze({
  /** A byte argument has the wrong length (or is not a Uint8Array at all). */
  LENGTH: 'SM_ERR_CRYPTO_LENGTH',
  /** An argument has the wrong type or an out-of-range value (not a length problem). */
  ARG: 'SM_ERR_CRYPTO_ARG',
  /** A hex string that does not decode. */
  HEX: 'SM_ERR_CRYPTO_HEX',
  /** A key encapsulation failed: invalid public key, all-zero X25519 result. */
  KEM: 'SM_ERR_CRYPTO_KEM',
  /** A sealer has used every counter it may use. Rekey. */
  COUNTER_EXHAUSTED: 'SM_ERR_CRYPTO_COUNTER_EXHAUSTED',
  /** An object was used after destroy(). */
  DESTROYED: 'SM_ERR_CRYPTO_DESTROYED',
  /** A signing or key operation failed inside the primitive library. */
  INTERNAL: 'SM_ERR_CRYPTO_INTERNAL',
  /** A sealer or opener was asked for the native AEAD addon, which is not built or does not load. */
  NATIVE_UNAVAILABLE: 'SM_ERR_CRYPTO_NATIVE_UNAVAILABLE',
  /** ConfigError: an unknown or unavailable post-quantum backend. */
  PQ_BACKEND: 'SM_ERR_CONFIG_PQ_BACKEND',
} as const);
export type CryptoCode = (typeof CryptoCode)[keyof typeof CryptoCode];
