import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import {
  HYBRID_KEM_CIPHERTEXT_BYTES,
  HYBRID_KEM_ENCAPS_SEED_BYTES,
  HYBRID_KEM_LABEL,
  HYBRID_KEM_PUBLIC_BYTES,
  HYBRID_KEM_SEED_BYTES,
  HYBRID_KEM_SHARED_BYTES,
  hybridEncapsulate,
  HybridKemKeyPair,
  hybridKemCombine,
} from '../../src/crypto/hybrid-kem.js';
import { getPqBackend } from '../../src/crypto/pq-backend.js';
import { concatBytes, fromHex, randomBytes, toHex, utf8 } from '../../src/crypto/bytes.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

function flip(b: Uint8Array, bit: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

// RFC 7748 §6.1: Alice's and Bob's X25519 keys and their shared secret.
const ALICE_PRIV = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PUB = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_PRIV = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb';
const BOB_PUB = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const X25519_SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
const MLKEM_SEED = '42'.repeat(64);
const M = '17'.repeat(32);

const KEY_SEED = fromHex(ALICE_PRIV + MLKEM_SEED);
const ENC_SEED = fromHex(BOB_PRIV + M);
const alice = HybridKemKeyPair.generate(KEY_SEED);

test('sizes and label', () => {
  assert.equal(HYBRID_KEM_PUBLIC_BYTES, 1600);
  assert.equal(HYBRID_KEM_CIPHERTEXT_BYTES, 1600);
  assert.equal(HYBRID_KEM_SEED_BYTES, 96);
  assert.equal(HYBRID_KEM_ENCAPS_SEED_BYTES, 64);
  assert.equal(HYBRID_KEM_SHARED_BYTES, 32);
  assert.equal(HYBRID_KEM_LABEL, 'shadowmesh-hybrid-kem-v1');
});

test('combiner: SHA3-256(ss_mlkem || ss_x25519 || ct_mlkem || ct_x25519 || ek_mlkem || ek_x25519 || label), RFC 7748 keys', () => {
  assert.equal(toHex(alice.publicKey.subarray(0, 32)), ALICE_PUB);
  const ekMlkem = getPqBackend().mlkemKeygen(fromHex(MLKEM_SEED)).publicKey;
  assert.deepEqual(alice.publicKey.subarray(32), ekMlkem);

  const { cipherText, sharedSecret } = hybridEncapsulate(alice.publicKey, ENC_SEED);
  assert.equal(toHex(cipherText.subarray(0, 32)), BOB_PUB, 'x25519 ciphertext is the ephemeral public key');
  const pq = getPqBackend().mlkemEncapsulate(ekMlkem, fromHex(M));
  assert.deepEqual(cipherText.subarray(32), pq.cipherText);

  const expected = createHash('sha3-256')
    .update(pq.sharedSecret)
    .update(fromHex(X25519_SHARED))
    .update(pq.cipherText)
    .update(fromHex(BOB_PUB))
    .update(ekMlkem)
    .update(fromHex(ALICE_PUB))
    .update(utf8('shadowmesh-hybrid-kem-v1'))
    .digest();
  assert.equal(toHex(sharedSecret), expected.toString('hex'));
  assert.deepEqual(alice.decapsulate(cipherText), sharedSecret);
  assert.deepEqual(
    hybridKemCombine(pq.sharedSecret, fromHex(X25519_SHARED), pq.cipherText, fromHex(BOB_PUB), ekMlkem, fromHex(ALICE_PUB)),
    sharedSecret,
  );
  assert.equal(toHex(ENC_SEED), BOB_PRIV + M, 'seed unchanged');
  assert.equal(toHex(KEY_SEED), ALICE_PRIV + MLKEM_SEED, 'seed unchanged');
});

test('random round trip; every ciphertext or key change gives another secret', () => {
  const kp = HybridKemKeyPair.generate();
  const pub = Uint8Array.from(kp.publicKey);
  const e = hybridEncapsulate(kp.publicKey);
  assert.equal(e.cipherText.length, 1600);
  assert.equal(e.sharedSecret.length, 32);
  const ct = Uint8Array.from(e.cipherText);
  assert.deepEqual(kp.decapsulate(e.cipherText), e.sharedSecret);
  assert.deepEqual(e.cipherText, ct, 'ciphertext unchanged');
  assert.deepEqual(kp.publicKey, pub, 'public key unchanged');
  assert.notDeepEqual(kp.decapsulate(flip(ct, 5)), e.sharedSecret, 'x25519 part flipped');
  assert.notDeepEqual(kp.decapsulate(flip(ct, 32 * 8 + 900)), e.sharedSecret, 'ml-kem part flipped');
  assert.notDeepEqual(alice.decapsulate(ct), e.sharedSecret, 'wrong key pair');
  const e2 = hybridEncapsulate(kp.publicKey);
  assert.notDeepEqual(e2.cipherText, e.cipherText);
  assert.notDeepEqual(e2.sharedSecret, e.sharedSecret);
  // deterministic with a seed, and each half of the seed matters
  const s = randomBytes(64);
  assert.deepEqual(hybridEncapsulate(kp.publicKey, s), hybridEncapsulate(kp.publicKey, s));
  // bit 8, not 0..2: X25519 clamping clears the three low bits of the private key (RFC 7748 §5)
  assert.notDeepEqual(hybridEncapsulate(kp.publicKey, flip(s, 8)).sharedSecret, hybridEncapsulate(kp.publicKey, s).sharedSecret, 'x25519 half');
  assert.notDeepEqual(hybridEncapsulate(kp.publicKey, flip(s, 300)).sharedSecret, hybridEncapsulate(kp.publicKey, s).sharedSecret, 'ml-kem half');
  // mutating the exposed publicKey does not change what decapsulate binds
  kp.publicKey.fill(0);
  assert.deepEqual(kp.decapsulate(ct), e.sharedSecret);
});

// Low-order X25519 points (RFC 7748 §7 / cr.yp.to/ecdh.html): 0, 1 and a point of order 8.
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
];

