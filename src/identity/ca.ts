/**
 * The network CA directory (docs/architecture.md "Identity and membership"):
 *
 *     CADIR/            mode 0700 when we create it
 *     CADIR/ca.key      0600, armored "SHADOWMESH PRIVATE KEY" of kind CA
 *                       (sealed-seed.ts), optionally passphrase-encrypted
 *     CADIR/ca.crt      the self-signed CA certificate: give it to every
 *                       relay and node
 *     CADIR/crl         the current signed revocation list; starts empty at
 *                       number 0, +1 at every revokeMembers
 *     CADIR/issued/     a copy of every member certificate, <peer id>.crt
 *     CADIR/lock        exists while a command changes the directory
 *     CADIR/tokens/     join tokens (src/enroll/token-store.ts)
 *     CADIR/policy-version, CADIR/policy.signed
 *                       the last network policy version signed and a copy
 *                       of it (src/policy/ca-policy.ts)
 *     CADIR/tls-key.pem the enrollment service's TLS key, CADIR/enroll-endpoint
 *                       where it listens (src/cli/ca-enroll.ts)
 *
 * Operations take the lock (SM_ERR_CA_BUSY when another holds it), so two
 * concurrent revocations cannot lose one another's entries. signMember
 * refuses a revoked key, a name or mesh address already held by another
 * live (unrevoked, and unexpired even by the verifiers' clock-skew
 * allowance) certificate of this CA, and a validity outliving the CA. The
 * CA key is loaded only for the operation and wiped afterwards.
 *
 * Subnet routes (cert-routes.ts, docs/architecture.md "Subnet routes"):
 * signMember also refuses a route that overlaps a mesh subnet or a route of
 * another live certificate (SM_ERR_CERT_ROUTE_IN_USE), so an address has at
 * most one owner in the mesh.
 *
 * Re-signing a key whose certificate is still live is a renewal and must
 * keep that certificate's name and every one of its addresses and routes
 * (it may add some) and must not end sooner (SM_ERR_CERT_RENEWAL). issued/ keeps one
 * certificate per key, and the older one stays valid until it expires: a
 * new name, a dropped address or an earlier end would let the older
 * certificate hold what issued/ shows as free, and a second member could be
 * given the same address. Revocation is by peer id and would take the new
 * certificate with it, so it cannot be done "in the same step": to move a
 * member to another name or address, revoke it (`ca revoke`) and sign a new
 * key, or wait until its certificate expires. The rule holds by induction:
 * the certificate in issued/ always holds at least the name, addresses and
 * lifetime of every earlier live certificate of its key.
 *
 * The enrollment service (src/enroll/enroll.ts; docs/architecture.md
 * "Enrollment") holds the lock itself (withCaLock) to check and spend a
 * join token, pick a pool address free of every live certificate
 * (liveAddressHosts) and sign (signMemberLocked) in one step: pool and
 * manual signing share these rules, so no address is ever held by two
 * live certificates.
 *
 * initCa with `force` replaces the key, so every certificate issued before
 * becomes worthless; issued/ is left in place for the record.
 */
import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, IdentityError } from '../errors.js';
import { equalBytes, wipe } from '../crypto/bytes.js';
import { HybridSigner, HYBRID_SIGN_PUBLIC_BYTES } from '../crypto/hybrid-sign.js';
import { ArmorLabel, decodeArmor, encodeArmor } from './armor.js';
import { issueCaCertificate, issueMemberCertificate, type CaCertificate, type MemberCertificate } from './certificate.js';
import { IdentityCode } from './identity-errors.js';
import { parseCidr } from './cidr.js';
import { parseRoute, prefixesOverlap } from './cert-routes.js';
import { loadCaCertificate, loadMemberCertificate, loadRevocationList, saveCaCertificate, saveMemberCertificate, saveRevocationList } from './files.js';
import { CERT_CLOCK_SKEW_MS } from './membership.js';
import { formatPeerId, PEER_ID_BYTES, peerIdFromPublicKey, shortId } from './peer-id.js';
import { issueRevocationList, type RevocationList } from './revocation.js';
import { openSeed, sealSeed, SeedKind } from './sealed-seed.js';
import { ensurePrivateDir, fileError, pathExists, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, readPrivateFile, writeFileAtomic } from './secure-files.js';

export const CA_KEY_FILE = 'ca.key';
export const CA_CERT_FILE = 'ca.crt';
export const CA_CRL_FILE = 'crl';
export const CA_ISSUED_DIR = 'issued';
export const CA_LOCK_FILE = 'lock';

