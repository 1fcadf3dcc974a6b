import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as nodeCrypto from 'node:crypto';
import {
  getPqBackend,
  nativePqAvailable,
  PQ_BACKEND_ENV,
  type PqBackend,
  type PqBackendName,
} from '../../src/crypto/pq-backend.js';
import { randomBytes, utf8 } from '../../src/crypto/bytes.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

function flip(b: Uint8Array, bit: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env[PQ_BACKEND_ENV];
  if (value === undefined) delete process.env[PQ_BACKEND_ENV];
  else process.env[PQ_BACKEND_ENV] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[PQ_BACKEND_ENV];
    else process.env[PQ_BACKEND_ENV] = saved;
  }
}

test('nativePqAvailable agrees with what this Node offers', () => {
  const hasKem = typeof (nodeCrypto as unknown as { encapsulate?: unknown }).encapsulate === 'function';
  assert.equal(nativePqAvailable(), hasKem);
});

test('getPqBackend: default, explicit names, environment override, errors', () => {
  const native = nativePqAvailable();
  withEnv(undefined, () => assert.equal(getPqBackend().name, native ? 'node' : 'noble'));
  assert.equal(getPqBackend('noble').name, 'noble');
  withEnv('noble', () => assert.equal(getPqBackend().name, 'noble'));
  withEnv('', () => assert.equal(getPqBackend().name, native ? 'node' : 'noble'));
  withEnv('noble', () => {
    if (native) assert.equal(getPqBackend('node').name, 'node', 'an explicit name wins over the environment');
  });
  withEnv('openssl', () => throwsWithCode(() => getPqBackend(), 'SM_ERR_CONFIG_PQ_BACKEND', /SHADOWMESH_PQ_BACKEND.*"openssl"/));
  throwsWithCode(() => getPqBackend('wasm' as PqBackendName), 'SM_ERR_CONFIG_PQ_BACKEND', /getPqBackend name/);
  if (native) {
    assert.equal(getPqBackend('node').name, 'node');
  } else {
    throwsWithCode(() => getPqBackend('node'), 'SM_ERR_CONFIG_PQ_BACKEND', /Node >= 24/);
    withEnv('node', () => throwsWithCode(() => getPqBackend(), 'SM_ERR_CONFIG_PQ_BACKEND', /SHADOWMESH_PQ_BACKEND/));
    try {
      getPqBackend('node');
    } catch (err) {
      assert.equal((err as Error).name, 'ConfigError');
    }
  }
});

const backends: PqBackend[] = [getPqBackend('noble')];
if (nativePqAvailable()) backends.push(getPqBackend('node'));

