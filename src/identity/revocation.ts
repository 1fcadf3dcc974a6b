/**
 * Revocation lists (docs/architecture.md "Identity and membership": a
 * revoked member is neither admitted nor believed): a CA-signed list of revoked peer ids
 * with a number that grows by one at every change, so a holder can refuse
 * an older list (membership.ts never rolls back).
 *
 * Revocation is by peer id, not by serial: revoking a member revokes its
 * key, and every certificate ever issued for that key with it.
 *
 * Layout (little-endian, header as in certificate.ts, kind 0x03):
 *
 * | offset   | size    | field                                             |
 * |----------|---------|---------------------------------------------------|
 * | 0        | 4       | version u8 (=1) ‖ kind u8 (0x03) ‖ reserved u16 0 |
 * | 4        | 32      | caId of the issuing CA                            |
 * | 36       | 8       | number u64 (0 for the first, empty list)          |
 * | 44       | 8       | issuedAtMs u64                                    |
 * | 52       | 4       | count u32 (0..MAX_REVOKED_PEERS)                  |
 * | 56       | 32·count| peer ids, strictly ascending (sorted, no repeats) |
 * | end-4691 | 4691    | CA hybrid signature, context "crl", over every byte before it |
 *
 * The canonical order makes the encoding of a set unique. Decoded objects
 * hold a private copy of the input (`raw`); byte fields are views into it.
 * Errors: SM_ERR_CRL_MALFORMED (structure), SM_ERR_CRL_OTHER_CA (issued by
 * another CA), SM_ERR_CRL_SIGNATURE (signature does not verify).
 */
import { ConfigError, IdentityError } from '../errors.js';
import { compareBytes, equalBytes, toHex } from '../crypto/bytes.js';
import { HybridSigner, HYBRID_SIGNATURE_BYTES } from '../crypto/hybrid-sign.js';
import { ByteReader } from '../wire/byte-reader.js';
import { ByteWriter } from '../wire/byte-writer.js';
import { CA_ID_BYTES, CERT_FORMAT_VERSION, CERT_HEADER_BYTES, CertKind, decodeWith, malformed, readCertHeader, safeVerify, type CaCertificate } from './certificate.js';
import { IdentityCode } from './identity-errors.js';
import { PEER_ID_BYTES } from './peer-id.js';

export const CRL_CONTEXT = 'crl';
/** Most peer ids one list may hold: 65,536 ids make a 2 MiB list, far more members than one network has churned through. */
export const MAX_REVOKED_PEERS = 65_536;
const CRL_FIXED_BYTES = CERT_HEADER_BYTES + CA_ID_BYTES + 8 + 8 + 4;
export const MAX_CRL_BYTES = CRL_FIXED_BYTES + MAX_REVOKED_PEERS * PEER_ID_BYTES + HYBRID_SIGNATURE_BYTES;

export interface RevocationList {
  caId: Uint8Array;
  number: number;
  issuedAtMs: number;
  /** Sorted ascending, distinct. */
  peerIds: Uint8Array[];
  signature: Uint8Array;
  raw: Uint8Array;
}

/** Decodes the structure only; the signature is NOT checked. For display (`ca show`) and for decodeRevocationList. */
export function decodeRevocationListUnverified(bytes: Uint8Array): RevocationList {
  const what = 'revocation list';
  return decodeWith(what, IdentityCode.CRL_MALFORMED, MAX_CRL_BYTES, bytes, (raw) => {
    const r = new ByteReader(raw);
    readCertHeader(r, CertKind.RevocationList, what);
    const caId = r.bytes(CA_ID_BYTES, 'caId');
    const number = r.u64Number('number');
    const issuedAtMs = r.u64Number('issuedAtMs');
    const count = r.u32('count');
    if (count > MAX_REVOKED_PEERS) throw malformed(what, `${count} peer ids, limit ${MAX_REVOKED_PEERS}`);
    r.need(count * PEER_ID_BYTES + HYBRID_SIGNATURE_BYTES, 'peer ids and signature');
    const peerIds: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const id = r.bytes(PEER_ID_BYTES, 'peer id');
      const prev = peerIds[peerIds.length - 1];
      if (prev !== undefined && compareBytes(prev, id) >= 0) throw malformed(what, 'peer ids are not strictly ascending');
      peerIds.push(id);
    }
    const signature = r.bytes(HYBRID_SIGNATURE_BYTES, 'signature');
    r.end(what);
    return { caId, number, issuedAtMs, peerIds, signature, raw };
  });
}

