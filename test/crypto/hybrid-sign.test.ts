import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { sign as edSign, verify as edVerify } from 'node:crypto';
import {
  ED25519_PUBLIC_BYTES,
  ED25519_SIGNATURE_BYTES,
  HYBRID_SIGN_PUBLIC_BYTES,
  HYBRID_SIGN_SEED_BYTES,
  HYBRID_SIGNATURE_BYTES,
  hybridSignedMessage,
  HybridSigner,
  hybridVerify,
  MLDSA87_PUBLIC_BYTES,
  MLDSA87_SIGNATURE_BYTES,
} from '../../src/crypto/hybrid-sign.js';
import { getPqBackend } from '../../src/crypto/pq-backend.js';
import { concatBytes, fromHex, toHex, utf8 } from '../../src/crypto/bytes.js';
import { privateKeyFromSeed, publicKeyFromRaw } from '../../src/crypto/ed-x-keys.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

function flip(b: Uint8Array, bit: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

// RFC 8032 §7.1 TEST 1: Ed25519 secret key and its public key.
const RFC8032_SK = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_PK = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const XI = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const SEED = fromHex(RFC8032_SK + XI);

const signer = HybridSigner.fromSeed(SEED);
const MSG = utf8('member certificate body');
const SIG = signer.sign('member-cert', MSG);

test('sizes add up to the wire protocol sizes', () => {
  assert.equal(HYBRID_SIGN_PUBLIC_BYTES, ED25519_PUBLIC_BYTES + MLDSA87_PUBLIC_BYTES);
  assert.equal(HYBRID_SIGN_PUBLIC_BYTES, 2624);
  assert.equal(HYBRID_SIGNATURE_BYTES, ED25519_SIGNATURE_BYTES + MLDSA87_SIGNATURE_BYTES);
  assert.equal(HYBRID_SIGNATURE_BYTES, 4691);
  assert.equal(HYBRID_SIGN_SEED_BYTES, 64);
  assert.equal(signer.publicKey.length, 2624);
  assert.equal(SIG.length, 4691);
});

test('public key = Ed25519 public (RFC 8032 test 1) || ML-DSA-87 public from xi', () => {
  assert.equal(toHex(signer.publicKey.subarray(0, 32)), RFC8032_PK);
  assert.deepEqual(signer.publicKey.subarray(32), getPqBackend().mldsaKeygen(fromHex(XI)).publicKey);
  assert.deepEqual(HybridSigner.fromSeed(SEED).publicKey, signer.publicKey, 'fromSeed is deterministic');
  assert.equal(toHex(SEED), RFC8032_SK + XI, 'seed unchanged');
});

test('both halves sign the domain-separated message', () => {
  const m = hybridSignedMessage('member-cert', MSG);
  assert.deepEqual(m, concatBytes(utf8('shadowmesh-sig-v1'), Uint8Array.of(0, 11), utf8('member-cert'), MSG));
  // Ed25519 is deterministic (RFC 8032): the first half is exactly node's Ed25519 signature of m.
  const ed = edSign(null, m, privateKeyFromSeed('ed25519', fromHex(RFC8032_SK)));
  assert.deepEqual(SIG.subarray(0, 64), Uint8Array.from(ed));
  assert.equal(edVerify(null, MSG, publicKeyFromRaw('ed25519', fromHex(RFC8032_PK)), SIG.subarray(0, 64)), false, 'not over the bare message');
  assert.equal(getPqBackend().mldsaVerify(signer.publicKey.subarray(32), m, SIG.subarray(64)), true);
});

test('verify accepts the signature and rejects every change', () => {
  assert.equal(hybridVerify(signer.publicKey, 'member-cert', MSG, SIG), true);
  assert.equal(hybridVerify(signer.publicKey, 'relay-auth', MSG, SIG), false, 'other context');
  assert.equal(hybridVerify(signer.publicKey, 'member-cert', utf8('member certificate bodY'), SIG), false, 'other message');
  assert.equal(hybridVerify(signer.publicKey, 'member-cert', MSG, flip(SIG, 7)), false, 'flipped Ed25519 bit');
  assert.equal(hybridVerify(signer.publicKey, 'member-cert', MSG, flip(SIG, 64 * 8 + 1000)), false, 'flipped ML-DSA bit');
  assert.equal(hybridVerify(flip(signer.publicKey, 3), 'member-cert', MSG, SIG), false, 'flipped Ed25519 key bit');
  assert.equal(hybridVerify(flip(signer.publicKey, 32 * 8 + 77), 'member-cert', MSG, SIG), false, 'flipped ML-DSA key bit');
  const other = HybridSigner.generate();
  assert.equal(hybridVerify(other.publicKey, 'member-cert', MSG, SIG), false, 'wrong key');
  assert.equal(hybridVerify(signer.publicKey, 'member-cert', MSG, new Uint8Array(4691)), false, 'all zero');
  // context/message framing: moving a byte between context and message must not verify
  const sig2 = signer.sign('ab', utf8('c'));
  assert.equal(hybridVerify(signer.publicKey, 'a', utf8('bc'), sig2), false);
  other.destroy();
});

test('a signature valid for only one algorithm is rejected', () => {
  const otherSig = signer.sign('member-cert', utf8('another message'));
  const m = hybridSignedMessage('member-cert', MSG);
  // Ed25519 half valid, ML-DSA half zeroed or from another message
  const edOnlyZero = concatBytes(SIG.subarray(0, 64), new Uint8Array(4627));
  const edOnlyOther = concatBytes(SIG.subarray(0, 64), otherSig.subarray(64));
  // ML-DSA half valid, Ed25519 half zeroed or from another message
  const pqOnlyZero = concatBytes(new Uint8Array(64), SIG.subarray(64));
  const pqOnlyOther = concatBytes(otherSig.subarray(0, 64), SIG.subarray(64));
  const edPub = publicKeyFromRaw('ed25519', signer.publicKey.subarray(0, 32));
  assert.equal(edVerify(null, m, edPub, edOnlyOther.subarray(0, 64)), true, 'Ed25519 half on its own is valid');
  assert.equal(getPqBackend().mldsaVerify(signer.publicKey.subarray(32), m, pqOnlyOther.subarray(64)), true);
  for (const [name, s] of Object.entries({ edOnlyZero, edOnlyOther, pqOnlyZero, pqOnlyOther })) {
    assert.equal(hybridVerify(signer.publicKey, 'member-cert', MSG, s), false, name);
  }
});

test('rnd: omitted is hedged, 32 zero bytes is deterministic; both verify', () => {
  const zero = new Uint8Array(32);
  const d1 = signer.sign('peer-resp', MSG, zero);
  const d2 = signer.sign('peer-resp', MSG, zero);
  assert.deepEqual(d1, d2);
  assert.notDeepEqual(signer.sign('peer-resp', MSG).subarray(64), d1.subarray(64));
  assert.equal(hybridVerify(signer.publicKey, 'peer-resp', MSG, d1), true);
});

test('context must be 1..64 printable ASCII characters', () => {
  for (const bad of ['', 'x'.repeat(65), 'peer\nresp', 'clé', 5 as unknown as string]) {
    throwsWithCode(() => signer.sign(bad, MSG), 'SM_ERR_CRYPTO_ARG', /context/);
    throwsWithCode(() => hybridVerify(signer.publicKey, bad, MSG, SIG), 'SM_ERR_CRYPTO_ARG', /hybridVerify context/);
  }
  const long = 'x'.repeat(64);
  assert.equal(hybridVerify(signer.publicKey, long, MSG, signer.sign(long, MSG)), true);
});

test('wrong lengths throw and name the argument', () => {
  throwsWithCode(() => hybridVerify(new Uint8Array(2623), 'a', MSG, SIG), 'SM_ERR_CRYPTO_LENGTH', /hybridVerify publicKey: expected 2624 bytes, got 2623/);
  throwsWithCode(() => hybridVerify(signer.publicKey, 'a', MSG, new Uint8Array(4690)), 'SM_ERR_CRYPTO_LENGTH', /hybridVerify signature: expected 4691 bytes, got 4690/);
  throwsWithCode(() => hybridVerify(signer.publicKey, 'a', 'm' as unknown as Uint8Array, SIG), 'SM_ERR_CRYPTO_LENGTH', /hybridVerify message/);
  throwsWithCode(() => HybridSigner.fromSeed(new Uint8Array(32)), 'SM_ERR_CRYPTO_LENGTH', /HybridSigner seed: expected 64 bytes, got 32/);
  throwsWithCode(() => signer.sign('a', MSG, new Uint8Array(31)), 'SM_ERR_CRYPTO_LENGTH', /HybridSigner.sign rnd: expected 32 bytes, got 31/);
  throwsWithCode(() => signer.sign('a', null as unknown as Uint8Array), 'SM_ERR_CRYPTO_LENGTH', /HybridSigner.sign message/);
});

test('exportSeed returns a copy; publicKey is a copy; destroy wipes and blocks', () => {
  const s = HybridSigner.fromSeed(SEED);
  const seed = s.exportSeed();
  assert.deepEqual(seed, SEED);
  seed.fill(0);
  assert.deepEqual(s.exportSeed(), SEED);
  s.publicKey.fill(0);
  assert.equal(hybridVerify(signer.publicKey, 'x', MSG, s.sign('x', MSG)), true, 'mutating publicKey does not affect signing');
  s.destroy();
  s.destroy();
  throwsWithCode(() => s.sign('x', MSG), 'SM_ERR_CRYPTO_DESTROYED');
  throwsWithCode(() => s.exportSeed(), 'SM_ERR_CRYPTO_DESTROYED');
  const g1 = HybridSigner.generate();
  const g2 = HybridSigner.generate();
  assert.notDeepEqual(g1.publicKey, g2.publicKey);
  assert.equal(hybridVerify(g1.publicKey, 'x', MSG, g1.sign('x', MSG)), true);
});