for (const b of backends) {
  test(`${b.name}: ML-KEM-1024 keygen, encapsulate, decapsulate`, () => {
    const seed = randomBytes(64);
    const seedCopy = Uint8Array.from(seed);
    const k1 = b.mlkemKeygen(seed);
    assert.deepEqual(seed, seedCopy, 'seed unchanged');
    assert.equal(k1.publicKey.length, 1568);
    assert.deepEqual(b.mlkemKeygen(seed).publicKey, k1.publicKey, 'keygen is deterministic');
    assert.notDeepEqual(b.mlkemKeygen(flip(seed, 0)).publicKey, k1.publicKey, 'd matters');
    const { cipherText, sharedSecret } = b.mlkemEncapsulate(k1.publicKey);
    assert.equal(cipherText.length, 1568);
    assert.equal(sharedSecret.length, 32);
    assert.deepEqual(b.mlkemDecapsulate(cipherText, k1.secretKey), sharedSecret);
    // implicit rejection: a flipped ciphertext or another key gives another secret, no throw
    assert.notDeepEqual(b.mlkemDecapsulate(flip(cipherText, 100), k1.secretKey), sharedSecret);
    const other = b.mlkemKeygen(randomBytes(64));
    assert.notDeepEqual(b.mlkemDecapsulate(cipherText, other.secretKey), sharedSecret);
    // deterministic encapsulation with m
    const m = randomBytes(32);
    const e1 = b.mlkemEncapsulate(k1.publicKey, m);
    const e2 = b.mlkemEncapsulate(k1.publicKey, m);
    assert.deepEqual(e1, e2);
    assert.deepEqual(b.mlkemDecapsulate(e1.cipherText, k1.secretKey), e1.sharedSecret);
    assert.notDeepEqual(b.mlkemEncapsulate(k1.publicKey).cipherText, b.mlkemEncapsulate(k1.publicKey).cipherText);
  });

  test(`${b.name}: ML-KEM-1024 argument checks`, () => {
    const k = b.mlkemKeygen(new Uint8Array(64));
    throwsWithCode(() => b.mlkemKeygen(new Uint8Array(63)), 'SM_ERR_CRYPTO_LENGTH', /mlkemKeygen seed64: expected 64 bytes, got 63/);
    throwsWithCode(() => b.mlkemEncapsulate(new Uint8Array(1567)), 'SM_ERR_CRYPTO_LENGTH', /mlkemEncapsulate publicKey/);
    throwsWithCode(() => b.mlkemEncapsulate(k.publicKey, new Uint8Array(31)), 'SM_ERR_CRYPTO_LENGTH', /mlkemEncapsulate m32/);
    throwsWithCode(() => b.mlkemDecapsulate(new Uint8Array(1569), k.secretKey), 'SM_ERR_CRYPTO_LENGTH', /mlkemDecapsulate cipherText/);
    throwsWithCode(() => b.mlkemDecapsulate(new Uint8Array(1568), new Uint8Array(3168)), 'SM_ERR_CRYPTO_ARG', /mlkemDecapsulate secretKey/);
    // FIPS 203 §7.2 modulus check: 0xff.. encodes coefficients >= q
    throwsWithCode(() => b.mlkemEncapsulate(new Uint8Array(1568).fill(0xff)), 'SM_ERR_CRYPTO_KEM', /mlkemEncapsulate publicKey/);
    const dsa = b.mldsaKeygen(new Uint8Array(32));
    throwsWithCode(() => b.mlkemDecapsulate(new Uint8Array(1568), dsa.secretKey), 'SM_ERR_CRYPTO_ARG', /ml-kem-1024 secret key/);
    b.destroySecretKey(k.secretKey);
    throwsWithCode(() => b.mlkemDecapsulate(new Uint8Array(1568), k.secretKey), 'SM_ERR_CRYPTO_DESTROYED');
  });

  test(`${b.name}: ML-DSA-87 keygen, sign, verify`, () => {
    const seed = randomBytes(32);
    const k = b.mldsaKeygen(seed);
    assert.equal(k.publicKey.length, 2592);
    assert.deepEqual(b.mldsaKeygen(seed).publicKey, k.publicKey);
    const msg = utf8('ml-dsa message');
    const hedged = b.mldsaSign(k.secretKey, msg);
    assert.equal(hedged.length, 4627);
    assert.equal(b.mldsaVerify(k.publicKey, msg, hedged), true);
    assert.equal(b.mldsaVerify(k.publicKey, utf8('ml-dsa messagE'), hedged), false);
    assert.equal(b.mldsaVerify(k.publicKey, msg, flip(hedged, 4000 * 8)), false);
    assert.equal(b.mldsaVerify(flip(k.publicKey, 9), msg, hedged), false);
    const zero = new Uint8Array(32);
    const d1 = b.mldsaSign(k.secretKey, msg, zero);
    const d2 = b.mldsaSign(k.secretKey, msg, zero);
    assert.deepEqual(d1, d2, 'rnd = 0^32 is deterministic');
    assert.notDeepEqual(d1, b.mldsaSign(k.secretKey, msg, new Uint8Array(32).fill(1)), 'rnd matters');
    assert.equal(b.mldsaVerify(k.publicKey, msg, d1), true);
    assert.equal(b.mldsaVerify(k.publicKey, msg, new Uint8Array(4627)), false);
    assert.equal(b.mldsaVerify(new Uint8Array(2592), msg, d1), false);
    assert.deepEqual(msg, utf8('ml-dsa message'), 'message unchanged');
  });

  test(`${b.name}: ML-DSA-87 argument checks`, () => {
    const k = b.mldsaKeygen(new Uint8Array(32));
    const msg = new Uint8Array(1);
    throwsWithCode(() => b.mldsaKeygen(new Uint8Array(33)), 'SM_ERR_CRYPTO_LENGTH', /mldsaKeygen seed32: expected 32 bytes, got 33/);
    throwsWithCode(() => b.mldsaSign(k.secretKey, msg, new Uint8Array(16)), 'SM_ERR_CRYPTO_LENGTH', /mldsaSign rnd32/);
    throwsWithCode(() => b.mldsaSign(k.secretKey, 'm' as unknown as Uint8Array), 'SM_ERR_CRYPTO_LENGTH', /mldsaSign message/);
    throwsWithCode(() => b.mldsaVerify(new Uint8Array(2591), msg, new Uint8Array(4627)), 'SM_ERR_CRYPTO_LENGTH', /mldsaVerify publicKey/);
    throwsWithCode(() => b.mldsaVerify(k.publicKey, msg, new Uint8Array(4626)), 'SM_ERR_CRYPTO_LENGTH', /mldsaVerify signature/);
    throwsWithCode(() => b.mldsaSign({}, msg), 'SM_ERR_CRYPTO_ARG', /mldsaSign secretKey/);
    const kem = b.mlkemKeygen(new Uint8Array(64));
    throwsWithCode(() => b.mldsaSign(kem.secretKey, msg), 'SM_ERR_CRYPTO_ARG', /ml-dsa-87 secret key/);
    b.destroySecretKey(k.secretKey);
    throwsWithCode(() => b.mldsaSign(k.secretKey, msg), 'SM_ERR_CRYPTO_DESTROYED');
    throwsWithCode(() => b.destroySecretKey('key'), 'SM_ERR_CRYPTO_ARG', /destroySecretKey/);
  });
}
