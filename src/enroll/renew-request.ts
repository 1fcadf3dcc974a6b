/**
 * The body of `POST /v1/renew` to the enrollment service (docs/architecture.md
 * "Enrollment"): a member renews with no token, authenticated by the key of
 * the certificate it holds:
 *
 *     {"v": 1, "certificate": "<base64 of the member certificate>",
 *      "proof": "<base64, 4691 bytes>"}
 *
 * The proof is that key's hybrid signature (context RENEW_PROOF_CONTEXT)
 * over the connection's TLS exporter and SHA-256 of the certificate, so it
 * is bound to one connection and one certificate. The service then judges
 * the certificate as every node does (valid now, not revoked) and signs it
 * again with its name, addresses and groups (src/enroll/enroll.ts).
 *
 * parseRenewRequest never throws anything but SM_ERR_ENROLL_REQUEST or
 * SM_ERR_ENROLL_TOO_LARGE.
 */
import { concatBytes, sha256 } from '../crypto/bytes.js';
import { HYBRID_SIGNATURE_BYTES, hybridVerify, type HybridSigner } from '../crypto/hybrid-sign.js';
import { decodeMemberCertificate, type MemberCertificate } from '../identity/certificate.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';
import { base64Field, requestObject } from './request-body.js';

export const RENEW_PROOF_CONTEXT = 'shadowmesh-enroll-renew-v1';

export interface RenewRequest {
  certificate: MemberCertificate;
  proof: Uint8Array;
}

function refuse(why: string): EnrollError {
  return new EnrollError(EnrollCode.REQUEST, `malformed renew request: ${why}`);
}

export function parseRenewRequest(body: Uint8Array): RenewRequest {
  const o = requestObject(body, 'renew', refuse);
  if (Object.keys(o).some((k) => !['v', 'certificate', 'proof'].includes(k))) throw refuse('unknown field');
  if (o['v'] !== 1) throw refuse('v: expected 1');
  const proof = base64Field(o['proof'], 'proof', refuse, { bytes: HYBRID_SIGNATURE_BYTES });
  let certificate: MemberCertificate;
  try {
    certificate = decodeMemberCertificate(base64Field(o['certificate'], 'certificate', refuse));
  } catch (err) {
    if (err instanceof EnrollError) throw err;
    throw refuse(`certificate: ${(err as Error).message}`);
  }
  return { certificate, proof };
}

function proofMessage(certRaw: Uint8Array, exporter: Uint8Array): Uint8Array {
  return concatBytes(exporter, sha256(certRaw));
}

/** The request body a member sends to renew `certRaw`, signed with the certificate's key over this connection's exporter. */
export function buildRenewRequest(signer: HybridSigner, certRaw: Uint8Array, exporter: Uint8Array): string {
  const proof = signer.sign(RENEW_PROOF_CONTEXT, proofMessage(certRaw, exporter));
  return JSON.stringify({ v: 1, certificate: Buffer.from(certRaw).toString('base64'), proof: Buffer.from(proof).toString('base64') });
}

/** SM_ERR_ENROLL_PROOF unless the certificate's own key signed this connection's exporter. */
export function checkRenewProof(req: RenewRequest, exporter: Uint8Array): void {
  let ok = false;
  try {
    ok = hybridVerify(req.certificate.publicKey, RENEW_PROOF_CONTEXT, proofMessage(req.certificate.raw, exporter), req.proof);
  } catch {
    ok = false;
  }
  if (!ok) throw new EnrollError(EnrollCode.PROOF, 'the proof of possession of the certificate key does not verify for this connection');
}
