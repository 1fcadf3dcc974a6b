/**
 * Every SM_ERR_ENROLL_* code of enrollment (docs/architecture.md
 * "Enrollment"): what `ca token`, `ca serve` and `up --join` report, and
 * what the service answers in `{"error": {"code", "message"}}` with its
 * HTTP status. A code, once shipped, keeps its meaning.
 */
import { SmError } from '../errors.js';

export const EnrollCode = Object.freeze({
  /** A join token that does not decode (wrong prefix, length or fields). */
  TOKEN_MALFORMED: 'SM_ERR_ENROLL_TOKEN_MALFORMED',
  /** The service knows no token with this id and secret (never issued, revoked, or a wrong secret). */
  TOKEN_UNKNOWN: 'SM_ERR_ENROLL_TOKEN_UNKNOWN',
  /** The token's lifetime is over. */
  TOKEN_EXPIRED: 'SM_ERR_ENROLL_TOKEN_EXPIRED',
  /** Every use of the token has been spent. */
  TOKEN_USED_UP: 'SM_ERR_ENROLL_TOKEN_USED_UP',
  /** The service presented a TLS key other than the token's pin (a man in the middle, or the wrong service). */
  PIN: 'SM_ERR_ENROLL_PIN',
  /** Every address of the pool is held by a live certificate. */
  POOL_EXHAUSTED: 'SM_ERR_ENROLL_POOL_EXHAUSTED',
  /** The service could not be reached or did not answer in time. */
  UNREACHABLE: 'SM_ERR_ENROLL_UNREACHABLE',
  /** A request the service cannot read: not JSON, missing or malformed fields. */
  REQUEST: 'SM_ERR_ENROLL_REQUEST',
  /** A request body over the service's limit. */
  TOO_LARGE: 'SM_ERR_ENROLL_TOO_LARGE',
  /** The proof of possession of the member key does not verify. */
  PROOF: 'SM_ERR_ENROLL_PROOF',
  /** Too many requests from this source; try again later. */
  RATE_LIMITED: 'SM_ERR_ENROLL_RATE_LIMITED',
  /** Too many requests waiting for the CA; try again later. */
  BUSY: 'SM_ERR_ENROLL_BUSY',
  /** Unknown path or method. */
  NOT_FOUND: 'SM_ERR_ENROLL_NOT_FOUND',
  /** The service's answer does not check out (certificate for another key, bad CA or revocation list). */
  RESPONSE: 'SM_ERR_ENROLL_RESPONSE',
  /** `up --join` would overwrite a configuration file that already exists. */
  CONFIG_EXISTS: 'SM_ERR_ENROLL_CONFIG_EXISTS',
  /** The service failed on its side (logged there). */
  INTERNAL: 'SM_ERR_ENROLL_INTERNAL',
  /** DIR/enrollment.json (where renewals go) is not the record `up --join` writes. */
  STATE: 'SM_ERR_ENROLL_STATE',
} as const);

export class EnrollError extends SmError {
  override name = 'EnrollError';
}
