/**
 * Errors of the STUN client (src/stun/stun-client.ts, docs/protocol.md §5):
 * operational outcomes of one Binding transaction, delivered as promise
 * rejections; and the responder's bind failure (stun-responder.ts). Callers branch on `code` (docs/conventions.md §9), never on the message.
 *
 * Malformed datagrams are never errors here: the client drops and counts them.
 */

import { SmError } from '../errors.js';

export const StunCode = Object.freeze({
  /** No usable answer before the transaction's time limit. */
  Timeout: 'SM_ERR_STUN_TIMEOUT',
  /** The server answered with an error response; `stunErrorCode` holds its ERROR-CODE. */
  ErrorResponse: 'SM_ERR_STUN_ERROR',
  /** The client was closed while the transaction was outstanding, or before it started. */
  Closed: 'SM_ERR_STUN_CLOSED',
  /** A success response without (XOR-)MAPPED-ADDRESS: the server is useless for discovery. */
  BadResponse: 'SM_ERR_STUN_BAD_RESPONSE',
  /** Too many transactions outstanding at once (bounded memory). */
  Busy: 'SM_ERR_STUN_BUSY',
  /** The caller's send function threw (socket closed, bad address). */
  Send: 'SM_ERR_STUN_SEND',
  /** The server argument is not an IP address and port. */
  BadServer: 'SM_ERR_STUN_BAD_SERVER',
  /** The responder could not bind its UDP port (in use, no such address, no permission). */
  Listen: 'SM_ERR_STUN_LISTEN',
} as const);
export type StunCode = (typeof StunCode)[keyof typeof StunCode];

export class StunError extends SmError {
  override name = 'StunError';
  /** ERROR-CODE of an error response (300..699) for SM_ERR_STUN_ERROR, else undefined. */
  readonly stunErrorCode: number | undefined;
  constructor(code: StunCode, message: string, options?: { cause?: unknown; stunErrorCode?: number }) {
    super(code, message, options);
    this.stunErrorCode = options?.stunErrorCode;
  }
}
