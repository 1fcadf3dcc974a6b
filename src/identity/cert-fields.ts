/**
 * Rules for the human-chosen fields of certificates (names, groups, mesh
 * addresses), applied identically when issuing and when decoding, so every
 * certificate a CA can issue decodes and nothing else does.
 *
 * The limits keep an encoded member certificate below the wire's
 * MAX_CERT_BYTES (8192, docs/protocol.md): the fixed part plus the largest
 * name, 10 IPv6 addresses and routes (cert-routes.ts) and 16 groups of 32
 * bytes is 8191 bytes (certificate.ts computes the bound and checks it when
 * it loads).
 *
 * Errors are IdentityError SM_ERR_CERT_FIELD naming the field and value.
 */
import { IdentityError } from '../errors.js';
import { isWellFormedText } from '../wire/byte-writer.js';
import { checkedCidr, parseCidr, type Cidr } from './cidr.js';
import { IdentityCode } from './identity-errors.js';

/** Name length in UTF-8 bytes: fits a hostname label (63) plus one; long enough for "alice-laptop-2". */
export const MAX_NAME_BYTES = 64;
/** Mesh addresses per member: an IPv4 and an IPv6 address per interface, for a few interfaces. */
export const MAX_ADDRESSES = 8;
/** Groups per member: enough for role-based rules, small enough to bound the certificate. */
export const MAX_GROUPS = 16;
/** Group name length in bytes. */
export const MAX_GROUP_BYTES = 32;
/** Longest network domain in a CA certificate: the longest DNS name (RFC 1035 §2.3.4), as text without the root dot. */
export const MAX_DOMAIN_BYTES = 253;
/** One DNS label: letters, digits and inner '-', 1..63 characters (RFC 1035 §2.3.1), lower case (the canonical form). */
const DOMAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** True for a network domain in canonical form: lower-case DNS labels separated by dots, no trailing dot, at most 253 characters. */
export function isCanonicalDomain(text: string): boolean {
  return typeof text === 'string' && text.length > 0 && text.length <= MAX_DOMAIN_BYTES && text.split('.').every((l) => DOMAIN_LABEL.test(l));
}

/** Checks the network domain a CA certificate carries (canonical form, see isCanonicalDomain). */
export function checkDomain(domain: string, what = 'domain'): void {
  if (!isCanonicalDomain(domain)) throw fieldError(`${what} ${JSON.stringify(domain)}: expected lower-case DNS labels of letters, digits and '-' separated by dots, at most ${MAX_DOMAIN_BYTES} characters, e.g. mesh or corp.example`);
}

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidi overrides that can disguise text in a terminal.
const FORBIDDEN_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
/** Group names: ASCII letters, digits and ._- so they are safe in config files, flags (split on commas) and logs. */
const GROUP_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const encoder = new TextEncoder();

function fieldError(message: string): IdentityError {
  return new IdentityError(IdentityCode.CERT_FIELD, message);
}

/** Checks a member or CA name: 1..64 UTF-8 bytes, NFC, no control characters, no surrounding spaces. */
export function checkName(name: string, what = 'name'): void {
  if (typeof name !== 'string') throw fieldError(`${what}: expected a string`);
  const bytes = encoder.encode(name).length;
  if (bytes < 1 || bytes > MAX_NAME_BYTES) throw fieldError(`${what} ${JSON.stringify(name)}: must be 1..${MAX_NAME_BYTES} bytes of UTF-8, got ${bytes}`);
  if (!isWellFormedText(name)) throw fieldError(`${what}: contains a lone surrogate`);
  if (FORBIDDEN_NAME_CHARS.test(name)) throw fieldError(`${what} ${JSON.stringify(name)}: contains a control character`);
  if (name.trim() !== name) throw fieldError(`${what} ${JSON.stringify(name)}: has leading or trailing whitespace`);
  if (name.normalize('NFC') !== name) throw fieldError(`${what} ${JSON.stringify(name)}: not in Unicode NFC form`);
}

/** Checks a group list: at most 16 distinct names of 1..32 characters [A-Za-z0-9._-] (first not punctuation). */
export function checkGroups(groups: readonly string[]): void {
  if (!Array.isArray(groups)) throw fieldError('groups: expected an array');
  if (groups.length > MAX_GROUPS) throw fieldError(`groups: at most ${MAX_GROUPS}, got ${groups.length}`);
  const seen = new Set<string>();
  for (const g of groups) {
    if (typeof g !== 'string' || g.length < 1 || g.length > MAX_GROUP_BYTES || !GROUP_SHAPE.test(g)) {
      throw fieldError(`group ${JSON.stringify(g)}: must be 1..${MAX_GROUP_BYTES} characters of A-Z a-z 0-9 . _ -, starting with a letter or digit`);
    }
    if (seen.has(g)) throw fieldError(`group ${JSON.stringify(g)}: listed twice`);
    seen.add(g);
  }
}

/** Parses and checks mesh addresses (1..8, distinct host addresses); returns them in canonical form. */
export function parseAddresses(addresses: readonly string[]): Cidr[] {
  if (!Array.isArray(addresses)) throw fieldError('addresses: expected an array');
  if (addresses.length < 1 || addresses.length > MAX_ADDRESSES) throw fieldError(`addresses: need 1..${MAX_ADDRESSES}, got ${addresses.length}`);
  return checkDistinct(addresses.map((a) => parseCidr(a)));
}

/** Checks decoded (family, address, prefix) entries with the same rules as parseAddresses. */
export function checkDecodedAddresses(entries: ReadonlyArray<{ family: 4 | 6; address: Uint8Array; prefix: number }>): Cidr[] {
  if (entries.length < 1 || entries.length > MAX_ADDRESSES) throw fieldError(`addresses: need 1..${MAX_ADDRESSES}, got ${entries.length}`);
  return checkDistinct(entries.map((e) => checkedCidr(e.family, e.address, e.prefix)));
}

function checkDistinct(cidrs: Cidr[]): Cidr[] {
  const seen = new Set<string>();
  for (const c of cidrs) {
    // The same host address twice (even with another prefix) is a mistake.
    const host = c.text.slice(0, c.text.indexOf('/'));
    if (seen.has(host)) throw fieldError(`address ${c.text}: listed twice`);
    seen.add(host);
  }
  return cidrs;
}