/** Decodes a revocation list and checks that `ca` issued and signed it. */
export function decodeRevocationList(bytes: Uint8Array, ca: CaCertificate): RevocationList {
  if (ca === null || typeof ca !== 'object' || !(ca.caId instanceof Uint8Array)) {
    throw new ConfigError('SM_ERR_CONFIG_CA', 'decodeRevocationList ca: expected a CaCertificate');
  }
  const crl = decodeRevocationListUnverified(bytes);
  if (!equalBytes(crl.caId, ca.caId)) {
    throw new IdentityError(IdentityCode.CRL_OTHER_CA, `revocation list #${crl.number} was issued by another CA than "${ca.name}"`);
  }
  const signed = crl.raw.subarray(0, crl.raw.length - HYBRID_SIGNATURE_BYTES);
  if (!safeVerify(ca.publicKey, CRL_CONTEXT, signed, crl.signature)) {
    throw new IdentityError(IdentityCode.CRL_SIGNATURE, `revocation list #${crl.number}: CA signature does not verify`);
  }
  return crl;
}

/** Signs a revocation list; peer ids are sorted and de-duplicated. `caSigner` must hold the key of `ca`. */
export function issueRevocationList(
  caSigner: HybridSigner,
  ca: CaCertificate,
  fields: { number: number; issuedAtMs: number; peerIds: readonly Uint8Array[] },
): RevocationList {
  if (!(caSigner instanceof HybridSigner) || !equalBytes(caSigner.publicKey, ca.publicKey)) {
    throw new ConfigError('SM_ERR_CONFIG_SIGNER', 'issueRevocationList caSigner: expected the HybridSigner of this CA');
  }
  const { number, issuedAtMs } = fields;
  if (!Number.isSafeInteger(number) || number < 0) throw new ConfigError('SM_ERR_CONFIG_CRL', `issueRevocationList number: expected a non-negative integer, got ${String(number)}`);
  if (!Number.isSafeInteger(issuedAtMs) || issuedAtMs < 0) throw new ConfigError('SM_ERR_CONFIG_CRL', `issueRevocationList issuedAtMs: expected a non-negative integer, got ${String(issuedAtMs)}`);
  const unique = new Map<string, Uint8Array>();
  for (const id of fields.peerIds) {
    if (!(id instanceof Uint8Array) || id.length !== PEER_ID_BYTES) throw new ConfigError('SM_ERR_CONFIG_PEER_ID', `issueRevocationList peerIds: expected ${PEER_ID_BYTES}-byte ids`);
    unique.set(toHex(id), id);
  }
  if (unique.size > MAX_REVOKED_PEERS) throw new IdentityError(IdentityCode.CERT_FIELD, `revocation list: ${unique.size} peer ids, limit ${MAX_REVOKED_PEERS}`);
  const sorted = [...unique.values()].sort(compareBytes);
  const w = new ByteWriter();
  w.u8(CERT_FORMAT_VERSION).u8(CertKind.RevocationList).zeros(2);
  w.bytes(ca.caId, 'caId').u64Number(number, 'number').u64Number(issuedAtMs, 'issuedAtMs').u32(sorted.length, 'count');
  for (const id of sorted) w.bytes(id, 'peer id');
  const tbs = w.finish();
  const signature = caSigner.sign(CRL_CONTEXT, tbs);
  const out = new Uint8Array(tbs.length + signature.length);
  out.set(tbs, 0);
  out.set(signature, tbs.length);
  return decodeRevocationList(out, ca);
}