test('low-order X25519 points are rejected with SM_ERR_CRYPTO_KEM', () => {
  const good = hybridEncapsulate(alice.publicKey).cipherText;
  for (const p of LOW_ORDER) {
    const ct = concatBytes(fromHex(p), good.subarray(32));
    throwsWithCode(() => alice.decapsulate(ct), 'SM_ERR_CRYPTO_KEM', /decapsulate cipherText/);
    const pub = concatBytes(fromHex(p), alice.publicKey.subarray(32));
    throwsWithCode(() => hybridEncapsulate(pub), 'SM_ERR_CRYPTO_KEM', /hybridEncapsulate publicKey/);
  }
});

test('an invalid ML-KEM encapsulation key is rejected with SM_ERR_CRYPTO_KEM', () => {
  const pub = concatBytes(alice.publicKey.subarray(0, 32), new Uint8Array(1568).fill(0xff));
  throwsWithCode(() => hybridEncapsulate(pub), 'SM_ERR_CRYPTO_KEM', /mlkemEncapsulate publicKey/);
});

test('wrong lengths throw and name the argument', () => {
  throwsWithCode(() => hybridEncapsulate(new Uint8Array(1599)), 'SM_ERR_CRYPTO_LENGTH', /hybridEncapsulate publicKey: expected 1600 bytes, got 1599/);
  throwsWithCode(() => hybridEncapsulate(alice.publicKey, new Uint8Array(63)), 'SM_ERR_CRYPTO_LENGTH', /hybridEncapsulate seed: expected 64 bytes, got 63/);
  throwsWithCode(() => alice.decapsulate(new Uint8Array(1601)), 'SM_ERR_CRYPTO_LENGTH', /decapsulate cipherText: expected 1600 bytes, got 1601/);
  throwsWithCode(() => HybridKemKeyPair.generate(new Uint8Array(95)), 'SM_ERR_CRYPTO_LENGTH', /HybridKemKeyPair seed: expected 96 bytes, got 95/);
  throwsWithCode(() => hybridKemCombine(new Uint8Array(31), new Uint8Array(32), new Uint8Array(1568), new Uint8Array(32), new Uint8Array(1568), new Uint8Array(32)), 'SM_ERR_CRYPTO_LENGTH', /ssMlkem/);
});

test('destroy blocks later use', () => {
  const kp = HybridKemKeyPair.generate(KEY_SEED);
  const { cipherText } = hybridEncapsulate(kp.publicKey);
  kp.destroy();
  kp.destroy();
  throwsWithCode(() => kp.decapsulate(cipherText), 'SM_ERR_CRYPTO_DESTROYED');
  assert.equal(toHex(KEY_SEED), ALICE_PRIV + MLKEM_SEED, 'caller seed not wiped');
});
