/**
 * Which certificate may replace a running node's own member certificate
 * (docs/architecture.md "Certificate renewal"): the rule a live replacement
 * (NodeDaemon.replaceCertificate) checks before it changes anything.
 *
 * The new certificate must
 *   - verify against our CA and the revocation list in force
 *     (MembershipVerifier: SM_ERR_CERT_NOT_MEMBER, SM_ERR_CERT_REVOKED, ...);
 *   - not be expired now, with no clock-skew allowance (SM_ERR_CERT_EXPIRED):
 *     the relay disconnects a member at notAfter exactly;
 *   - belong to the same identity key (SM_ERR_CERT_REPLACE_KEY): another key
 *     is another member, and our signer could not prove it;
 *   - keep the name and exactly the addresses (SM_ERR_CERT_RENEWAL): the
 *     device holds the addresses it was opened with, so a changed set would
 *     need the device reconfigured; that takes a restart. Groups may change;
 *   - not end sooner than the current one (SM_ERR_CERT_RENEWAL), as the CA's
 *     own renewal rule (src/identity/ca.ts) demands.
 * Same bytes as the current certificate is no replacement: `sameCertificate`
 * lets a caller skip it.
 */
import { equalBytes } from '../crypto/bytes.js';
import { IdentityError } from '../errors.js';
import type { MemberCertificate } from './certificate.js';
import { IdentityCode } from './identity-errors.js';
import type { MembershipVerifier } from './membership.js';
import { formatPeerId } from './peer-id.js';

/** True when `next` is byte for byte the certificate in force. */
export function sameCertificate(current: MemberCertificate, next: Uint8Array): boolean {
  return equalBytes(current.raw, next);
}

function hostsOf(cidrs: readonly string[]): string {
  return [...cidrs].sort().join(',');
}

/**
 * Verify `nextRaw` as a replacement of `current` at `nowMs`; returns the
 * decoded certificate, or throws IdentityError with the code of the first
 * rule it breaks (see the header). Changes nothing.
 */
export function checkReplacement(current: MemberCertificate, nextRaw: Uint8Array, verifier: MembershipVerifier, nowMs: number): MemberCertificate {
  const next = verifier.verify(nextRaw, nowMs);
  if (nowMs > next.notAfterMs) {
    throw new IdentityError(IdentityCode.CERT_EXPIRED, `the new certificate expired at ${new Date(next.notAfterMs).toISOString()}`);
  }
  if (!equalBytes(next.publicKey, current.publicKey)) {
    throw new IdentityError(IdentityCode.CERT_REPLACE_KEY, `the new certificate is for peer ${formatPeerId(next.peerId)}, not for this node's key (peer ${formatPeerId(current.peerId)}); sign this node's public key`);
  }
  if (next.name !== current.name) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `the new certificate names "${next.name}", this node is "${current.name}": a renewal keeps the name (restart with the new certificate to change it)`);
  }
  if (hostsOf(next.addresses) !== hostsOf(current.addresses)) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `the new certificate holds ${next.addresses.join(', ') || 'no address'}, the device has ${current.addresses.join(', ') || 'none'}: a live renewal keeps exactly the addresses (restart with the new certificate to change them)`);
  }
  if (next.notAfterMs < current.notAfterMs) {
    throw new IdentityError(IdentityCode.CERT_RENEWAL, `the new certificate ends ${new Date(next.notAfterMs).toISOString()}, before the current one (${new Date(current.notAfterMs).toISOString()}): a renewal must not end sooner`);
  }
  return next;
}
