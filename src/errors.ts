/**
 * The small family of ShadowMesh errors (docs/conventions.md §9).
 *
 * Every error carries a stable `code` (SM_ERR_*). Callers branch on `code`,
 * never on `instanceof`, so two installed copies of the package cannot break
 * the check. A code, once shipped, is never reused for another meaning.
 *
 * Three kinds of failure are handled differently:
 *  - configuration and programmer mistakes throw at construction (ConfigError);
 *  - bad input from the network (WireError, HandshakeError, …) never escapes a
 *    packet loop: it is dropped and counted;
 *  - operational failures go to the owning component's lifecycle.
 */

export class SmError extends Error {
  override name = 'SmError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Bad configuration or a programmer mistake: names the option and the value. */
export class ConfigError extends SmError {
  override name = 'ConfigError';
}

/** Misuse of a crypto function (wrong key length, exhausted counter). */
export class CryptoError extends SmError {
  override name = 'CryptoError';
}

/** A frame that does not decode: wrong length, version, type or field. */
export class WireError extends SmError {
  override name = 'WireError';
}

/**
 * A handshake message that must be dropped (`fatal` false: the state machine
 * is unchanged), or a handshake that is dead (`fatal` true: discard it).
 */
export class HandshakeError extends SmError {
  override name = 'HandshakeError';
  readonly fatal: boolean;
  constructor(code: string, message: string, options?: { cause?: unknown; fatal?: boolean }) {
    super(code, message, options);
    this.fatal = options?.fatal ?? false;
  }
}

/** Identity, certificate, CA and revocation problems. */
export class IdentityError extends SmError {
  override name = 'IdentityError';
}

/** True when `err` is a ShadowMesh error with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
