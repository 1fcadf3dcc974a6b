/**
 * The CA side of a join (docs/architecture.md "Enrollment"), one locked
 * step on the CA directory: check the token (known, secret, unexpired, a
 * use left), pick the lowest free pool address, sign the member
 * certificate (src/identity/ca.ts signMemberLocked: the same rules as
 * `ca sign`, so pool and manual signing never give one address to two live
 * certificates), then spend the token's use. Anything refused spends
 * nothing. The proof of possession is checked by the caller before this
 * (it needs the TLS connection).
 *
 * The CA lock is taken with a short bounded wait (LOCK_ATTEMPTS), so joins
 * queued behind a running `ca token` or `ca revoke` do not fail at once;
 * the service also runs joins one at a time.
 *
 * A key that already holds a live certificate (a join repeated because its
 * answer was lost) is signed again with the addresses it holds. renewMember
 * is the same step for a member authenticated by its certificate's key
 * instead of a token.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { IdentityError } from '../errors.js';
import { CA_CERT_FILE, CA_CRL_FILE, liveAddressHosts, liveCertificateOf, signMemberLocked, withCaLock } from '../identity/ca.js';
import type { MemberCertificate } from '../identity/certificate.js';
import { IdentityCode } from '../identity/identity-errors.js';
import { readPublicFile } from '../identity/secure-files.js';
import { loadCaCertificate, loadRevocationList } from '../identity/files.js';
import { MembershipVerifier } from '../identity/membership.js';
import { lowestFreeAddress, type AddressPool } from './address-pool.js';
import type { JoinRequest } from './join-request.js';
import { checkTokenLocked, spendTokenUseLocked } from './token-store.js';

const LOCK_ATTEMPTS = 50;
const LOCK_RETRY_MS = 20;

/** withCaLock, waiting up to LOCK_ATTEMPTS × LOCK_RETRY_MS for another holder to finish. */
export async function withCaLockWaiting<T>(caDir: string, fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await withCaLock(caDir, fn);
    } catch (err) {
      if (!(err instanceof IdentityError) || err.code !== IdentityCode.CA_BUSY || i >= LOCK_ATTEMPTS) throw err;
    }
    await sleep(LOCK_RETRY_MS);
  }
}

export interface EnrollOptions {
  pool: AddressPool;
  validMs: number;
  passphrase?: string;
  nowMs?: number;
}

export interface Enrolled {
  certificate: MemberCertificate;
  /** The CA certificate and revocation list files as they are in CADIR. */
  caText: string;
  crlText: string;
  usesLeft: number;
}

export async function enrollMember(caDir: string, req: JoinRequest, options: EnrollOptions): Promise<Enrolled> {
  return withCaLockWaiting(caDir, async () => {
    const nowMs = options.nowMs ?? Date.now();
    const record = await checkTokenLocked(caDir, req.tokenId, req.secret, nowMs);
    const held = await liveCertificateOf(caDir, req.publicKey, nowMs);
    const addresses = held !== null && held.name === req.name ? held.addresses : [lowestFreeAddress(options.pool, await liveAddressHosts(caDir, nowMs))];
    // A join never grants routes (the token carries none: give them with `ca sign --route`); a repeated join keeps those it held.
    const routes = held !== null && held.name === req.name ? held.routes : [];
    const exit = held !== null && held.name === req.name && held.exit;
    const certificate = await signMemberLocked(caDir, {
      name: req.name,
      addresses,
      groups: record.groups,
      routes,
      ...(exit ? { exit: true } : {}),
      validMs: Math.max(options.validMs, held !== null ? held.notAfterMs - nowMs : 0),
      publicKey: req.publicKey,
      ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
      nowMs,
    });
    const spent = await spendTokenUseLocked(caDir, record);
    const caText = (await readPublicFile(join(caDir, CA_CERT_FILE))).toString('utf8');
    const crlText = (await readPublicFile(join(caDir, CA_CRL_FILE))).toString('utf8');
    return { certificate, caText, crlText, usesLeft: spent.usesLeft };
  });
}

/**
 * Renews a member certificate (`POST /v1/renew`), one locked step: the
 * certificate must be a member of this CA now and not revoked (as every
 * node judges it, MembershipVerifier), and is signed again for its key with
 * its name, addresses, groups, routes and exit-node mark, valid `validMs` from now and never
 * ending sooner (signMemberLocked's renewal rule). The caller checked the
 * proof of possession of the certificate's key.
 */
export async function renewMember(caDir: string, certRaw: Uint8Array, options: Omit<EnrollOptions, 'pool'>): Promise<Omit<Enrolled, 'usesLeft'>> {
  return withCaLockWaiting(caDir, async () => {
    const nowMs = options.nowMs ?? Date.now();
    const ca = await loadCaCertificate(join(caDir, CA_CERT_FILE));
    const crl = await loadRevocationList(join(caDir, CA_CRL_FILE), ca);
    const held = new MembershipVerifier(ca, crl).verify(certRaw, nowMs);
    const certificate = await signMemberLocked(caDir, {
      name: held.name,
      addresses: held.addresses,
      groups: held.groups,
      routes: held.routes,
      ...(held.exit ? { exit: true } : {}),
      validMs: Math.max(options.validMs, held.notAfterMs - nowMs),
      publicKey: held.publicKey,
      ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
      nowMs,
    });
    const caText = (await readPublicFile(join(caDir, CA_CERT_FILE))).toString('utf8');
    const crlText = (await readPublicFile(join(caDir, CA_CRL_FILE))).toString('utf8');
    return { certificate, caText, crlText };
  });
}
