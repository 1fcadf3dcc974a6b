import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { hkdf, hkdfExpand, hkdfExtract, hmacSha256 } from '../../src/crypto/hkdf.js';
import { toHex, utf8 } from '../../src/crypto/bytes.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

function range(from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from + 1);
  for (let i = 0; i < out.length; i++) out[i] = from + i;
  return out;
}

// RFC 5869 Appendix A, test cases 1-3 (SHA-256).
const CASES = [
  {
    name: 'A.1 basic',
    ikm: new Uint8Array(22).fill(0x0b),
    salt: range(0x00, 0x0c),
    info: range(0xf0, 0xf9),
    length: 42,
    prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2 longer inputs and outputs',
    ikm: range(0x00, 0x4f),
    salt: range(0x60, 0xaf),
    info: range(0xb0, 0xff),
    length: 82,
    prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
    okm:
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c' +
      '59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71' +
      'cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3 zero-length salt and info',
    ikm: new Uint8Array(22).fill(0x0b),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

for (const c of CASES) {
  test(`RFC 5869 ${c.name}`, () => {
    const ikm = Uint8Array.from(c.ikm);
    const salt = Uint8Array.from(c.salt);
    const info = Uint8Array.from(c.info);
    const prk = hkdfExtract(salt, ikm);
    assert.equal(toHex(prk), c.prk);
    assert.equal(toHex(hkdfExpand(prk, info, c.length)), c.okm);
    assert.equal(toHex(hkdf(ikm, salt, info, c.length)), c.okm);
    // inputs come back unchanged
    assert.deepEqual(ikm, c.ikm);
    assert.deepEqual(salt, c.salt);
    assert.deepEqual(info, c.info);
  });
}

test('hkdf: a string info is its UTF-8 bytes; every input changes the output', () => {
  const ikm = new Uint8Array(32).fill(1);
  const salt = new Uint8Array(32).fill(2);
  const base = hkdf(ikm, salt, 'shadowmesh test', 32);
  assert.deepEqual(base, hkdf(ikm, salt, utf8('shadowmesh test'), 32));
  assert.deepEqual(hkdfExpand(hkdfExtract(salt, ikm), 'shadowmesh test', 32), base);
  assert.notDeepEqual(hkdf(ikm, salt, 'shadowmesh tesT', 32), base);
  const ikm2 = Uint8Array.from(ikm);
  ikm2[31]! ^= 1;
  assert.notDeepEqual(hkdf(ikm2, salt, 'shadowmesh test', 32), base);
  const salt2 = Uint8Array.from(salt);
  salt2[0]! ^= 0x80;
  assert.notDeepEqual(hkdf(ikm, salt2, 'shadowmesh test', 32), base);
  // a shorter output is a prefix of a longer one (RFC 5869 §2.3)
  assert.deepEqual(hkdf(ikm, salt, 'x', 100).subarray(0, 33), hkdf(ikm, salt, 'x', 33));
  assert.equal(hkdf(ikm, salt, 'x', 8160).length, 8160);
});

test('hmacSha256 matches RFC 4231 test case 2 and hashes the concatenation', () => {
  const key = utf8('Jefe');
  const mac = hmacSha256(key, utf8('what do ya want '), utf8('for nothing?'));
  assert.equal(toHex(mac), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  assert.deepEqual(mac, hmacSha256(key, utf8('what do ya want for nothing?')));
});

test('hkdf rejects bad lengths and types, naming the argument', () => {
  const k32 = new Uint8Array(32);
  throwsWithCode(() => hkdf(k32, k32, 'i', 0), 'SM_ERR_CRYPTO_ARG', /hkdf length/);
  throwsWithCode(() => hkdf(k32, k32, 'i', 8161), 'SM_ERR_CRYPTO_ARG', /hkdf length/);
  throwsWithCode(() => hkdf('k' as unknown as Uint8Array, k32, 'i', 32), 'SM_ERR_CRYPTO_LENGTH', /hkdf ikm/);
  throwsWithCode(() => hkdf(k32, null as unknown as Uint8Array, 'i', 32), 'SM_ERR_CRYPTO_LENGTH', /hkdf salt/);
  throwsWithCode(() => hkdfExpand(new Uint8Array(31), 'i', 32), 'SM_ERR_CRYPTO_LENGTH', /hkdfExpand prk: expected 32 bytes, got 31/);
  throwsWithCode(() => hkdfExpand(k32, 'i', 8161), 'SM_ERR_CRYPTO_ARG', /hkdfExpand length/);
  throwsWithCode(() => hkdfExpand(k32, 5 as unknown as string, 1), 'SM_ERR_CRYPTO_LENGTH', /hkdfExpand info/);
  throwsWithCode(() => hkdfExtract(k32, undefined as unknown as Uint8Array), 'SM_ERR_CRYPTO_LENGTH', /hkdfExtract ikm/);
  throwsWithCode(() => hmacSha256(k32, k32, 'x' as unknown as Uint8Array), 'SM_ERR_CRYPTO_LENGTH', /hmacSha256 data 1/);
});
