/**
 * Many member identities for the relay scale benchmark (bench/relay-scale.ts;
 * docs/architecture.md "Relay cluster"): a real network CA and N members,
 * each a real hybrid (Ed25519 + ML-DSA-87) key seed and a member certificate
 * the CA signed, made in parallel worker threads (ML-DSA-87 key generation
 * and signing are the slow part on Node 20) and cached under the OS temp
 * directory, keyed by the count, so a rerun starts at once.
 *
 *     const ids = await loadOrMakeIdentities(10_000, (done) => log(`${done}`));
 *     // ids.caFile: the CA certificate for `relay --ca`
 *     // ids.members[i]: { seed, certRaw, peerId }
 *
 * The cache holds secret seeds of throwaway members of a throwaway CA, in a
 * directory only this user reads (0700). Certificates are valid 30 days
 * from their making; an older cache is made again. A run asking for fewer
 * members than a valid cache holds takes that cache's first N (same CA),
 * so a 10,000-member cache serves quick runs at 2,000 or 3,000 too.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { HybridSigner, HYBRID_SIGN_SEED_BYTES } from '../src/crypto/hybrid-sign.js';
import { randomBytes } from '../src/crypto/bytes.js';
import { decodeCaCertificate, decodeMemberCertificate, issueCaCertificate, issueMemberCertificate } from '../src/identity/certificate.js';
import { saveCaCertificate } from '../src/identity/files.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates made for the benchmark are valid this long; the cache is remade a day before. */
const VALID_MS = 30 * DAY_MS;
const CACHE_VERSION = 1;

export interface ScaleMember {
  seed: Uint8Array;
  certRaw: Uint8Array;
  peerId: Uint8Array;
}

export interface ScaleIdentities {
  dir: string;
  caFile: string;
  members: ScaleMember[];
  /** True when they came from the cache. */
  cached: boolean;
}

interface Job {
  caSeed: Uint8Array;
  caRaw: Uint8Array;
  from: number;
  to: number;
  notBeforeMs: number;
  notAfterMs: number;
}

/** The address of member i: unique up to 65,536 members. */
function address(i: number): string {
  return `10.${(i >> 8) & 255}.${i & 255}.1/8`;
}

function makeRange(job: Job, progress: (n: number) => void): Uint8Array[] {
  const ca = decodeCaCertificate(job.caRaw);
  const caSigner = HybridSigner.fromSeed(job.caSeed);
  const out: Uint8Array[] = [];
  for (let i = job.from; i < job.to; i++) {
    const seed = randomBytes(HYBRID_SIGN_SEED_BYTES);
    const signer = HybridSigner.fromSeed(seed);
    const cert = issueMemberCertificate(caSigner, ca, { name: `m${i}`, addresses: [address(i)], publicKey: signer.publicKey, notBeforeMs: job.notBeforeMs, notAfterMs: job.notAfterMs });
    signer.destroy();
    const rec = new Uint8Array(HYBRID_SIGN_SEED_BYTES + 4 + cert.raw.length);
    rec.set(seed, 0);
    new DataView(rec.buffer).setUint32(HYBRID_SIGN_SEED_BYTES, cert.raw.length);
    rec.set(cert.raw, HYBRID_SIGN_SEED_BYTES + 4);
    out.push(rec);
    if ((i - job.from) % 50 === 49) progress(50);
  }
  caSigner.destroy();
  return out;
}

function parseRecords(bytes: Uint8Array): ScaleMember[] {
  const members: ScaleMember[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off < bytes.length;) {
    const seed = bytes.slice(off, off + HYBRID_SIGN_SEED_BYTES);
    const len = view.getUint32(off + HYBRID_SIGN_SEED_BYTES);
    const certRaw = bytes.slice(off + HYBRID_SIGN_SEED_BYTES + 4, off + HYBRID_SIGN_SEED_BYTES + 4 + len);
    members.push({ seed, certRaw, peerId: decodeMemberCertificate(certRaw).peerId });
    off += HYBRID_SIGN_SEED_BYTES + 4 + len;
  }
  return members;
}

const CACHE_PREFIX = `shadowmesh-bench-scale-v${CACHE_VERSION}-`;

/** The first `count` members of the cache in `dir`, if it is valid and holds at least that many. */
function loadCached(dir: string, count: number): ScaleIdentities | null {
  const caFile = join(dir, 'ca.crt');
  const membersFile = join(dir, 'members.bin');
  const metaFile = join(dir, 'meta.json');
  if (!(existsSync(metaFile) && existsSync(membersFile) && existsSync(caFile))) return null;
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { count: number; notAfterMs: number };
  if (!(meta.count >= count && meta.notAfterMs - DAY_MS > Date.now())) return null;
  const members = parseRecords(new Uint8Array(readFileSync(membersFile)));
  if (members.length !== meta.count) return null;
  return { dir, caFile, members: members.slice(0, count), cached: true };
}

export async function loadOrMakeIdentities(count: number, progress: (done: number) => void = () => undefined): Promise<ScaleIdentities> {
  const dir = join(tmpdir(), `${CACHE_PREFIX}${count}`);
  const exact = loadCached(dir, count);
  if (exact !== null) return exact;
  // A larger cache serves a smaller run: the smallest one that is large enough.
  const larger = readdirSync(tmpdir())
    .filter((name) => name.startsWith(CACHE_PREFIX))
    .map((name) => Number(name.slice(CACHE_PREFIX.length)))
    .filter((n) => Number.isInteger(n) && n > count)
    .sort((a, b) => a - b);
  for (const n of larger) {
    const found = loadCached(join(tmpdir(), `${CACHE_PREFIX}${n}`), count);
    if (found !== null) return found;
  }
  const caFile = join(dir, 'ca.crt');
  const membersFile = join(dir, 'members.bin');
  const metaFile = join(dir, 'meta.json');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const notBeforeMs = Date.now() - DAY_MS;
  const notAfterMs = notBeforeMs + VALID_MS;
  const caSeed = randomBytes(HYBRID_SIGN_SEED_BYTES);
  const caSigner = HybridSigner.fromSeed(caSeed);
  const ca = issueCaCertificate(caSigner, { name: 'relay scale benchmark', notBeforeMs: notBeforeMs - DAY_MS, notAfterMs: notAfterMs + DAY_MS });
  caSigner.destroy();
  const workers = Math.max(1, Math.min(availableParallelism(), 8));
  const per = Math.ceil(count / workers);
  let done = 0;
  const parts = await Promise.all(Array.from({ length: workers }, (_, w) => {
    const job: Job = { caSeed, caRaw: ca.raw, from: w * per, to: Math.min(count, (w + 1) * per), notBeforeMs, notAfterMs };
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const worker = new Worker(fileURLToPath(import.meta.url), { workerData: job });
      worker.on('message', (m: { progress?: number; records?: Uint8Array[] }) => {
        if (m.progress !== undefined) progress((done += m.progress));
        if (m.records !== undefined) resolve(m.records);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => (code !== 0 ? reject(new Error(`identity worker exited ${code}`)) : undefined));
    });
  }));
  const records = parts.flat();
  const all = new Uint8Array(records.reduce((a, r) => a + r.length, 0));
  let off = 0;
  for (const r of records) {
    all.set(r, off);
    off += r.length;
  }
  await saveCaCertificate(caFile, ca);
  writeFileSync(membersFile, all, { mode: 0o600 });
  writeFileSync(metaFile, JSON.stringify({ count, notAfterMs }));
  return { dir, caFile, members: parseRecords(all), cached: false };
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const records = makeRange(workerData as Job, (n) => port.postMessage({ progress: n }));
  port.postMessage({ records });
}
