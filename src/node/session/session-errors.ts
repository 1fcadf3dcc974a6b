/**
 * Stable error codes thrown by node/session (docs/conventions.md §9). Both are
 * ConfigError codes: they signal a caller's mistake at construction or at key
 * hand-over, never bad network input (which is dropped and counted instead).
 * A code, once shipped, is never reused for another meaning.
 */

export const SessionCode = Object.freeze({
  /** An option of ReplayWindow, SessionTimers or PeerSession is missing, unknown, out of range or inconsistent. */
  OPTION: 'SM_ERR_SESSION_OPTION',
  /** SessionKeys handed to installKeys are malformed (wrong key length, bad index, reused buffers). */
  KEYS: 'SM_ERR_SESSION_KEYS',
  /** encrypt() was called with an inner type or payload the protocol does not allow. */
  ARG: 'SM_ERR_SESSION_ARG',
} as const);
export type SessionCode = (typeof SessionCode)[keyof typeof SessionCode];