export const DEFAULT_CA_NAME = 'ShadowMesh network CA';
/** Default CA lifetime: 10 years. Replacing a CA means re-issuing every member certificate, so it should be rare. */
export const DEFAULT_CA_VALID_MS = 3650 * 24 * 60 * 60 * 1000;
/** Default member certificate lifetime: 1 year, renewed by signing again. */
export const DEFAULT_MEMBER_VALID_MS = 365 * 24 * 60 * 60 * 1000;

function checkDir(fn: string, dir: string): void {
  if (typeof dir !== 'string' || dir.length === 0) throw new ConfigError('SM_ERR_CONFIG_DIR', `${fn} dir: expected a non-empty path`);
}

function checkPositiveMs(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new ConfigError('SM_ERR_CONFIG_DURATION', `${name}: expected a positive number of milliseconds, got ${String(v)}`);
  return v;
}

function checkNow(name: string, v: unknown): number {
  if (v === undefined) return Date.now();
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConfigError('SM_ERR_CONFIG_NOW', `${name}: expected Unix milliseconds, got ${String(v)}`);
  return v;
}

/** Runs `fn` while holding CADIR/lock (SM_ERR_CA_BUSY at once when another holds it). */
export async function withCaLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = join(dir, CA_LOCK_FILE);
  let handle;
  try {
    handle = await open(lockPath, 'wx', PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'EEXIST') {
      throw new IdentityError(IdentityCode.CA_BUSY, `${dir} is locked by another ca command (remove ${lockPath} if none is running)`);
    }
    if ((err as { code?: unknown }).code === 'ENOENT') {
      throw new IdentityError(IdentityCode.MISSING, `no CA directory at ${dir}: create one with shadowmesh ca init --dir ${dir}`, { cause: err });
    }
    throw fileError('lock', lockPath, err);
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

/** Loads the CA certificate and its key, checking that they belong together. The caller destroys the signer. */
export async function loadCa(dir: string, passphrase: string | undefined): Promise<{ ca: CaCertificate; signer: HybridSigner }> {
  const ca = await loadCaCertificate(join(dir, CA_CERT_FILE));
  const keyPath = join(dir, CA_KEY_FILE);
  const file = await readPrivateFile(keyPath);
  let body: Uint8Array | undefined;
  let seed: Uint8Array | undefined;
  let signer: HybridSigner;
  try {
    try {
      body = decodeArmor(file.toString('utf8'), ArmorLabel.PRIVATE_KEY);
    } catch (err) {
      throw new IdentityError(IdentityCode.CORRUPT, `${keyPath}: ${(err as Error).message}`, { cause: err });
    }
    seed = await openSeed(body, SeedKind.Ca, keyPath, passphrase);
    signer = HybridSigner.fromSeed(seed);
  } finally {
    file.fill(0);
    wipe(body, seed);
  }
  if (!equalBytes(signer.publicKey, ca.publicKey)) {
    signer.destroy();
    throw new IdentityError(IdentityCode.CORRUPT, `${keyPath} does not match ${join(dir, CA_CERT_FILE)}`);
  }
  return { ca, signer };
}

/** Creates a CA in `dir`: key, self-signed certificate, empty revocation list #0. SM_ERR_ID_EXISTS unless `force`. */
export async function initCa(
  dir: string,
  options: { name?: string; domain?: string; validMs?: number; passphrase?: string; force?: boolean; nowMs?: number } = {},
): Promise<CaCertificate> {
  checkDir('initCa', dir);
  const name = options.name ?? DEFAULT_CA_NAME;
  const validMs = checkPositiveMs('initCa validMs', options.validMs ?? DEFAULT_CA_VALID_MS);
  const nowMs = checkNow('initCa nowMs', options.nowMs);
  const keyPath = join(dir, CA_KEY_FILE);
  if (options.force !== true && (await pathExists(keyPath))) {
    throw new IdentityError(IdentityCode.EXISTS, `a CA already exists at ${keyPath}; refusing to replace it without force`);
  }
  await ensurePrivateDir(dir);
  return withCaLock(dir, async () => {
    const signer = HybridSigner.generate();
    let seed: Uint8Array | undefined;
    try {
      const ca = issueCaCertificate(signer, { name, notBeforeMs: nowMs, notAfterMs: nowMs + validMs, ...(options.domain !== undefined ? { domain: options.domain } : {}) });
      const crl = issueRevocationList(signer, ca, { number: 0, issuedAtMs: nowMs, peerIds: [] });
      seed = signer.exportSeed();
      const body = await sealSeed(seed, SeedKind.Ca, options.passphrase);
      const text = encodeArmor(ArmorLabel.PRIVATE_KEY, body);
      wipe(body);
      try {
        await writeFileAtomic(keyPath, text, { mode: PRIVATE_FILE_MODE, noClobber: options.force !== true });
      } catch (err) {
        if ((err as IdentityError).code === IdentityCode.EXISTS) throw new IdentityError(IdentityCode.EXISTS, `a CA already exists at ${keyPath}; refusing to replace it without force`);
        throw err;
      }
      await saveCaCertificate(join(dir, CA_CERT_FILE), ca);
      await saveRevocationList(join(dir, CA_CRL_FILE), crl);
      try {
        await mkdir(join(dir, CA_ISSUED_DIR), { mode: PRIVATE_DIR_MODE, recursive: true });
      } catch (err) {
        throw fileError('create directory', join(dir, CA_ISSUED_DIR), err);
      }
      return ca;
    } finally {
      wipe(seed);
      signer.destroy();
    }
  });
}

/**
 * True while some verifier may still accept `cert`: verifiers allow
 * CERT_CLOCK_SKEW_MS past notAfter (membership.ts), so what it holds is not
 * free before then.
 */
function isLive(cert: MemberCertificate, nowMs: number): boolean {
  return cert.notAfterMs + CERT_CLOCK_SKEW_MS >= nowMs;
}

/** Live certificates of this CA in issued/, other than those of `exceptPeerId`. Undecodable files are skipped. */
async function liveIssued(dir: string, ca: CaCertificate, crl: RevocationList, exceptPeerId: Uint8Array, nowMs: number): Promise<MemberCertificate[]> {
  const issuedDir = join(dir, CA_ISSUED_DIR);
  let names: string[];
  try {
    names = await readdir(issuedDir);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return [];
    throw fileError('list', issuedDir, err);
  }
  const revoked = new Set(crl.peerIds.map((id) => formatPeerId(id)));
  const out: MemberCertificate[] = [];
  for (const n of names) {
    if (!n.endsWith('.crt')) continue;
    let cert: MemberCertificate;
    try {
      cert = await loadMemberCertificate(join(issuedDir, n));
    } catch {
      continue;
    }
    if (!equalBytes(cert.caId, ca.caId) || equalBytes(cert.peerId, exceptPeerId)) continue;
    if (!isLive(cert, nowMs) || revoked.has(formatPeerId(cert.peerId))) continue;
    out.push(cert);
  }
  return out;
}

function hostOf(cidr: string): string {
  return cidr.slice(0, cidr.indexOf('/'));
}

/** The certificate issued/ records for `peerId` (of this CA), or null when there is none or it does not decode. */
async function issuedFor(dir: string, ca: CaCertificate, peerId: Uint8Array): Promise<MemberCertificate | null> {
  const path = join(dir, CA_ISSUED_DIR, `${formatPeerId(peerId)}.crt`);
  if (!(await pathExists(path))) return null;
  let cert: MemberCertificate;
  try {
    cert = await loadMemberCertificate(path);
  } catch {
    return null;
  }
  return equalBytes(cert.caId, ca.caId) ? cert : null;
}

/** How a route of `cert` overlaps what `other` holds (its mesh subnets or routes), or undefined. */
function firstRouteOverlap(cert: MemberCertificate, other: MemberCertificate): string | undefined {
  const theirs = [...other.addresses.map((a) => ({ what: 'the mesh subnet of address', cidr: parseCidr(a) })), ...other.routes.map((r) => ({ what: 'the route', cidr: parseRoute(r) }))];
  for (const text of cert.routes) {
    const mine = parseRoute(text);
    const hit = theirs.find((t) => prefixesOverlap(mine, t.cidr));
    if (hit !== undefined) return `route ${text} overlaps ${hit.what} ${hit.cidr.text}`;
  }
  // Our own mesh subnets must not fall inside the other member's routes either.
  for (const text of cert.addresses) {
    const mine = parseCidr(text);
    const hit = other.routes.find((r) => prefixesOverlap(mine, parseRoute(r)));
    if (hit !== undefined) return `address ${text} lies in the route ${hit}`;
  }
  return undefined;
}

/** A renewal of a live certificate keeps its name and addresses and does not end sooner (see the header). */
function checkRenewal(previous: MemberCertificate, next: MemberCertificate): void {
  const until = new Date(previous.notAfterMs).toISOString();
  const fix = `revoke it first (shadowmesh ca revoke --peer ${formatPeerId(previous.peerId)}) and sign a new key, or wait until it expires at ${until}`;
  const held = `this key holds a live certificate "${previous.name}" (${previous.addresses.join(', ')}) until ${until}`;
  if (next.name !== previous.name) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `${held}; re-signing it must keep the name "${previous.name}": ${fix}`);
  }
  const kept = new Set(next.addresses.map(hostOf));
  const dropped = previous.addresses.map(hostOf).filter((h) => !kept.has(h));
  if (dropped.length > 0) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `${held}; re-signing it must keep the address(es) ${dropped.join(', ')}: ${fix}`);
  }
  const droppedRoutes = previous.routes.filter((r) => !next.routes.includes(r));
  if (droppedRoutes.length > 0) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `${held}; re-signing it must keep the route(s) ${droppedRoutes.join(', ')}: ${fix}`);
  }
  // The older certificate stays valid with its exit flag, so a renewal without it would take nothing away.
  if (previous.exit && !next.exit) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `${held}; re-signing it must keep the exit-node mark (--exit): ${fix}`);
  }
  if (next.notAfterMs < previous.notAfterMs) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `${held}; a renewal must not end sooner (it would end ${new Date(next.notAfterMs).toISOString()}): choose a longer --valid, or ${fix}`);
  }
}

