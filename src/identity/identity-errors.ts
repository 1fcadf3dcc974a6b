/**
 * Every SM_ERR_* code the identity package throws (always as IdentityError,
 * or ConfigError for bad arguments). Callers branch on these strings
 * (docs/conventions.md §9); a code, once shipped, keeps its meaning forever.
 */
export const IdentityCode = Object.freeze({
  /** Text armor: missing/extra BEGIN/END lines, wrong label, bad base64. */
  ARMOR: 'SM_ERR_ID_ARMOR',
  /** A peer id string that is not 64 hex digits. */
  PEER_ID: 'SM_ERR_ID_PEER_ID',
  /** A key file (identity or CA) already exists and `force` was not given. */
  EXISTS: 'SM_ERR_ID_EXISTS',
  /** No key file where one was expected. */
  MISSING: 'SM_ERR_ID_MISSING',
  /** The key file is encrypted and no passphrase, or a wrong one, was given. */
  PASSPHRASE: 'SM_ERR_ID_PASSPHRASE',
  /** The key file is readable by group or others (refused, as ssh does). */
  PERMISSIONS: 'SM_ERR_ID_PERMISSIONS',
  /** A key or public-key file that does not decode, or that disagrees with its pair. */
  CORRUPT: 'SM_ERR_ID_CORRUPT',
  /** A file could not be read or written (the message names the path). */
  FILE: 'SM_ERR_ID_FILE',
  /** A certificate that does not decode (structure, sizes, fields, self-signature). */
  CERT_MALFORMED: 'SM_ERR_CERT_MALFORMED',
  /** A member certificate issued by another CA, or whose CA signature does not verify. */
  CERT_NOT_MEMBER: 'SM_ERR_CERT_NOT_MEMBER',
  /** now + skew is before notBefore. */
  CERT_NOT_YET_VALID: 'SM_ERR_CERT_NOT_YET_VALID',
  /** now - skew is after notAfter (of the member or of its CA). */
  CERT_EXPIRED: 'SM_ERR_CERT_EXPIRED',
  /** The peer id is on the revocation list. */
  CERT_REVOKED: 'SM_ERR_CERT_REVOKED',
  /** Certificate fields refused at issuance (name, addresses, groups, validity). */
  CERT_FIELD: 'SM_ERR_CERT_FIELD',
  /** Another live certificate of this CA already holds one of the addresses. */
  CERT_ADDRESS_IN_USE: 'SM_ERR_CERT_ADDRESS_IN_USE',
  /** A route overlaps a mesh subnet or route of another live certificate of this CA (or a mesh address lies in another's route). */
  CERT_ROUTE_IN_USE: 'SM_ERR_CERT_ROUTE_IN_USE',
  /** Another live certificate of this CA already carries this name. */
  CERT_NAME_IN_USE: 'SM_ERR_CERT_NAME_IN_USE',
  /** Re-signing a key whose certificate is still live, under another name, without one of its addresses, or ending sooner. */
  CERT_RENEWAL: 'SM_ERR_CERT_RENEWAL',
  /** A certificate offered to replace a running node's own is for another identity key. */
  CERT_REPLACE_KEY: 'SM_ERR_CERT_REPLACE_KEY',
  /** A revocation list that does not decode. */
  CRL_MALFORMED: 'SM_ERR_CRL_MALFORMED',
  /** A revocation list whose CA signature does not verify. */
  CRL_SIGNATURE: 'SM_ERR_CRL_SIGNATURE',
  /** A revocation list issued by another CA. */
  CRL_OTHER_CA: 'SM_ERR_CRL_OTHER_CA',
  /** A revocation list older than (or conflicting with) the one already loaded. */
  CRL_ROLLBACK: 'SM_ERR_CRL_ROLLBACK',
  /** Another `ca` command holds the CA directory lock. */
  CA_BUSY: 'SM_ERR_CA_BUSY',
} as const);

export type IdentityCodeValue = (typeof IdentityCode)[keyof typeof IdentityCode];

/** True for errors thrown by the wire cursor helpers (their codes start with SM_ERR_WIRE_). */
export function isWireError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SM_ERR_WIRE_');
}
