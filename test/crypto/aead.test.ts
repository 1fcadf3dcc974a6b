import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  AEAD_TAG_BYTES,
  AeadOpener,
  AeadSealer,
  aeadOpenRaw,
  aeadSealRaw,
  REJECT_AFTER_MESSAGES,
  type AeadAlgorithm,
} from '../../src/crypto/aead.js';
import { fromHex, randomBytes, toHex, utf8 } from '../../src/crypto/bytes.js';
import { throwsWithCode } from '../../testkit/expect-code.js';
import { AEAD_KATS as KATS } from '../../testkit/aead-vectors.js';

const ALGS: AeadAlgorithm[] = ['chacha20-poly1305', 'aes-256-gcm'];

function flip(b: Uint8Array, bit: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}


for (const v of KATS) {
  test(`KAT: ${v.name}`, () => {
    const key = fromHex(v.key);
    const nonce = fromHex(v.nonce);
    const aad = fromHex(v.aad);
    const pt = fromHex(v.pt);
    const sealed = aeadSealRaw(v.alg, key, nonce, aad, pt);
    assert.equal(toHex(sealed), v.ct + v.tag);
    assert.deepEqual(aeadOpenRaw(v.alg, key, nonce, aad, sealed), pt);
    assert.equal(toHex(pt), v.pt, 'plaintext input unchanged');
    // negative: flipped bits in tag, ciphertext, aad, nonce, key
    assert.equal(aeadOpenRaw(v.alg, key, nonce, aad, flip(sealed, sealed.length * 8 - 1)), null);
    if (pt.length > 0) assert.equal(aeadOpenRaw(v.alg, key, nonce, aad, flip(sealed, 0)), null);
    if (aad.length > 0) assert.equal(aeadOpenRaw(v.alg, key, nonce, flip(aad, 3), sealed), null);
    assert.equal(aeadOpenRaw(v.alg, key, flip(nonce, 95), aad, sealed), null);
    assert.equal(aeadOpenRaw(v.alg, flip(key, 17), nonce, aad, sealed), null);
    assert.equal(aeadOpenRaw(v.alg, key, nonce, aad, sealed.subarray(0, AEAD_TAG_BYTES - 1)), null);
  });
}

test('raw functions check argument lengths and names', () => {
  const k = new Uint8Array(32);
  const n = new Uint8Array(12);
  const e = new Uint8Array(0);
  throwsWithCode(() => aeadSealRaw('chacha20-poly1305', new Uint8Array(31), n, e, e), 'SM_ERR_CRYPTO_LENGTH', /aeadSealRaw key: expected 32 bytes, got 31/);
  throwsWithCode(() => aeadSealRaw('aes-256-gcm', k, new Uint8Array(8), e, e), 'SM_ERR_CRYPTO_LENGTH', /aeadSealRaw nonce: expected 12 bytes, got 8/);
  throwsWithCode(() => aeadSealRaw('aes-128-gcm' as AeadAlgorithm, k, n, e, e), 'SM_ERR_CRYPTO_ARG', /aeadSealRaw alg/);
  throwsWithCode(() => aeadOpenRaw('chacha20-poly1305', k, new Uint8Array(13), e, new Uint8Array(16)), 'SM_ERR_CRYPTO_LENGTH', /aeadOpenRaw nonce/);
  throwsWithCode(() => aeadOpenRaw('chacha20-poly1305', k, n, e, 'x' as unknown as Uint8Array), 'SM_ERR_CRYPTO_LENGTH', /aeadOpenRaw sealed/);
});

// A DATA-like frame: | 0..3 head | 4..7 index | 8..15 counter | plaintext | tag |, at an offset inside a pool buffer.
const HEADER = 16;
const COUNTER_AT = 8;

function sealFrame(s: AeadSealer, pt: Uint8Array, offset = 5): { buf: Uint8Array; counter: bigint } {
  const buf = new Uint8Array(offset + HEADER + pt.length + AEAD_TAG_BYTES + 7).fill(0xee);
  buf.set(Uint8Array.of(1, 0x24, 0, 0, 9, 0, 0, 0), offset);
  buf.set(pt, offset + HEADER);
  const counter = s.sealInPlace(buf, offset, HEADER, COUNTER_AT, pt.length);
  return { buf, counter };
}