/**
 * Issues a member certificate for `publicKey`, valid from now for `validMs`
 * (default 365 days), and records it in issued/. Re-signing a key whose
 * certificate is live is a renewal: same name, every address kept (more may
 * be added), not ending sooner; anything else is SM_ERR_CERT_RENEWAL (see
 * the header).
 */
export async function signMember(
  caDir: string,
  options: { name: string; addresses: string[]; groups?: string[]; routes?: string[]; exit?: boolean; validMs?: number; publicKey: Uint8Array; passphrase?: string; nowMs?: number },
): Promise<MemberCertificate> {
  checkDir('signMember', caDir);
  if (options === null || typeof options !== 'object') throw new ConfigError('SM_ERR_CONFIG_OPTIONS', 'signMember options: expected an object');
  const validMs = checkPositiveMs('signMember validMs', options.validMs ?? DEFAULT_MEMBER_VALID_MS);
  const nowMs = checkNow('signMember nowMs', options.nowMs);
  if (!(options.publicKey instanceof Uint8Array) || options.publicKey.length !== HYBRID_SIGN_PUBLIC_BYTES) {
    throw new ConfigError('SM_ERR_CONFIG_PUBLIC_KEY', `signMember publicKey: expected ${HYBRID_SIGN_PUBLIC_BYTES} bytes`);
  }
  return withCaLock(caDir, () => signMemberLocked(caDir, { ...options, validMs, nowMs }));
}

