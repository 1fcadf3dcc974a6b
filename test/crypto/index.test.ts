import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as crypto from '../../src/crypto/index.js';

test('index re-exports the whole crypto API', () => {
  const functions = [
    'wipe', 'equalBytes', 'concatBytes', 'randomBytes', 'sha256', 'toHex', 'fromHex', 'utf8',
    'nativePqAvailable', 'getPqBackend',
    'hybridVerify', 'hybridEncapsulate',
    'hkdf', 'hkdfExtract', 'hkdfExpand', 'hmacSha256',
    'aeadSealRaw', 'aeadOpenRaw',
    'HybridSigner', 'HybridKemKeyPair', 'AeadSealer', 'AeadOpener',
  ] as const;
  for (const name of functions) assert.equal(typeof crypto[name], 'function', name);
  const numbers: Record<string, number> = {
    ED25519_PUBLIC_BYTES: 32, MLDSA87_PUBLIC_BYTES: 2592, HYBRID_SIGN_PUBLIC_BYTES: 2624,
    ED25519_SIGNATURE_BYTES: 64, MLDSA87_SIGNATURE_BYTES: 4627, HYBRID_SIGNATURE_BYTES: 4691, HYBRID_SIGN_SEED_BYTES: 64,
    X25519_BYTES: 32, MLKEM1024_PUBLIC_BYTES: 1568, MLKEM1024_CIPHERTEXT_BYTES: 1568,
    HYBRID_KEM_PUBLIC_BYTES: 1600, HYBRID_KEM_CIPHERTEXT_BYTES: 1600, HYBRID_KEM_SEED_BYTES: 96,
    HYBRID_KEM_ENCAPS_SEED_BYTES: 64, HYBRID_KEM_SHARED_BYTES: 32,
    AEAD_KEY_BYTES: 32, AEAD_NONCE_BYTES: 12, AEAD_TAG_BYTES: 16,
  };
  const exported = crypto as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(numbers)) assert.equal(exported[name], value, name);
  assert.equal(crypto.REJECT_AFTER_MESSAGES, 2n ** 64n - 2n ** 13n - 1n);
  assert.equal(crypto.HYBRID_KEM_LABEL, 'shadowmesh-hybrid-kem-v1');
});