for (const alg of ALGS) {
  test(`${alg}: sealInPlace/open round trip with counters in the header`, () => {
    const key = randomBytes(32);
    const s = new AeadSealer(alg, key);
    const o = new AeadOpener(alg, key);
    key.fill(0); // both copied the key
    let last = -1n;
    for (const len of [0, 1, 15, 16, 17, 1400, 65536]) {
      const pt = randomBytes(len);
      const { buf, counter } = sealFrame(s, pt);
      assert.ok(counter > last, 'counters strictly increase');
      last = counter;
      const header = buf.subarray(5, 5 + HEADER);
      assert.equal(new DataView(header.buffer, header.byteOffset).getBigUint64(COUNTER_AT, true), counter);
      const sealed = buf.subarray(5 + HEADER, 5 + HEADER + len + AEAD_TAG_BYTES);
      // A short ciphertext equals its plaintext by chance (1/256 for one byte); from 16 bytes on that is 2^-128.
      if (len >= 16) assert.notDeepEqual(sealed.subarray(0, len), pt);
      assert.equal(buf[4], 0xee, 'byte before offset untouched');
      assert.equal(buf[5 + HEADER + len + AEAD_TAG_BYTES], 0xee, 'byte after tag untouched');
      assert.deepEqual(o.open(header, counter, sealed), pt);
      // wrong counter, flipped header, flipped tag, flipped ciphertext
      assert.equal(o.open(header, counter + 1n, sealed), null);
      assert.equal(o.open(flip(header, 0), counter, sealed), null);
      assert.equal(o.open(flip(header, COUNTER_AT * 8), counter, sealed), null);
      assert.equal(o.open(header, counter, flip(sealed, sealed.length * 8 - 3)), null);
      if (len > 0) assert.equal(o.open(header, counter, flip(sealed, 5)), null);
    }
    assert.equal(s.sent, 7n);
  });

  test(`${alg}: open writes into out only after authentication`, () => {
    const key = randomBytes(32);
    const s = new AeadSealer(alg, key);
    const o = new AeadOpener(alg, key);
    const pt = utf8('hello, mesh');
    const { buf, counter } = sealFrame(s, pt, 0);
    const header = Uint8Array.from(buf.subarray(0, HEADER));
    const sealed = Uint8Array.from(buf.subarray(HEADER, HEADER + pt.length + AEAD_TAG_BYTES));
    const out = new Uint8Array(64).fill(0x55);
    const r = o.open(header, counter, sealed, out);
    assert.ok(r !== null);
    assert.equal(r.buffer, out.buffer, 'result is a view of out');
    assert.deepEqual(r, pt);
    const out2 = new Uint8Array(64).fill(0x55);
    assert.equal(o.open(header, counter, flip(sealed, 0), out2), null);
    assert.deepEqual(out2, new Uint8Array(64).fill(0x55), 'no unauthenticated plaintext in out');
    const small = new Uint8Array(3);
    const r2 = o.open(header, counter, sealed, small);
    assert.deepEqual(r2, pt);
    assert.notEqual(r2?.buffer, small.buffer);
    // inputs unchanged
    assert.deepEqual(header, buf.subarray(0, HEADER));
    assert.deepEqual(sealed, buf.subarray(HEADER, HEADER + pt.length + AEAD_TAG_BYTES));
  });

  test(`${alg}: openInPlace decrypts into the sealed bytes and refuses what open refuses`, () => {
    const key = randomBytes(32);
    const s = new AeadSealer(alg, key);
    const o = new AeadOpener(alg, key);
    const pt = utf8('decrypted where it lies');
    const { buf, counter } = sealFrame(s, pt, 0);
    const header = buf.subarray(0, HEADER);
    const sealed = buf.subarray(HEADER, HEADER + pt.length + AEAD_TAG_BYTES);
    const tag = Uint8Array.from(sealed.subarray(pt.length));
    assert.equal(o.openInPlace(header, counter + 1n, Uint8Array.from(sealed)), null);
    assert.equal(o.openInPlace(header, counter, flip(sealed, 3)), null);
    assert.equal(o.openInPlace(header, counter, sealed.subarray(0, AEAD_TAG_BYTES - 1)), null);
    assert.equal(o.openInPlace(header, -1n, Uint8Array.from(sealed)), null);
    const r = o.openInPlace(header, counter, sealed);
    assert.ok(r !== null);
    assert.equal(r.buffer, buf.buffer, 'a view of the frame');
    assert.equal(r.byteOffset, HEADER);
    assert.deepEqual(r, pt);
    assert.deepEqual(sealed.subarray(pt.length), tag, 'tag untouched');
    o.destroy();
    throwsWithCode(() => o.openInPlace(header, counter, sealed), 'SM_ERR_CRYPTO_DESTROYED');
  });

  test(`${alg}: opener never throws on bad network input`, () => {
    const key = randomBytes(32);
    const o = new AeadOpener(alg, key);
    const h = new Uint8Array(HEADER);
    for (const n of [0, 1, 15]) assert.equal(o.open(h, 0n, new Uint8Array(n)), null);
    assert.equal(o.open(h, 0n, new Uint8Array(40)), null);
    assert.equal(o.open(h, -1n, new Uint8Array(40)), null);
    assert.equal(o.open(h, REJECT_AFTER_MESSAGES, new Uint8Array(40)), null);
    assert.equal(o.open(h, 2n ** 64n, new Uint8Array(40)), null);
    assert.equal(o.open(h, 0 as unknown as bigint, new Uint8Array(40)), null);
    assert.equal(o.open(null as unknown as Uint8Array, 0n, new Uint8Array(40)), null);
    // wrong key
    const s = new AeadSealer(alg, randomBytes(32));
    const { buf, counter } = sealFrame(s, utf8('x'), 0);
    assert.equal(o.open(buf.subarray(0, HEADER), counter, buf.subarray(HEADER)), null);
  });

  test(`${alg}: exhausted sealer throws and never reuses a counter`, () => {
    const key = randomBytes(32);
    const s = new AeadSealer(alg, key, { limit: 3n });
    const seen = new Set<bigint>();
    for (let i = 0; i < 3; i++) seen.add(sealFrame(s, utf8('abc')).counter);
    assert.deepEqual([...seen], [0n, 1n, 2n]);
    throwsWithCode(() => sealFrame(s, utf8('abc')), 'SM_ERR_CRYPTO_COUNTER_EXHAUSTED');
    throwsWithCode(() => sealFrame(s, utf8('abc')), 'SM_ERR_CRYPTO_COUNTER_EXHAUSTED');
    assert.equal(s.sent, 3n);
  });

  test(`${alg}: sealInPlace argument checks; a failed check does not consume a counter`, () => {
    const s = new AeadSealer(alg, randomBytes(32));
    const buf = new Uint8Array(HEADER + 10 + AEAD_TAG_BYTES);
    throwsWithCode(() => s.sealInPlace(buf, 1, HEADER, COUNTER_AT, 10), 'SM_ERR_CRYPTO_LENGTH', /sealInPlace buf: expected at least 43 bytes/);
    throwsWithCode(() => s.sealInPlace(buf, 0, HEADER, COUNTER_AT, 11), 'SM_ERR_CRYPTO_LENGTH', /sealInPlace buf/);
    throwsWithCode(() => s.sealInPlace(buf, 0, HEADER, 9, 10), 'SM_ERR_CRYPTO_ARG', /sealInPlace counterOffset/);
    throwsWithCode(() => s.sealInPlace(buf, 0, 7, 0, 10), 'SM_ERR_CRYPTO_ARG', /sealInPlace headerLength/);
    throwsWithCode(() => s.sealInPlace(buf, -1, HEADER, COUNTER_AT, 10), 'SM_ERR_CRYPTO_ARG', /sealInPlace offset/);
    throwsWithCode(() => s.sealInPlace(buf, 0, HEADER, COUNTER_AT, 1.5), 'SM_ERR_CRYPTO_ARG', /sealInPlace plaintextLength/);
    throwsWithCode(() => s.sealInPlace([] as unknown as Uint8Array, 0, HEADER, 8, 0), 'SM_ERR_CRYPTO_LENGTH', /sealInPlace buf/);
    assert.equal(s.sent, 0n);
    assert.equal(s.sealInPlace(buf, 0, HEADER, COUNTER_AT, 10), 0n);
  });

  test(`${alg}: constructor checks and destroy`, () => {
    throwsWithCode(() => new AeadSealer(alg, new Uint8Array(31)), 'SM_ERR_CRYPTO_LENGTH', /AeadSealer key: expected 32 bytes, got 31/);
    throwsWithCode(() => new AeadOpener(alg, new Uint8Array(33)), 'SM_ERR_CRYPTO_LENGTH', /AeadOpener key: expected 32 bytes, got 33/);
    throwsWithCode(() => new AeadSealer(alg, new Uint8Array(32), { limit: 0n }), 'SM_ERR_CRYPTO_ARG', /options.limit/);
    throwsWithCode(() => new AeadSealer(alg, new Uint8Array(32), { limit: REJECT_AFTER_MESSAGES + 1n }), 'SM_ERR_CRYPTO_ARG', /options.limit/);
    throwsWithCode(() => new AeadSealer('aes' as AeadAlgorithm, new Uint8Array(32)), 'SM_ERR_CRYPTO_ARG', /AeadSealer alg/);
    const key = randomBytes(32);
    const s = new AeadSealer(alg, key);
    const o = new AeadOpener(alg, key);
    const { buf, counter } = sealFrame(s, utf8('x'), 0);
    s.destroy();
    s.destroy();
    o.destroy();
    throwsWithCode(() => sealFrame(s, utf8('x')), 'SM_ERR_CRYPTO_DESTROYED');
    throwsWithCode(() => o.open(buf.subarray(0, HEADER), counter, buf.subarray(HEADER)), 'SM_ERR_CRYPTO_DESTROYED');
  });
}

test('the two algorithms give different ciphertexts for the same key and frame', () => {
  const key = randomBytes(32);
  const a = sealFrame(new AeadSealer('chacha20-poly1305', key), utf8('same'));
  const b = sealFrame(new AeadSealer('aes-256-gcm', key), utf8('same'));
  assert.notDeepEqual(a.buf, b.buf);
  const o = new AeadOpener('aes-256-gcm', key);
  assert.equal(o.open(a.buf.subarray(5, 5 + HEADER), 0n, a.buf.subarray(5 + HEADER, 5 + HEADER + 4 + 16)), null);
});

test('REJECT_AFTER_MESSAGES is WireGuard\'s value', () => {
  assert.equal(REJECT_AFTER_MESSAGES, 18446744073709543423n);
});
