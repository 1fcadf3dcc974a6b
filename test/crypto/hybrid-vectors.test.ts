// Regression vectors for our hybrid constructions (test/vectors/hybrid.json,
// self-generated, see SOURCES.md). They pin the combiner, labels and layouts
// on every backend; correctness itself is argued in hybrid-kem.test.ts and
// hybrid-sign.test.ts, which recompute the constructions independently.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { hybridEncapsulate, HybridKemKeyPair } from '../../src/crypto/hybrid-kem.js';
import { HybridSigner, hybridVerify } from '../../src/crypto/hybrid-sign.js';
import { getPqBackend, nativePqAvailable, type PqBackend } from '../../src/crypto/pq-backend.js';
import { fromHex, sha256, toHex } from '../../src/crypto/bytes.js';
import { readVectors } from '../../testkit/vector-files.js';

interface HybridVectors {
  kem: Array<{ keySeed: string; encapsSeed: string; publicKeySha256: string; cipherTextSha256: string; sharedSecret: string }>;
  sign: Array<{
    seed: string;
    context: string;
    message: string;
    rnd: string;
    publicKeySha256: string;
    signatureSha256: string;
    ed25519Signature: string;
  }>;
}

const v = readVectors<HybridVectors>('hybrid.json');
const backends: PqBackend[] = [getPqBackend('noble')];
if (nativePqAvailable()) backends.push(getPqBackend('node'));

for (const b of backends) {
  test(`${b.name}: hybrid KEM regression vectors`, () => {
    assert.equal(v.kem.length, 2);
    for (const k of v.kem) {
      const kp = HybridKemKeyPair.generate(fromHex(k.keySeed), b);
      assert.equal(toHex(sha256(kp.publicKey)), k.publicKeySha256);
      const { cipherText, sharedSecret } = hybridEncapsulate(kp.publicKey, fromHex(k.encapsSeed), b);
      assert.equal(toHex(sha256(cipherText)), k.cipherTextSha256);
      assert.equal(toHex(sharedSecret), k.sharedSecret);
      assert.equal(toHex(kp.decapsulate(cipherText)), k.sharedSecret);
    }
  });

  test(`${b.name}: hybrid signature regression vectors`, () => {
    assert.equal(v.sign.length, 2);
    for (const s of v.sign) {
      const signer = HybridSigner.fromSeed(fromHex(s.seed), b);
      assert.equal(toHex(sha256(signer.publicKey)), s.publicKeySha256);
      const sig = signer.sign(s.context, fromHex(s.message), fromHex(s.rnd));
      assert.equal(toHex(sig.subarray(0, 64)), s.ed25519Signature);
      assert.equal(toHex(sha256(sig)), s.signatureSha256);
      assert.equal(hybridVerify(signer.publicKey, s.context, fromHex(s.message), sig, b), true);
      signer.destroy();
    }
  });
}