/**
 * signMember's work, for a caller that already holds the CA lock
 * (withCaLock) and does more under it in the same step: the enrollment
 * service checks and spends a join token and picks a pool address
 * (src/enroll/enroll.ts). The same rules hold: no name or address of
 * another live certificate, renewals keep what they held.
 */
export async function signMemberLocked(
  caDir: string,
  options: { name: string; addresses: string[]; groups?: string[]; routes?: string[]; exit?: boolean; validMs: number; publicKey: Uint8Array; passphrase?: string; nowMs: number },
): Promise<MemberCertificate> {
  const { validMs, nowMs } = options;
  const peerId = peerIdFromPublicKey(options.publicKey);
  const { ca, signer } = await loadCa(caDir, options.passphrase);
  try {
    if (nowMs > ca.notAfterMs) throw new IdentityError(IdentityCode.CERT_EXPIRED, `the CA in ${caDir} expired at ${new Date(ca.notAfterMs).toISOString()}`);
    const crl = await loadRevocationList(join(caDir, CA_CRL_FILE), ca);
    if (crl.peerIds.some((id) => equalBytes(id, peerId))) {
      throw new IdentityError(IdentityCode.CERT_REVOKED, `peer ${formatPeerId(peerId)} is revoked; refusing to sign its key again`);
    }
    const cert = issueMemberCertificate(signer, ca, {
      name: options.name,
      addresses: options.addresses,
      groups: options.groups ?? [],
      routes: options.routes ?? [],
      ...(options.exit === true ? { exit: true } : {}),
      publicKey: options.publicKey,
      notBeforeMs: nowMs,
      notAfterMs: nowMs + validMs,
    });
    const previous = await issuedFor(caDir, ca, peerId);
    if (previous !== null && isLive(previous, nowMs)) checkRenewal(previous, cert);
    for (const other of await liveIssued(caDir, ca, crl, peerId, nowMs)) {
      if (other.name === cert.name) {
        throw new IdentityError(IdentityCode.CERT_NAME_IN_USE, `name "${cert.name}" is already held by peer ${shortId(other.peerId)}; revoke it first or choose another name`);
      }
      const taken = new Set(other.addresses.map(hostOf));
      const clash = cert.addresses.find((a) => taken.has(hostOf(a)));
      if (clash !== undefined) {
        throw new IdentityError(IdentityCode.CERT_ADDRESS_IN_USE, `address ${hostOf(clash)} is already held by "${other.name}" (peer ${shortId(other.peerId)}); revoke it first or choose another address`);
      }
      const routeClash = firstRouteOverlap(cert, other);
      if (routeClash !== undefined) {
        throw new IdentityError(IdentityCode.CERT_ROUTE_IN_USE, `${routeClash} of "${other.name}" (peer ${shortId(other.peerId)}); revoke it first or choose another route`);
      }
    }
    await saveMemberCertificate(join(caDir, CA_ISSUED_DIR, `${formatPeerId(peerId)}.crt`), cert);
    return cert;
  } finally {
    signer.destroy();
  }
}

