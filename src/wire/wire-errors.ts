/**
 * The stable SM_ERR_WIRE_* codes of docs/protocol.md ("Each failure is a
 * WireError with a stable code") and one helper that throws them.
 *
 * Callers branch on `err.code`, never on the message: messages name the
 * frame and field for debugging and may change.
 */

import { WireError } from '../errors.js';

export const WireCode = Object.freeze({
  /** Too short, too long, or a length field that disagrees with the bytes. */
  Length: 'SM_ERR_WIRE_LENGTH',
  /** Version byte is not PROTOCOL_VERSION. */
  Version: 'SM_ERR_WIRE_VERSION',
  /** Unknown type, or a type not allowed in this context. */
  Type: 'SM_ERR_WIRE_TYPE',
  /** Reserved bytes not zero. */
  Reserved: 'SM_ERR_WIRE_RESERVED',
  /** A field out of range: bad address, invalid UTF-8, empty where forbidden. */
  Field: 'SM_ERR_WIRE_FIELD',
  /** Above a size limit. */
  TooLarge: 'SM_ERR_WIRE_TOO_LARGE',
} as const);
export type WireCode = (typeof WireCode)[keyof typeof WireCode];

/** Throw a WireError with `code`; the message is prefixed with "wire: ". */
export function wireFail(code: WireCode, message: string): never {
  throw new WireError(code, `wire: ${message}`);
}
