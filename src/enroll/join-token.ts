/**
 * Join tokens (docs/architecture.md "Enrollment"): one line a user copies
 * onto a new machine, `smj1.` followed by base64url (no padding) of
 *
 *     u8   host length (1..253)   host   UTF-8 (a DNS name or an IP address)
 *     u16  port (1..65535)
 *     32   SHA-256 of the enrollment service's TLS key (its pin)
 *     8    token id (names the token in CADIR/tokens/, `ca token --list`)
 *     32   secret (the CA directory keeps only its SHA-256)
 *
 * The pin makes the token self-contained: the member trusts the service
 * because its key matches, never WebPKI. Decoding is strict: every length
 * exact, nothing trailing; errors are SM_ERR_ENROLL_TOKEN_MALFORMED.
 */
import { isIP } from 'node:net';
import { EnrollCode, EnrollError } from './enroll-errors.js';

export const TOKEN_PREFIX = 'smj1.';
export const TOKEN_ID_BYTES = 8;
export const TOKEN_SECRET_BYTES = 32;
export const PIN_HASH_BYTES = 32;
const MAX_HOST_BYTES = 253;
/** Longest token text: prefix plus base64url of the largest body. */
export const MAX_TOKEN_CHARS = TOKEN_PREFIX.length + Math.ceil(((1 + MAX_HOST_BYTES + 2 + PIN_HASH_BYTES + TOKEN_ID_BYTES + TOKEN_SECRET_BYTES) * 4) / 3);
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface JoinToken {
  host: string;
  port: number;
  /** `sha256:<64 hex>`, as relays' pins are written. */
  pin: string;
  /** 16 hex digits. */
  id: string;
  secret: Uint8Array;
}

function malformed(why: string): EnrollError {
  return new EnrollError(EnrollCode.TOKEN_MALFORMED, `not a join token: ${why} (expected one line starting ${TOKEN_PREFIX}, as \`shadowmesh ca token\` prints it)`);
}

/** A DNS name or an IP address: what the token's host may be. */
export function isTokenHost(host: string): boolean {
  return host.length > 0 && Buffer.byteLength(host) <= MAX_HOST_BYTES && (isIP(host) !== 0 || HOST_RE.test(host));
}

export function encodeJoinToken(t: JoinToken): string {
  if (!isTokenHost(t.host)) throw malformed(`host ${JSON.stringify(t.host)} is not a DNS name or IP address`);
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65_535) throw malformed(`port ${String(t.port)} out of range`);
  if (!/^sha256:[0-9a-f]{64}$/.test(t.pin)) throw malformed('pin must be sha256:<64 hex>');
  if (!/^[0-9a-f]{16}$/.test(t.id)) throw malformed('id must be 16 hex digits');
  if (!(t.secret instanceof Uint8Array) || t.secret.length !== TOKEN_SECRET_BYTES) throw malformed(`secret must be ${TOKEN_SECRET_BYTES} bytes`);
  const host = Buffer.from(t.host, 'utf8');
  const port = Buffer.alloc(2);
  port.writeUInt16BE(t.port);
  const body = Buffer.concat([Buffer.from([host.length]), host, port, Buffer.from(t.pin.slice(7), 'hex'), Buffer.from(t.id, 'hex'), t.secret]);
  return TOKEN_PREFIX + body.toString('base64url');
}

export function decodeJoinToken(text: string): JoinToken {
  if (typeof text !== 'string') throw malformed('expected text');
  const s = text.trim();
  if (!s.startsWith(TOKEN_PREFIX)) throw malformed(`missing the ${TOKEN_PREFIX} prefix`);
  if (s.length > MAX_TOKEN_CHARS) throw malformed('too long');
  const b64 = s.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) throw malformed('not base64url');
  const body = Buffer.from(b64, 'base64url');
  if (body.toString('base64url') !== b64) throw malformed('not canonical base64url');
  const hostLen = body[0] ?? 0;
  const want = 1 + hostLen + 2 + PIN_HASH_BYTES + TOKEN_ID_BYTES + TOKEN_SECRET_BYTES;
  if (hostLen === 0 || body.length !== want) throw malformed(`wrong length ${body.length}`);
  let o = 1;
  const host = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let hostText: string;
  try {
    hostText = host.decode(body.subarray(o, o + hostLen));
  } catch {
    throw malformed('host is not UTF-8');
  }
  if (!isTokenHost(hostText)) throw malformed(`host ${JSON.stringify(hostText)} is not a DNS name or IP address`);
  o += hostLen;
  const port = body.readUInt16BE(o);
  o += 2;
  if (port === 0) throw malformed('port 0');
  const pin = 'sha256:' + body.subarray(o, o + PIN_HASH_BYTES).toString('hex');
  o += PIN_HASH_BYTES;
  const id = body.subarray(o, o + TOKEN_ID_BYTES).toString('hex');
  o += TOKEN_ID_BYTES;
  const secret = Uint8Array.from(body.subarray(o, o + TOKEN_SECRET_BYTES));
  return { host: hostText, port, pin, id, secret };
}

/** `HOST:PORT` of a token, IPv6 in brackets. */
export function tokenEndpoint(t: Pick<JoinToken, 'host' | 'port'>): string {
  return isIP(t.host) === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}