/**
 * The host addresses (no prefix) held by live, unrevoked certificates of
 * this CA in issued/; call it under the CA lock so the answer cannot go
 * stale before it is used (the address pool, src/enroll/address-pool.ts).
 */
export async function liveAddressHosts(caDir: string, nowMs: number): Promise<Set<string>> {
  const ca = await loadCaCertificate(join(caDir, CA_CERT_FILE));
  const crl = await loadRevocationList(join(caDir, CA_CRL_FILE), ca);
  const out = new Set<string>();
  for (const cert of await liveIssued(caDir, ca, crl, new Uint8Array(PEER_ID_BYTES), nowMs)) for (const a of cert.addresses) out.add(hostOf(a));
  return out;
}

/** Adds peer ids to the revocation list and writes it with the next number. Returns the new list. */
export async function revokeMembers(caDir: string, peerIds: Uint8Array[], options: { passphrase?: string; nowMs?: number } = {}): Promise<RevocationList> {
  checkDir('revokeMembers', caDir);
  if (!Array.isArray(peerIds) || peerIds.length === 0) throw new ConfigError('SM_ERR_CONFIG_PEER_ID', 'revokeMembers peerIds: expected at least one peer id');
  for (const id of peerIds) {
    if (!(id instanceof Uint8Array) || id.length !== PEER_ID_BYTES) throw new ConfigError('SM_ERR_CONFIG_PEER_ID', `revokeMembers peerIds: expected ${PEER_ID_BYTES}-byte ids`);
  }
  const nowMs = checkNow('revokeMembers nowMs', options.nowMs);
  return withCaLock(caDir, async () => {
    const { ca, signer } = await loadCa(caDir, options.passphrase);
    try {
      const current = await loadRevocationList(join(caDir, CA_CRL_FILE), ca);
      const next = issueRevocationList(signer, ca, { number: current.number + 1, issuedAtMs: nowMs, peerIds: [...current.peerIds, ...peerIds] });
      await saveRevocationList(join(caDir, CA_CRL_FILE), next);
      return next;
    } finally {
      signer.destroy();
    }
  });
}

/**
 * The live certificate issued/ records for `publicKey`, or null: lets the
 * enrollment service answer a repeated join of the same key (its answer was
 * lost) with the addresses it already holds, as a renewal must keep them.
 * Call it under the CA lock.
 */
export async function liveCertificateOf(caDir: string, publicKey: Uint8Array, nowMs: number): Promise<MemberCertificate | null> {
  const ca = await loadCaCertificate(join(caDir, CA_CERT_FILE));
  const cert = await issuedFor(caDir, ca, peerIdFromPublicKey(publicKey));
  return cert !== null && isLive(cert, nowMs) ? cert : null;
}
