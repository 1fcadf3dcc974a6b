/**
 * The native AEAD context addon (src/crypto/native-aead.ts, native/aead.cc)
 * against node:crypto, the reference (docs/architecture.md "Native AEAD
 * contexts"):
 *  - the published known-answer vectors (RFC 8439 §2.8.2, McGrew-Viega GCM)
 *    through the addon, with flipped-bit negatives;
 *  - a property: for any key, frame sequence and offsets, a native sealer and
 *    a node:crypto sealer with the same key write byte-identical frames; each
 *    opener opens the other's frames; a flipped bit fails in both and leaves
 *    `out` untouched; openInPlace agrees with open in both; a failed open
 *    does not disturb the reused context for the next good frame;
 *  - destroy, misuse and the loader's switch (SHADOWMESH_NATIVE_AEAD=off).
 * The addon is built by `npm ci`; this file fails when it is missing.
 * Long mode: SHADOWMESH_FUZZ_SECONDS (see testkit/fuzz-config.ts).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  AEAD_TAG_BYTES,
  AeadOpener,
  AeadSealer,
  aeadOpenRaw,
  aeadSealRaw,
  type AeadAlgorithm,
} from '../../src/crypto/aead.js';
import { fromHex, randomBytes, toHex } from '../../src/crypto/bytes.js';
import { loadNativeAead, nativeAeadAvailable, nativeAeadUnavailableReason } from '../../src/crypto/native-aead.js';
import { throwsWithCode } from '../../testkit/expect-code.js';
import { fuzzParams, FUZZ_TEST_TIMEOUT_MS } from '../../testkit/fuzz-config.js';
import { AEAD_KATS } from '../../testkit/aead-vectors.js';

const ALGS: AeadAlgorithm[] = ['chacha20-poly1305', 'aes-256-gcm'];
/** DATA header (docs/protocol.md §2) and where its counter sits. */
const HEADER = 16;
const COUNTER_AT = 8;

