/**
 * The checks every enrollment request body shares (docs/architecture.md
 * "Enrollment"; join-request.ts, renew-request.ts): at most
 * MAX_REQUEST_BYTES, UTF-8 JSON, an object, and binary fields as canonical
 * base64 (or base64url) of the expected length. Each request kind passes its
 * own `refuse`, so its messages name it; nothing else is thrown.
 */
import { EnrollCode, EnrollError } from './enroll-errors.js';

/** The largest body the service reads: a request is about 10 KB. */
export const MAX_REQUEST_BYTES = 32 * 1024;

export type Refuse = (why: string) => EnrollError;

/** The body as a JSON object; SM_ERR_ENROLL_TOO_LARGE over the bound (`kind` names the request), `refuse` otherwise. */
export function requestObject(body: Uint8Array, kind: string, refuse: Refuse): Record<string, unknown> {
  if (body.length > MAX_REQUEST_BYTES) throw new EnrollError(EnrollCode.TOO_LARGE, `${kind} request of ${body.length} bytes is over ${MAX_REQUEST_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw refuse('not JSON text');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw refuse('expected a JSON object');
  return v as Record<string, unknown>;
}

/**
 * The bytes of a base64 (`url`: base64url, unpadded) text field, refused
 * unless canonical (one text per value, so a signed value has one spelling)
 * and, with `bytes`, of exactly that length.
 */
export function base64Field(value: unknown, field: string, refuse: Refuse, expect: { bytes?: number; url?: boolean } = {}): Uint8Array {
  const encoding = expect.url === true ? 'base64url' : 'base64';
  const re = expect.url === true ? /^[A-Za-z0-9_-]+$/ : /^[A-Za-z0-9+/]+={0,2}$/;
  if (typeof value !== 'string' || !re.test(value)) throw refuse(`${field}: expected ${encoding} text`);
  const buf = Buffer.from(value, encoding);
  if (buf.toString(encoding) !== value) throw refuse(`${field}: not canonical ${encoding}`);
  if (expect.bytes !== undefined && buf.length !== expect.bytes) throw refuse(`${field}: expected ${expect.bytes} bytes, got ${buf.length}`);
  return Uint8Array.from(buf);
}
