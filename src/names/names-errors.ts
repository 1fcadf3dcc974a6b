/**
 * Stable error codes of src/names/ (docs/configuration.md "Names";
 * docs/conventions.md §9). Callers branch on `code`, never on the message.
 * A code, once shipped, is never reused for another meaning.
 */
import { SmError } from '../errors.js';

export const NamesCode = Object.freeze({
  /** The responder could not bind a listen address (in use, no such address, no permission). */
  BIND: 'SM_ERR_NAMES_BIND',
  /** The network domain is not a valid DNS name (labels of 1..63 letters, digits or '-', 253 characters in all). */
  DOMAIN: 'SM_ERR_NAMES_DOMAIN',
  /** An upstream resolver is not an IP address with an optional port. */
  UPSTREAM: 'SM_ERR_NAMES_UPSTREAM',
  /** The responder was started twice, or used after stop(). */
  STATE: 'SM_ERR_NAMES_STATE',
} as const);
export type NamesCode = (typeof NamesCode)[keyof typeof NamesCode];

export class NamesError extends SmError {
  override name = 'NamesError';
}
