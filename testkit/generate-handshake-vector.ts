/**
 * Writes test/vectors/handshake-v1.json. Run by hand only, when the protocol
 * version changes: `npm run build && node dist/testkit/generate-handshake-vector.js --force`.
 * Without --force it refuses to replace the committed file: vectors are never
 * regenerated silently (the CA signatures in the certificates are hedged, so
 * every run produces different bytes).
 * The test suite never runs it; it replays the committed file instead.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { HybridSigner } from '../src/crypto/hybrid-sign.js';
import { toHex } from '../src/crypto/bytes.js';
import { issueCaCertificate, issueMemberCertificate } from '../src/identity/certificate.js';
import { runHandshakeVector, type HandshakeVectorInputs } from './handshake-vector.js';

function seed(byte: number, n: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

const t0 = Date.UTC(2026, 0, 1);
const caSigner = HybridSigner.fromSeed(seed(0xca, 64));
const ca = issueCaCertificate(caSigner, { name: 'vector network', notBeforeMs: t0, notAfterMs: t0 + 100 * 365 * 86_400_000 });
const iSigner = HybridSigner.fromSeed(seed(0x11, 64));
const rSigner = HybridSigner.fromSeed(seed(0x22, 64));
const cert = (name: string, ip: string, s: HybridSigner) =>
  issueMemberCertificate(caSigner, ca, { name, addresses: [ip], publicKey: s.publicKey, notBeforeMs: t0, notAfterMs: t0 + 99 * 365 * 86_400_000, serial: seed(name.length, 16) });
const inputs: HandshakeVectorInputs = {
  caCert: toHex(ca.raw),
  initiatorSeed: toHex(seed(0x11, 64)),
  initiatorCert: toHex(cert('initiator', '10.10.10.1/24', iSigner).raw),
  responderSeed: toHex(seed(0x22, 64)),
  responderCert: toHex(cert('responder', '10.10.10.2/24', rSigner).raw),
  kemSeed: toHex(seed(0x33, 96)),
  encapsSeed: toHex(seed(0x44, 64)),
  nonce: toHex(seed(0x55, 32)),
  initiatorIndex: 0x01020304,
  responderIndex: 0x0a0b0c0d,
  timestampMs: t0 + 1000,
  nowMs: t0 + 2000,
};
const out = new URL('../../test/vectors/handshake-v1.json', import.meta.url);
if (existsSync(out) && !process.argv.includes('--force')) {
  console.error(`${out.pathname} exists; pass --force to replace it (a protocol version change)`);
  process.exit(1);
}
const outputs = runHandshakeVector(inputs);
writeFileSync(out, JSON.stringify({ description: 'ShadowMesh peer handshake v1, fixed inputs -> fixed outputs (docs/handshake.md §5)', inputs, outputs }, null, 1) + '\n');
console.log(`wrote ${out.pathname}`);