function flip(b: Uint8Array, bit: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

test('the addon is built and loads', () => {
  assert.ok(nativeAeadAvailable(), `native AEAD addon: ${nativeAeadUnavailableReason()}`);
  assert.equal(nativeAeadUnavailableReason(), '');
  assert.equal(new AeadSealer('chacha20-poly1305', randomBytes(32)).impl, 'native', "'auto' picks the addon");
  assert.equal(new AeadOpener('aes-256-gcm', randomBytes(32)).impl, 'native');
  assert.equal(new AeadSealer('chacha20-poly1305', randomBytes(32), { impl: 'js' }).impl, 'js');
});

for (const v of AEAD_KATS) {
  test(`KAT through the addon: ${v.name}`, () => {
    const key = fromHex(v.key);
    const nonce = fromHex(v.nonce);
    const aad = fromHex(v.aad);
    const pt = fromHex(v.pt);
    const sealed = aeadSealRaw(v.alg, key, nonce, aad, pt, 'native');
    assert.equal(toHex(sealed), v.ct + v.tag);
    assert.deepEqual(aeadOpenRaw(v.alg, key, nonce, aad, sealed, 'native'), pt);
    assert.equal(toHex(pt), v.pt, 'plaintext input unchanged');
    assert.equal(aeadOpenRaw(v.alg, key, nonce, aad, flip(sealed, sealed.length * 8 - 1), 'native'), null);
    if (pt.length > 0) assert.equal(aeadOpenRaw(v.alg, key, nonce, aad, flip(sealed, 0), 'native'), null);
    if (aad.length > 0) assert.equal(aeadOpenRaw(v.alg, key, nonce, flip(aad, 3), sealed, 'native'), null);
    assert.equal(aeadOpenRaw(v.alg, key, flip(nonce, 95), aad, sealed, 'native'), null);
    assert.equal(aeadOpenRaw(v.alg, flip(key, 17), nonce, aad, sealed, 'native'), null);
    assert.equal(aeadOpenRaw(v.alg, key, nonce, aad, sealed.subarray(0, AEAD_TAG_BYTES - 1), 'native'), null);
  });
}

/** One frame of a sequence: its plaintext, where it sits in its buffer, and which bit an attacker flips. */
const frameArb = fc.record({
  pt: fc.uint8Array({ minLength: 0, maxLength: 1500 }),
  offset: fc.integer({ min: 0, max: 40 }),
  header: fc.uint8Array({ minLength: HEADER, maxLength: HEADER }),
  flipAt: fc.nat(),
  useOut: fc.boolean(),
});

test('property: native and node:crypto seal byte for byte alike, open each other, and both refuse a flipped bit', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...ALGS),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(frameArb, { minLength: 1, maxLength: 12 }),
      (alg, key, frames) => {
        const sn = new AeadSealer(alg, key, { impl: 'native' });
        const sj = new AeadSealer(alg, key, { impl: 'js' });
        const on = new AeadOpener(alg, key, { impl: 'native' });
        const oj = new AeadOpener(alg, key, { impl: 'js' });
        try {
          for (const f of frames) {
            const size = f.offset + HEADER + f.pt.length + AEAD_TAG_BYTES + 3;
            const bn = new Uint8Array(size).fill(0xa5);
            bn.set(f.header, f.offset);
            bn.set(f.pt, f.offset + HEADER);
            const bj = Uint8Array.from(bn);
            const cn = sn.sealInPlace(bn, f.offset, HEADER, COUNTER_AT, f.pt.length);
            const cj = sj.sealInPlace(bj, f.offset, HEADER, COUNTER_AT, f.pt.length);
            assert.equal(cn, cj, 'same counter');
            assert.deepEqual(bn, bj, 'same bytes, including the untouched margins');

            const header = bn.subarray(f.offset, f.offset + HEADER);
            const sealed = bn.subarray(f.offset + HEADER, f.offset + HEADER + f.pt.length + AEAD_TAG_BYTES);
            const frozen = Uint8Array.from(bn);
            const tampered = flip(sealed, f.flipAt % (sealed.length * 8));
            for (const [opener, other] of [[on, oj], [oj, on]] as const) {
              const out = f.useOut ? new Uint8Array(f.pt.length + 5).fill(0x3c) : undefined;
              const opened = opener.open(header, cn, sealed, out);
              assert.ok(opened !== null, `${opener.impl} opens a frame sealed by ${other.impl === 'js' ? 'native' : 'js'}`);
              assert.deepEqual(opened, f.pt);
              const out2 = f.useOut ? new Uint8Array(f.pt.length + 5).fill(0x3c) : undefined;
              assert.equal(opener.open(header, cn, tampered, out2), null, `${opener.impl} refuses a flipped bit`);
              if (out2 !== undefined) assert.ok(out2.every((b) => b === 0x3c), `${opener.impl}: out untouched by a failed tag`);
              assert.equal(opener.open(flip(header, f.flipAt % (HEADER * 8)), cn, sealed), null, `${opener.impl} refuses a changed header`);
              assert.equal(opener.open(header, cn + 1n, sealed), null, `${opener.impl} refuses another counter`);
              const own = Uint8Array.from(sealed);
              const inPlace = opener.openInPlace(header, cn, own);
              assert.ok(inPlace !== null && inPlace.buffer === own.buffer && inPlace.byteOffset === own.byteOffset, `${opener.impl}: openInPlace returns a view of sealed`);
              assert.deepEqual(inPlace, f.pt);
              assert.deepEqual(own.subarray(f.pt.length), sealed.subarray(f.pt.length), `${opener.impl}: openInPlace leaves the tag`);
              assert.equal(opener.openInPlace(header, cn, Uint8Array.from(tampered)), null, `${opener.impl}: openInPlace refuses a flipped bit`);
            }
            assert.deepEqual(bn, frozen, 'opening never writes into its inputs');
          }
          assert.equal(sn.sent, BigInt(frames.length));
        } finally {
          sn.destroy();
          sj.destroy();
          on.destroy();
          oj.destroy();
        }
      },
    ),
    fuzzParams(150),
  );
});

