/**
 * Stable error codes thrown by handshake (docs/conventions.md §9): the
 * path re-handshake (PathAuthError) and relay admission (RelayAuthError).
 * A code, once shipped, is never reused for another meaning.
 */

/** SM_ERR_* codes of path-auth.ts. */
export const PathAuthCode = Object.freeze({
  /** A frame that does not decode or is not the one expected now. */
  PROTOCOL: 'SM_ERR_PATH_AUTH_PROTOCOL',
  /** Timestamp outside ±skewMs of our clock. */
  STALE: 'SM_ERR_PATH_AUTH_STALE',
  /** sessionId does not name our session with this peer. */
  SESSION: 'SM_ERR_PATH_AUTH_SESSION',
  /** A challenge seen before. */
  REPLAY: 'SM_ERR_PATH_AUTH_REPLAY',
  /** A MAC that does not verify (wrong key, other connection, tampering). */
  MAC: 'SM_ERR_PATH_AUTH_MAC',
  /** A method called in the wrong state or with a bad argument; not fatal. */
  STATE: 'SM_ERR_PATH_AUTH_STATE',
} as const);
export type PathAuthCodeValue = (typeof PathAuthCode)[keyof typeof PathAuthCode];

/**
 * SM_ERR_* codes of relay-auth.ts: one per protocol ERROR/CLOSE code
 * (docs/protocol.md §1, mapped one-to-one by smCodeOfRelayCode), plus
 * UNKNOWN and STATE.
 */
export const RelayAuthCode = Object.freeze({
  /** A frame that does not decode or is not the one expected now (ERROR Protocol). */
  PROTOCOL: 'SM_ERR_RELAY_AUTH_PROTOCOL',
  /** The certificate is not issued by the relay's CA (ERROR NotMember). */
  NOT_MEMBER: 'SM_ERR_RELAY_AUTH_NOT_MEMBER',
  /** The certificate is not yet valid or has expired (ERROR CertValidity). */
  CERT_VALIDITY: 'SM_ERR_RELAY_AUTH_CERT_VALIDITY',
  /** The certificate is on the revocation list (ERROR Revoked). */
  REVOKED: 'SM_ERR_RELAY_AUTH_REVOKED',
  /** The admission signature does not verify (ERROR BadSignature). */
  BAD_SIGNATURE: 'SM_ERR_RELAY_AUTH_BAD_SIGNATURE',
  /** Admission did not finish in time (ERROR HandshakeTimeout). */
  TIMEOUT: 'SM_ERR_RELAY_AUTH_TIMEOUT',
  /** The relay holds as many members as it admits (ERROR RelayFull). */
  RELAY_FULL: 'SM_ERR_RELAY_FULL',
  /** A frame over the size limit (ERROR FrameTooLarge). */
  FRAME_TOO_LARGE: 'SM_ERR_RELAY_FRAME_TOO_LARGE',
  /** Over the relay's rate limit (ERROR RateLimited). */
  RATE_LIMITED: 'SM_ERR_RELAY_RATE_LIMITED',
  /** Another connection of the same member took this one's place (CLOSE Replaced). */
  REPLACED: 'SM_ERR_RELAY_REPLACED',
  /** The relay is stopping (CLOSE ShuttingDown). */
  SHUTTING_DOWN: 'SM_ERR_RELAY_SHUTTING_DOWN',
  /** No traffic for the idle timeout (CLOSE IdleTimeout). */
  IDLE_TIMEOUT: 'SM_ERR_RELAY_IDLE_TIMEOUT',
  /** A relay code this version does not know (treated like Protocol). */
  UNKNOWN: 'SM_ERR_RELAY_AUTH_REFUSED',
  /** A method called in the wrong state; not fatal. */
  STATE: 'SM_ERR_RELAY_AUTH_STATE',
} as const);
export type RelayAuthCodeValue = (typeof RelayAuthCode)[keyof typeof RelayAuthCode];
