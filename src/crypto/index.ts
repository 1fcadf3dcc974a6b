/**
 * The crypto package (docs/conventions.md §6): hybrid KEM (X25519 + ML-KEM-1024), hybrid
 * signatures (Ed25519 + ML-DSA-87), AEAD with counter nonces, HKDF-SHA-256 and
 * byte helpers. Wrappers and combiners only; primitives come from node:crypto
 * and @noble/post-quantum. No I/O. Imports nothing of ours but src/errors.ts.
 */

export * from './bytes.js';
export * from './checks.js';
export * from './hkdf.js';
export * from './aead.js';
export * from './pq-backend.js';
export * from './hybrid-sign.js';
export * from './hybrid-kem.js';
