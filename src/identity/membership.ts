/**
 * MembershipVerifier: the one place that decides whether a certificate
 * makes its holder a member of this network (docs/architecture.md
 * "Identity and membership"). The relay uses it at admission and every node uses it on
 * its peers' certificates, so a malicious relay cannot introduce a member.
 *
 * verify() checks, in this order, and throws IdentityError with:
 *   SM_ERR_CERT_MALFORMED      the bytes do not decode (certificate.ts)
 *   SM_ERR_CERT_NOT_MEMBER     another CA's caId, or the CA signature fails
 *   SM_ERR_CERT_NOT_YET_VALID  now + skew < notBefore (member or CA)
 *   SM_ERR_CERT_EXPIRED        now - skew > notAfter (member or CA)
 *   SM_ERR_CERT_REVOKED        the peer id is on the current revocation list
 * Proof of possession of the key is the caller's job (relay-auth, peer
 * handshake): a certificate alone proves nothing about who sent it.
 *
 * The revocation list only moves forward: setRevocationList refuses a list
 * of another CA (SM_ERR_CRL_OTHER_CA), one with a lower number, and one with
 * the same number but different contents (SM_ERR_CRL_ROLLBACK), so a
 * replayed old list cannot un-revoke anyone. Synchronous; not reentrant-
 * sensitive. `nowMs` is injected (Unix ms) so tests control the clock.
 */
import { ConfigError, IdentityError } from '../errors.js';
import { equalBytes, toHex } from '../crypto/bytes.js';
import { decodeMemberCertificate, verifyMemberSignature, type CaCertificate, type MemberCertificate } from './certificate.js';
import { IdentityCode } from './identity-errors.js';
import { formatPeerId, shortId } from './peer-id.js';
import { decodeRevocationList, type RevocationList } from './revocation.js';

/**
 * Tolerated clock difference on notBefore/notAfter: 5 minutes. Validity is
 * judged against the wall clock of another machine; NTP keeps clocks within
 * milliseconds, but a VM just resumed or a laptop without NTP drifts by
 * minutes, and certificates live for days to years, so 5 minutes (the
 * Kerberos default) costs no meaningful security.
 */
export const CERT_CLOCK_SKEW_MS = 5 * 60 * 1000;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class MembershipVerifier {
  readonly ca: CaCertificate;
  #crl: RevocationList | undefined;
  #revoked = new Set<string>();

  constructor(ca: CaCertificate, crl?: RevocationList) {
    if (ca === null || typeof ca !== 'object' || !(ca.caId instanceof Uint8Array) || !(ca.publicKey instanceof Uint8Array)) {
      throw new ConfigError('SM_ERR_CONFIG_CA', 'MembershipVerifier ca: expected a decoded CaCertificate');
    }
    this.ca = ca;
    if (crl !== undefined) this.setRevocationList(crl);
  }

  /** The current revocation list number, or -1 when none is loaded. */
  get revocationNumber(): number {
    return this.#crl?.number ?? -1;
  }

  /** Replaces the revocation list with a newer one of the same CA (its signature is re-checked). */
  setRevocationList(crl: RevocationList): void {
    if (crl === null || typeof crl !== 'object' || !(crl.raw instanceof Uint8Array)) {
      throw new ConfigError('SM_ERR_CONFIG_CRL', 'setRevocationList crl: expected a decoded RevocationList');
    }
    // Re-decode from raw: the object may have been built or edited by hand.
    const checked = decodeRevocationList(crl.raw, this.ca);
    const current = this.#crl;
    if (current !== undefined) {
      if (checked.number < current.number) {
        throw new IdentityError(IdentityCode.CRL_ROLLBACK, `revocation list #${checked.number} is older than the loaded #${current.number}; refusing to roll back`);
      }
      if (checked.number === current.number && !equalBytes(checked.raw, current.raw)) {
        throw new IdentityError(IdentityCode.CRL_ROLLBACK, `revocation list #${checked.number} differs from the loaded list with the same number; refusing it`);
      }
    }
    this.#crl = checked;
    this.#revoked = new Set(checked.peerIds.map((id) => toHex(id)));
  }

  isRevoked(peerId: Uint8Array): boolean {
    if (!(peerId instanceof Uint8Array)) return false;
    return this.#revoked.has(toHex(peerId));
  }

  /** Returns the decoded certificate when its holder is a current member; throws IdentityError otherwise (see header). */
  verify(certBytes: Uint8Array, nowMs: number): MemberCertificate {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new ConfigError('SM_ERR_CONFIG_NOW', `verify nowMs: expected a finite number, got ${String(nowMs)}`);
    const cert = decodeMemberCertificate(certBytes);
    const who = `${shortId(cert.peerId)} ("${cert.name}")`;
    if (!equalBytes(cert.caId, this.ca.caId)) {
      throw new IdentityError(IdentityCode.CERT_NOT_MEMBER, `${who}: certificate was issued by another CA than "${this.ca.name}"`);
    }
    if (!verifyMemberSignature(cert, this.ca)) {
      throw new IdentityError(IdentityCode.CERT_NOT_MEMBER, `${who}: CA signature does not verify`);
    }
    this.checkCurrent(cert, nowMs);
    return cert;
  }

  /**
   * The checks of verify() after the CA signature: validity times (member
   * and CA) and revocation, for a certificate that verify() already returned
   * (a cache of verified certificates re-judges it with this on every use).
   * Throws the same IdentityErrors as verify().
   */
  checkCurrent(cert: MemberCertificate, nowMs: number): void {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new ConfigError('SM_ERR_CONFIG_NOW', `checkCurrent nowMs: expected a finite number, got ${String(nowMs)}`);
    const who = `${shortId(cert.peerId)} ("${cert.name}")`;
    if (nowMs + CERT_CLOCK_SKEW_MS < this.ca.notBeforeMs) {
      throw new IdentityError(IdentityCode.CERT_NOT_YET_VALID, `${who}: the network CA is not valid before ${iso(this.ca.notBeforeMs)}`);
    }
    if (nowMs - CERT_CLOCK_SKEW_MS > this.ca.notAfterMs) {
      throw new IdentityError(IdentityCode.CERT_EXPIRED, `${who}: the network CA expired at ${iso(this.ca.notAfterMs)}`);
    }
    if (nowMs + CERT_CLOCK_SKEW_MS < cert.notBeforeMs) {
      throw new IdentityError(IdentityCode.CERT_NOT_YET_VALID, `${who}: certificate is not valid before ${iso(cert.notBeforeMs)}`);
    }
    if (nowMs - CERT_CLOCK_SKEW_MS > cert.notAfterMs) {
      throw new IdentityError(IdentityCode.CERT_EXPIRED, `${who}: certificate expired at ${iso(cert.notAfterMs)}`);
    }
    if (this.#revoked.has(toHex(cert.peerId))) {
      throw new IdentityError(IdentityCode.CERT_REVOKED, `${who}: peer ${formatPeerId(cert.peerId)} is revoked (list #${this.revocationNumber})`);
    }
  }
}
