import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { concatBytes, equalBytes, fromHex, randomBytes, sha256, toHex, utf8, wipe } from '../../src/crypto/bytes.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

test('wipe zeroes every buffer and skips null/undefined', () => {
  const a = Uint8Array.of(1, 2, 3);
  const b = new Uint8Array(10).fill(0xff);
  wipe(a, undefined, b, null);
  assert.deepEqual(a, new Uint8Array(3));
  assert.deepEqual(b, new Uint8Array(10));
  const big = new Uint8Array(8).fill(7);
  wipe(big.subarray(2, 4));
  assert.deepEqual(big, Uint8Array.of(7, 7, 0, 0, 7, 7, 7, 7));
});

test('equalBytes compares contents and lengths', () => {
  assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true);
  assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false);
  assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0)), false);
  assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
  const x = randomBytes(64);
  for (let i = 0; i < 64 * 8; i += 37) {
    const y = Uint8Array.from(x);
    y[i >> 3]! ^= 1 << (i & 7);
    assert.equal(equalBytes(x, y), false, `bit ${i}`);
  }
  throwsWithCode(() => equalBytes('ab' as unknown as Uint8Array, new Uint8Array(2)), 'SM_ERR_CRYPTO_LENGTH', /equalBytes a/);
});

test('concatBytes joins in order and leaves inputs unchanged', () => {
  const a = Uint8Array.of(1);
  const b = Uint8Array.of(2, 3);
  const out = concatBytes(a, new Uint8Array(0), b);
  assert.deepEqual(out, Uint8Array.of(1, 2, 3));
  out[0] = 9;
  assert.deepEqual(a, Uint8Array.of(1));
  assert.deepEqual(concatBytes(), new Uint8Array(0));
  throwsWithCode(() => concatBytes(a, [1] as unknown as Uint8Array), 'SM_ERR_CRYPTO_LENGTH', /concatBytes part 1/);
});

test('randomBytes returns plain arrays of the asked length that differ', () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  assert.equal(a.length, 32);
  assert.equal(Object.getPrototypeOf(a), Uint8Array.prototype);
  assert.notDeepEqual(a, b);
  assert.equal(randomBytes(0).length, 0);
  throwsWithCode(() => randomBytes(-1), 'SM_ERR_CRYPTO_ARG', /randomBytes n/);
  throwsWithCode(() => randomBytes(1.5), 'SM_ERR_CRYPTO_ARG', /randomBytes n/);
});

test('sha256 matches FIPS 180-2 examples and hashes the concatenation', () => {
  // FIPS 180-2 Appendix B.1 ("abc") and the empty-string digest.
  assert.equal(toHex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(toHex(sha256()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.deepEqual(sha256(utf8('a'), utf8('bc')), sha256(utf8('abc')));
  assert.equal(sha256(utf8('x')).length, 32);
});

test('hex round trip and rejection of bad input', () => {
  const b = Uint8Array.of(0, 1, 0xab, 0xff);
  assert.equal(toHex(b), '0001abff');
  assert.deepEqual(fromHex('0001abff'), b);
  assert.deepEqual(fromHex('0001ABFF'), b);
  assert.deepEqual(fromHex(''), new Uint8Array(0));
  assert.equal(toHex(b.subarray(1, 3)), '01ab');
  for (const bad of ['0', 'zz', '0x00', '00 11', 'abc']) {
    throwsWithCode(() => fromHex(bad), 'SM_ERR_CRYPTO_HEX', /fromHex/);
  }
});

test('utf8 encodes', () => {
  assert.deepEqual(utf8('aé'), Uint8Array.of(0x61, 0xc3, 0xa9));
});
