// Generates test/vectors/hybrid.json: regression vectors for OUR hybrid
// constructions (hybrid-kem.ts combiner and layouts, hybrid-sign.ts domain
// separation and layouts). Unlike mlkem1024.json / mldsa87.json these are
// produced by our own code, so they prove no correctness on their own (the
// unit tests recompute the combiner independently); they pin the bytes so
// that any change to a label, layout or combiner is caught and must come with
// a version bump. Never regenerate them to make a failing test pass.
//
// Run by hand after `npx tsc -p tsconfig.json`:
//   node test/vectors/generate-hybrid.mjs

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const c = await import(join(here, '..', '..', 'dist', 'src', 'crypto', 'index.js'));
const backend = c.getPqBackend('noble');
const shake = (await import('node:crypto')).createHash;
const derive = (label, n) => new Uint8Array(shake('shake256', { outputLength: n }).update(label).digest());

const kem = [0, 1].map((i) => {
  const keySeed = derive(`shadowmesh hybrid-kem key seed ${i}`, 96);
  const encSeed = derive(`shadowmesh hybrid-kem encaps seed ${i}`, 64);
  const kp = c.HybridKemKeyPair.generate(keySeed, backend);
  const { cipherText, sharedSecret } = c.hybridEncapsulate(kp.publicKey, encSeed, backend);
  return {
    keySeed: c.toHex(keySeed),
    encapsSeed: c.toHex(encSeed),
    publicKeySha256: c.toHex(c.sha256(kp.publicKey)),
    cipherTextSha256: c.toHex(c.sha256(cipherText)),
    sharedSecret: c.toHex(sharedSecret),
  };
});

const sign = [
  { context: 'relay-auth', message: '' },
  { context: 'member-cert', message: c.toHex(c.utf8('shadowmesh hybrid signature vector')) },
].map((v, i) => {
  const seed = derive(`shadowmesh hybrid-sign seed ${i}`, 64);
  const s = c.HybridSigner.fromSeed(seed, backend);
  const sig = s.sign(v.context, c.fromHex(v.message), new Uint8Array(32));
  return {
    seed: c.toHex(seed),
    context: v.context,
    message: v.message,
    rnd: '00'.repeat(32),
    publicKeySha256: c.toHex(c.sha256(s.publicKey)),
    signatureSha256: c.toHex(c.sha256(sig)),
    ed25519Signature: c.toHex(sig.subarray(0, 64)),
  };
});

const out = {
  what: 'ShadowMesh hybrid KEM (shadowmesh-hybrid-kem-v1) and hybrid signature (shadowmesh-sig-v1) regression vectors',
  generator: { script: 'test/vectors/generate-hybrid.mjs', node: process.version, pqBackend: backend.name },
  notes: [
    'Self-generated regression vectors (see SOURCES.md): they pin bytes, they do not prove correctness.',
    'Seeds are SHAKE-256 of the labels in generate-hybrid.mjs. Signatures use rnd = 32 zero bytes (deterministic ML-DSA).',
  ],
  kem,
  sign,
};
writeFileSync(join(here, 'hybrid.json'), JSON.stringify(out, null, 1) + '\n');
console.log('wrote hybrid.json');
