/**
 * The web console's token (docs/architecture.md "Web console",
 * docs/threat-model.md §7): 32 random bytes drawn at each daemon start,
 * written as base64url, handed to the user only by the control API's `web`
 * method (`shadowmesh web`). Whoever holds it may use the console as this
 * node, so it never reaches a log: redactToken is the only form that may.
 *
 * A request carries it either as the session cookie the login link sets
 * (WEB_COOKIE) or as `Authorization: Bearer TOKEN` (scripts, tests).
 * The relay's operator page has no control socket to hand a token out: its
 * admin token is the operator's, read from a file (readWebTokenFile).
 *
 * Comparison is over SHA-256 digests with timingSafeEqual, so neither the
 * length nor a prefix of the token leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

/** 256 bits: far beyond guessing through a rate of local HTTP requests. */
export const WEB_TOKEN_BYTES = 32;
/** The session cookie's name. */
export const WEB_COOKIE = 'sm_web';
/** Characters of the token a log line may show, to tell two starts apart. */
const REDACTED_CHARS = 4;

/** A fresh token: WEB_TOKEN_BYTES random bytes as base64url (43 characters). */
export function newWebToken(rng: (n: number) => Uint8Array = randomBytes): string {
  return Buffer.from(rng(WEB_TOKEN_BYTES)).toString('base64url');
}

/** True when `given` is exactly `expected`, compared in constant time. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined || given.length === 0) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** The form of a token a log may carry: its first characters and an ellipsis. */
export function redactToken(token: string): string {
  return `${token.slice(0, REDACTED_CHARS)}…`;
}

/** The token a request carries: `Authorization: Bearer X` first, else the WEB_COOKIE cookie; undefined when neither. */
export function tokenOf(headers: { readonly authorization?: string | undefined; readonly cookie?: string | undefined }): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(auth.trim());
    return m === null ? undefined : m[1];
  }
  const cookie = headers.cookie;
  if (cookie === undefined) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === WEB_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for a login: only this origin's requests carry it (SameSite=Strict), scripts cannot read it (HttpOnly), it dies with the browser session. */
export function sessionCookie(token: string): string {
  return `${WEB_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}

/** An admin token must be at least this long: 32 base64url characters are 192 bits. */
export const MIN_ADMIN_TOKEN_CHARS = 32;
/** The bearer header takes at most this many characters (tokenOf). */
const MAX_ADMIN_TOKEN_CHARS = 128;

/** The admin token in `path` (relay.web.tokenFile): one line of 32 to 128 base64url characters; anything else is a ConfigError naming the file, never its content. */
export async function readWebTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay.web.tokenFile ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const token = text.trim();
  if (!new RegExp(`^[A-Za-z0-9_-]{${MIN_ADMIN_TOKEN_CHARS},${MAX_ADMIN_TOKEN_CHARS}}$`).test(token)) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay.web.tokenFile ${path}: expected one line of ${MIN_ADMIN_TOKEN_CHARS} to ${MAX_ADMIN_TOKEN_CHARS} base64url characters (A-Z, a-z, 0-9, - and _)`);
  }
  return token;
}
