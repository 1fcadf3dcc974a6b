/**
 * Micro benchmark for the crypto package: AeadSealer.sealInPlace and
 * AeadOpener.open per implementation (the native context addon and
 * node:crypto, docs/architecture.md "Native AEAD contexts"), algorithm and
 * size (a 64-byte packet such as a ping, a 1400-byte packet, a 64 KiB GSO
 * segment), and one hybrid handshake's worth of public-key work per
 * available ML-KEM/ML-DSA backend.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/crypto-aead.js [--aead-only]
 * Prints one line per case: operations per second, ns per operation and
 * MB/s where it applies. Not part of the test suite; numbers depend on the
 * machine and its load.
 */

import { AEAD_TAG_BYTES, AeadOpener, AeadSealer, type AeadAlgorithm, type AeadImpl } from '../src/crypto/aead.js';
import { nativeAeadAvailable, nativeAeadUnavailableReason } from '../src/crypto/native-aead.js';
import { randomBytes } from '../src/crypto/bytes.js';
import { hybridEncapsulate, HybridKemKeyPair } from '../src/crypto/hybrid-kem.js';
import { HybridSigner, hybridVerify } from '../src/crypto/hybrid-sign.js';
import { getPqBackend, nativePqAvailable, type PqBackend } from '../src/crypto/pq-backend.js';

/** Long enough to smooth out timer resolution and JIT warm-up, short enough to run often. */
const RUN_MS = 500;
/** DATA header size (protocol.md §2) and where its counter sits. */
const HEADER_BYTES = 16;
const COUNTER_OFFSET = 8;

function measure(name: string, bytesPerOp: number, op: () => void): void {
  for (let i = 0; i < 20; i++) op(); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(RUN_MS) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    op();
    n++;
    if ((n & 15) === 0) now = process.hrtime.bigint();
  }
  now = process.hrtime.bigint();
  const seconds = Number(now - start) / 1e9;
  const rate = n / seconds;
  const mbps = bytesPerOp > 0 ? ` ${((rate * bytesPerOp) / 1e6).toFixed(0).padStart(6)} MB/s` : '';
  const ns = ` ${(1e9 / rate).toFixed(0).padStart(8)} ns/op`;
  console.log(`${name.padEnd(44)} ${rate.toFixed(0).padStart(9)} op/s${ns}${mbps}`);
}

function benchAead(impl: AeadImpl, alg: AeadAlgorithm, size: number): void {
  const key = randomBytes(32);
  const sealer = new AeadSealer(alg, key, { impl });
  const opener = new AeadOpener(alg, key, { impl });
  const buf = new Uint8Array(HEADER_BYTES + size + AEAD_TAG_BYTES);
  buf.set(randomBytes(size), HEADER_BYTES);
  measure(`[${impl}] seal ${alg} ${size} B`, size, () => {
    sealer.sealInPlace(buf, 0, HEADER_BYTES, COUNTER_OFFSET, size);
  });
  const counter = sealer.sealInPlace(buf, 0, HEADER_BYTES, COUNTER_OFFSET, size);
  const header = buf.subarray(0, HEADER_BYTES);
  const sealed = buf.subarray(HEADER_BYTES);
  const out = new Uint8Array(size);
  // Into `out` (no result allocation), and as the session calls it (a fresh result per frame).
  measure(`[${impl}] open ${alg} ${size} B, fresh result`, size, () => {
    if (opener.open(header, counter, sealed) === null) throw new Error('bench: open failed');
  });
  measure(`[${impl}] open ${alg} ${size} B`, size, () => {
    if (opener.open(header, counter, sealed, out) === null) throw new Error('bench: open failed');
  });
}

function benchHybrid(backend: PqBackend): void {
  const kp = HybridKemKeyPair.generate(undefined, backend);
  const signer = HybridSigner.generate(backend);
  const msg = randomBytes(64);
  const sig = signer.sign('bench', msg);
  const { cipherText } = hybridEncapsulate(kp.publicKey, undefined, backend);
  measure(`[${backend.name}] hybrid KEM keygen`, 0, () => HybridKemKeyPair.generate(undefined, backend).destroy());
  measure(`[${backend.name}] hybrid encapsulate`, 0, () => hybridEncapsulate(kp.publicKey, undefined, backend));
  measure(`[${backend.name}] hybrid decapsulate`, 0, () => kp.decapsulate(cipherText));
  measure(`[${backend.name}] hybrid sign`, 0, () => signer.sign('bench', msg));
  measure(`[${backend.name}] hybrid verify`, 0, () => hybridVerify(signer.publicKey, 'bench', msg, sig, backend));
}

console.log(`Node ${process.version}, ${RUN_MS} ms per case; native AEAD addon: ${nativeAeadAvailable() ? 'loaded' : nativeAeadUnavailableReason()}`);
const impls: AeadImpl[] = nativeAeadAvailable() ? ['js', 'native'] : ['js'];
for (const alg of ['chacha20-poly1305', 'aes-256-gcm'] as const) {
  for (const size of [64, 1400, 65536]) for (const impl of impls) benchAead(impl, alg, size);
}
if (!process.argv.includes('--aead-only')) {
  benchHybrid(getPqBackend('noble'));
  if (nativePqAvailable()) benchHybrid(getPqBackend('node'));
}
