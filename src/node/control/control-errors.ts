/**
 * Stable error codes of the control API (docs/conventions.md §9), always as
 * ControlError: the socket, the request line, the methods' params and the
 * handlers' refusals. The CLI prints them as they are, so a code, once
 * shipped, is never reused for another meaning.
 */

export const ControlCode = Object.freeze({
  /** Nothing answers on the socket (no file, or nobody listening). */
  NO_DAEMON: 'SM_ERR_CONTROL_NO_DAEMON',
  /** The socket exists and a live daemon answers on it: refuse to start a second one. */
  IN_USE: 'SM_ERR_CONTROL_IN_USE',
  /** The socket path cannot be used (too long, not a socket, permission denied). */
  PATH: 'SM_ERR_CONTROL_PATH',
  /** A line that is not valid JSON or not a request object. */
  REQUEST: 'SM_ERR_CONTROL_REQUEST',
  /** A request line over MAX_CONTROL_REQUEST_BYTES. */
  TOO_LARGE: 'SM_ERR_CONTROL_TOO_LARGE',
  /** An unknown method. */
  METHOD: 'SM_ERR_CONTROL_METHOD',
  /** Params of the wrong shape or out of range. */
  PARAMS: 'SM_ERR_CONTROL_PARAMS',
  /** The daemon holds its maximum number of control connections. */
  BUSY: 'SM_ERR_CONTROL_BUSY',
  /** No answer in time. */
  TIMEOUT: 'SM_ERR_CONTROL_TIMEOUT',
  /** The daemon's answer did not follow this protocol, or the connection broke. */
  PROTOCOL: 'SM_ERR_CONTROL_PROTOCOL',
  /** The handler failed in a way it did not code: a daemon bug. */
  INTERNAL: 'SM_ERR_CONTROL_INTERNAL',
  /** `ping`: no member matches the selector. */
  UNKNOWN_PEER: 'SM_ERR_CONTROL_UNKNOWN_PEER',
  /** `ping`: every ping of the request went unanswered. */
  NO_REPLY: 'SM_ERR_CONTROL_NO_REPLY',
  /** A subscriber left more than MAX_CONTROL_PENDING_BYTES unread. */
  SLOW_CONSUMER: 'SM_ERR_CONTROL_SLOW_CONSUMER',
  /** HTTP: a request with an Origin header or a Host other than localhost (a browser; control-http.ts says why). */
  FORBIDDEN: 'SM_ERR_CONTROL_FORBIDDEN',
  /** The control socket's group (--control-group) does not exist, or the socket cannot be given to it. */
  GROUP: 'SM_ERR_CONTROL_GROUP',
  /** `whois` / `ip`: no member (nor this node) has that name. */
  UNKNOWN_NAME: 'SM_ERR_CONTROL_UNKNOWN_NAME',
  /** `whois`: no member (nor this node) holds that mesh address. */
  UNKNOWN_ADDRESS: 'SM_ERR_CONTROL_UNKNOWN_ADDRESS',
  /** `web`: this daemon runs without a web console (no --web / node.web.listen). */
  NO_WEB: 'SM_ERR_CONTROL_NO_WEB',
} as const);
export type ControlCode = (typeof ControlCode)[keyof typeof ControlCode];
