// Checks our ML-KEM-1024 / ML-DSA-87 backends against vectors produced by
// OpenSSL 3.5 (test/vectors/generate-pq.mjs, see test/vectors/SOURCES.md).
// Under Node 20 this compares @noble/post-quantum with OpenSSL: two
// independent implementations agreeing on every byte.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { getPqBackend, nativePqAvailable, type PqBackend } from '../../src/crypto/pq-backend.js';
import { fromHex, sha256, toHex, utf8 } from '../../src/crypto/bytes.js';
import { readVectors } from '../../testkit/vector-files.js';

interface KemVectors {
  keys: Array<{ seed: string; ekSha256: string; dkSha256: string }>;
  fullEk: { key: number; ek: string };
  encapsulations: Array<{ key: number; ct: string; sharedSecret: string }>;
  fixedCiphertexts: Array<{ key: number; ctShake256Label: string; ctSha256: string; sharedSecret: string }>;
  tampered: { key: number; fromEncapsulation: number; byte: number; mask: number; sharedSecret: string };
}
interface DsaVectors {
  keys: Array<{ seed: string; pkSha256: string; skSha256: string }>;
  fullPk: { key: number; pk: string };
  signatures: Array<{ key: number; message: string; signature: string }>;
}

const kem = readVectors<KemVectors>('mlkem1024.json');
const dsa = readVectors<DsaVectors>('mldsa87.json');

function shake256(label: string, n: number): Uint8Array {
  return Uint8Array.from(createHash('shake256', { outputLength: n }).update(utf8(label)).digest());
}

function key(i: number): { seed: string; ekSha256: string; dkSha256: string } {
  const k = kem.keys[i];
  assert.ok(k, `vector key ${i}`);
  return k;
}

test('vector files have the expected shape', () => {
  assert.equal(kem.keys.length, 4);
  assert.equal(kem.encapsulations.length, 2);
  assert.equal(kem.fixedCiphertexts.length, 3);
  assert.equal(dsa.keys.length, 4);
  assert.equal(dsa.signatures.length, 3);
  assert.equal(fromHex(kem.fullEk.ek).length, 1568);
  assert.equal(fromHex(dsa.fullPk.pk).length, 2592);
});

test('noble ML-KEM-1024 keygen matches OpenSSL: encapsulation and expanded decapsulation keys', () => {
  for (const k of kem.keys) {
    const { publicKey, secretKey } = ml_kem1024.keygen(fromHex(k.seed));
    assert.equal(toHex(sha256(publicKey)), k.ekSha256);
    assert.equal(toHex(sha256(secretKey)), k.dkSha256);
  }
  assert.equal(toHex(ml_kem1024.keygen(fromHex(key(kem.fullEk.key).seed)).publicKey), kem.fullEk.ek);
});

test('noble ML-DSA-87 keygen matches OpenSSL: public and expanded private keys', () => {
  for (const k of dsa.keys) {
    const { publicKey, secretKey } = ml_dsa87.keygen(fromHex(k.seed));
    assert.equal(toHex(sha256(publicKey)), k.pkSha256);
    assert.equal(toHex(sha256(secretKey)), k.skSha256);
  }
});

const backends: PqBackend[] = [getPqBackend('noble')];
if (nativePqAvailable()) backends.push(getPqBackend('node'));

for (const b of backends) {
  test(`${b.name} backend: keygen from the vector seeds`, () => {
    for (const k of kem.keys) assert.equal(toHex(sha256(b.mlkemKeygen(fromHex(k.seed)).publicKey)), k.ekSha256);
    assert.equal(toHex(b.mlkemKeygen(fromHex(key(kem.fullEk.key).seed)).publicKey), kem.fullEk.ek);
    for (const k of dsa.keys) assert.equal(toHex(sha256(b.mldsaKeygen(fromHex(k.seed)).publicKey)), k.pkSha256);
    const pk0 = dsa.keys[dsa.fullPk.key];
    assert.ok(pk0);
    assert.equal(toHex(b.mldsaKeygen(fromHex(pk0.seed)).publicKey), dsa.fullPk.pk);
  });

  test(`${b.name} backend: decapsulates OpenSSL ciphertexts to OpenSSL's secrets, implicit rejection included`, () => {
    const sks = kem.keys.map((k) => b.mlkemKeygen(fromHex(k.seed)).secretKey);
    for (const e of kem.encapsulations) {
      assert.equal(toHex(b.mlkemDecapsulate(fromHex(e.ct), sks[e.key])), e.sharedSecret);
    }
    for (const f of kem.fixedCiphertexts) {
      const ct = shake256(f.ctShake256Label, 1568);
      assert.equal(toHex(sha256(ct)), f.ctSha256, 'fixed ciphertext derivation');
      assert.equal(toHex(b.mlkemDecapsulate(ct, sks[f.key])), f.sharedSecret);
    }
    const t = kem.tampered;
    const src = kem.encapsulations[t.fromEncapsulation];
    assert.ok(src);
    const ct = fromHex(src.ct);
    ct[t.byte]! ^= t.mask;
    const ss = b.mlkemDecapsulate(ct, sks[t.key]);
    assert.equal(toHex(ss), t.sharedSecret);
    assert.notEqual(toHex(ss), src.sharedSecret);
    // a ciphertext for key 0 under key 1 gives neither secret
    const e0 = kem.encapsulations[0];
    assert.ok(e0);
    assert.notEqual(toHex(b.mlkemDecapsulate(fromHex(e0.ct), sks[1])), e0.sharedSecret);
  });

  test(`${b.name} backend: OpenSSL ML-DSA-87 signatures verify; flipped bits and wrong messages do not`, () => {
    const pks = dsa.keys.map((k) => b.mldsaKeygen(fromHex(k.seed)).publicKey);
    for (const s of dsa.signatures) {
      const pk = pks[s.key];
      assert.ok(pk);
      const msg = fromHex(s.message);
      const sig = fromHex(s.signature);
      assert.equal(sig.length, 4627);
      assert.equal(b.mldsaVerify(pk, msg, sig), true);
      for (const bit of [0, 8 * 64 + 3, 8 * 4626 + 7]) {
        const bad = Uint8Array.from(sig);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(b.mldsaVerify(pk, msg, bad), false, `flipped bit ${bit}`);
      }
      const otherMsg = msg.length ? Uint8Array.from(msg) : Uint8Array.of(0);
      if (msg.length) otherMsg[0]! ^= 1;
      assert.equal(b.mldsaVerify(pk, otherMsg, sig), false, 'other message');
      const otherPk = pks[(s.key + 1) % pks.length];
      assert.ok(otherPk);
      assert.equal(b.mldsaVerify(otherPk, msg, sig), false, 'other key');
    }
  });
}
