/**
 * Stable error codes of the web console (src/web/, docs/architecture.md
 * "Web console"), sent as the control API's error body
 * `{"error": {"code", "message"}}`. A code, once shipped, is never reused
 * for another meaning.
 */
import { SmError } from '../errors.js';

export const WebCode = Object.freeze({
  /** No token, or a wrong one: neither the session cookie nor `Authorization: Bearer` matched this daemon start's token (401). */
  UNAUTHORIZED: 'SM_ERR_WEB_UNAUTHORIZED',
  /** A Host header other than the console's own address: a DNS-rebound or misdirected request (403). */
  HOST: 'SM_ERR_WEB_HOST',
  /** An Origin (or Sec-Fetch-Site) of another site, or a cookie-authenticated change without an Origin (403). */
  ORIGIN: 'SM_ERR_WEB_ORIGIN',
  /** A request target that is not a URL (400). */
  REQUEST: 'SM_ERR_WEB_REQUEST',
  /** No such page or route (404). */
  NOT_FOUND: 'SM_ERR_WEB_NOT_FOUND',
  /** A method the page or route does not take (405). */
  METHOD: 'SM_ERR_WEB_METHOD',
  /** The live-update stream already has its maximum number of subscribers (503). */
  BUSY: 'SM_ERR_WEB_BUSY',
  /** A console bug while answering a request (500); the daemon goes on. */
  INTERNAL: 'SM_ERR_WEB_INTERNAL',
  /** The console's built script is missing from the package (a build mistake): the console does not start. */
  ASSETS: 'SM_ERR_WEB_ASSETS',
  /** The console's address cannot be listened on (in use, not an address of this machine). */
  LISTEN: 'SM_ERR_WEB_LISTEN',
} as const);
export type WebCode = (typeof WebCode)[keyof typeof WebCode];

export class WebError extends SmError {
  override name = 'WebError';
}