for (const alg of ALGS) {
  test(`${alg}: a destroyed native sealer or opener throws SM_ERR_CRYPTO_DESTROYED; destroy twice is fine`, () => {
    const s = new AeadSealer(alg, randomBytes(32), { impl: 'native' });
    const o = new AeadOpener(alg, randomBytes(32), { impl: 'native' });
    s.destroy();
    s.destroy();
    o.destroy();
    o.destroy();
    throwsWithCode(() => s.sealInPlace(new Uint8Array(64), 0, HEADER, COUNTER_AT, 8), 'SM_ERR_CRYPTO_DESTROYED');
    throwsWithCode(() => o.open(new Uint8Array(HEADER), 0n, new Uint8Array(40)), 'SM_ERR_CRYPTO_DESTROYED');
  });

  test(`${alg}: the native opener never throws on bad network input`, () => {
    const o = new AeadOpener(alg, randomBytes(32), { impl: 'native' });
    const h = new Uint8Array(HEADER);
    for (const n of [0, 1, 15, 16, 40, 70_000]) assert.equal(o.open(h, 0n, new Uint8Array(n)), null);
    assert.equal(o.open(h, -1n, new Uint8Array(40)), null);
    assert.equal(o.open(null as unknown as Uint8Array, 0n, new Uint8Array(40)), null);
    assert.equal(o.open(h, 0n, 'x' as unknown as Uint8Array), null);
  });
}

test('the addon refuses handles it did not make and views too short for the lengths given', () => {
  const addon = loadNativeAead()!;
  const h = addon.create(0, randomBytes(32), true);
  const nonce = new Uint8Array(12);
  assert.throws(() => addon.seal({} as typeof h, nonce, new Uint8Array(64), 0, 16, 8), TypeError);
  assert.throws(() => addon.seal(h, nonce, new Uint8Array(39), 0, 16, 8), TypeError, '16 + 8 + 16 > 39');
  assert.throws(() => addon.seal(h, nonce, new Uint8Array(64), -1, 16, 8), TypeError);
  assert.throws(() => addon.seal(h, new Uint8Array(8), new Uint8Array(64), 0, 16, 8), TypeError);
  assert.throws(() => addon.open(h, nonce, new Uint8Array(16), new Uint8Array(40), new Uint8Array(40)), TypeError, 'a sealing handle does not open');
  addon.destroy(h);
  assert.throws(() => addon.seal(h, nonce, new Uint8Array(64), 0, 16, 8), TypeError, 'destroyed');
  const o = addon.create(1, randomBytes(32), false);
  assert.throws(() => addon.open(o, nonce, new Uint8Array(16), new Uint8Array(40), new Uint8Array(23)), TypeError, 'out shorter than the ciphertext');
  addon.destroy(o);
});

test("SHADOWMESH_NATIVE_AEAD=off keeps node:crypto; impl 'native' then fails with a coded error", () => {
  const aeadUrl = new URL('../../src/crypto/aead.js', import.meta.url).href;
  const script =
    `const m = await import(${JSON.stringify(aeadUrl)});` +
    `const s = new m.AeadSealer('chacha20-poly1305', new Uint8Array(32));` +
    `let code = '';` +
    `try { new m.AeadOpener('aes-256-gcm', new Uint8Array(32), { impl: 'native' }); } catch (e) { code = e.code + ' ' + e.message; }` +
    `console.log(JSON.stringify({ impl: s.impl, code }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, SHADOWMESH_NATIVE_AEAD: 'off' },
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { impl: string; code: string };
  assert.equal(got.impl, 'js');
  assert.match(got.code, /^SM_ERR_CRYPTO_NATIVE_UNAVAILABLE AeadOpener options\.impl: the native AEAD addon is unavailable: SHADOWMESH_NATIVE_AEAD=off$/);
});
