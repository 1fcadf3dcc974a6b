/**
 * Stable error codes of the stream layer's local side (docs/conventions.md
 * §9): the SOCKS5 proxy's credentials file and the local listeners. Network input never throws
 * (it is dropped and counted, docs/conventions.md §10); these are for the
 * operator's configuration.
 */
import { SmError } from '../../errors.js';

export const StreamCode = Object.freeze({
  /** The SOCKS5 credentials file (--socks5-auth) is unreadable, empty, or has a line that is not USER:PASSWORD (1..255 bytes each). */
  SOCKS_AUTH_FILE: 'SM_ERR_STREAM_SOCKS_AUTH_FILE',
  /** The SOCKS5 listener could not be opened (address in use, not permitted). */
  SOCKS_LISTEN: 'SM_ERR_STREAM_SOCKS_LISTEN',
  /** The HTTP CONNECT proxy's listener (--http-proxy) could not be opened. */
  HTTP_PROXY_LISTEN: 'SM_ERR_STREAM_HTTP_PROXY_LISTEN',
  /** A port forward's local listener could not be opened (address in use, not permitted). */
  FORWARD_LISTEN: 'SM_ERR_STREAM_FORWARD_LISTEN',
} as const);
export type StreamCode = (typeof StreamCode)[keyof typeof StreamCode];

export class StreamError extends SmError {
  override name = 'StreamError';
}
