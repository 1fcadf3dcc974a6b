/**
 * IP address text <-> bytes, for ESTABLISHED.observedAddress
 * (docs/protocol.md §1: `family u8 (4 or 6) | address[4 or 16]`).
 *
 * Accepted text:
 *  - IPv4: strict dotted quad, four decimal parts 0..255 without leading
 *    zeros ("010.0.0.1" is rejected: some parsers read it as octal).
 *  - IPv6: RFC 4291 §2.2 text: eight 1..4-digit hex groups, any case, at most
 *    one "::" standing for one or more zero groups, optionally ending in a
 *    dotted quad for the low 32 bits. Zone ids ("%eth0"), brackets, ports and
 *    prefixes are rejected.
 * Anything else is SM_ERR_WIRE_FIELD.
 *
 * Output is canonical (RFC 5952 §4): lowercase, no leading zeros, the longest
 * run of two or more zero groups shortened to "::" (the first run on a tie),
 * a single zero group never shortened, and IPv4-mapped addresses
 * (::ffff:0:0/96) written as "::ffff:a.b.c.d" (RFC 5952 §5). So
 * format(parse(s)) === s exactly when s is canonical, and parse(format(b))
 * equals b for every 4- or 16-byte b.
 */

import { ADDRESS_FAMILY_IPV4, ADDRESS_FAMILY_IPV6, IPV4_BYTES, IPV6_BYTES } from './constants.js';
import { WireCode, wireFail } from './wire-errors.js';

export interface ParsedIpAddress {
  family: typeof ADDRESS_FAMILY_IPV4 | typeof ADDRESS_FAMILY_IPV6;
  /** 4 bytes for family 4, 16 for family 6, network byte order. */
  bytes: Uint8Array;
}

/** Longest valid IPv6 text: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". */
const MAX_IPV6_TEXT_CHARS = 45;
/** IPv6 address = eight 16-bit groups. */
const IPV6_GROUPS = 8;

const DEC_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4_TEXT = new RegExp(`^${DEC_OCTET}\\.${DEC_OCTET}\\.${DEC_OCTET}\\.${DEC_OCTET}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function bad(text: string, field: string, why: string): never {
  return wireFail(WireCode.Field, `${field}: ${JSON.stringify(text.slice(0, 64))} is not ${why}`);
}

/** Four bytes of a strict dotted quad, or null. */
function parseIpv4(text: string): Uint8Array | null {
  const m = IPV4_TEXT.exec(text);
  if (m === null) return null;
  return Uint8Array.of(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]));
}

/**
 * 16-bit groups of one side of an IPv6 address (no "::" inside). An empty
 * side gives no groups. `allowIpv4Tail` lets the last part be a dotted quad.
 */
function parseGroups(part: string, allowIpv4Tail: boolean, text: string, field: string): number[] {
  if (part === '') return [];
  const pieces = part.split(':');
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] as string;
    if (HEX_GROUP.test(piece)) {
      groups.push(parseInt(piece, 16));
      continue;
    }
    if (allowIpv4Tail && i === pieces.length - 1) {
      const v4 = parseIpv4(piece);
      if (v4 !== null) {
        groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
        continue;
      }
    }
    bad(text, field, 'an IPv6 address');
  }
  return groups;
}

function parseIpv6(text: string, field: string): Uint8Array {
  if (text.length > MAX_IPV6_TEXT_CHARS) bad(text, field, 'an IPv6 address');
  const halves = text.split('::');
  let groups: number[];
  if (halves.length === 1) {
    groups = parseGroups(text, true, text, field);
    if (groups.length !== IPV6_GROUPS) bad(text, field, 'an IPv6 address (needs 8 groups)');
  } else if (halves.length === 2) {
    const head = parseGroups(halves[0] as string, false, text, field);
    const tail = parseGroups(halves[1] as string, true, text, field);
    // "::" stands for at least one zero group.
    const missing = IPV6_GROUPS - head.length - tail.length;
    if (missing < 1) bad(text, field, 'an IPv6 address (too many groups around "::")');
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    return bad(text, field, 'an IPv6 address (more than one "::")');
  }
  const out = new Uint8Array(IPV6_BYTES);
  for (let i = 0; i < IPV6_GROUPS; i++) {
    const g = groups[i] as number;
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  }
  return out;
}

/** Parse IPv4 dotted or IPv6 text; anything else is SM_ERR_WIRE_FIELD. */
export function parseIpAddress(text: string, field = 'address'): ParsedIpAddress {
  if (typeof text !== 'string') wireFail(WireCode.Field, `${field}: expected a string`);
  const v4 = parseIpv4(text);
  if (v4 !== null) return { family: ADDRESS_FAMILY_IPV4, bytes: v4 };
  if (text.includes(':')) return { family: ADDRESS_FAMILY_IPV6, bytes: parseIpv6(text, field) };
  return bad(text, field, 'an IPv4 or IPv6 address');
}

function formatIpv4(b: Uint8Array, at: number): string {
  return `${b[at] as number}.${b[at + 1] as number}.${b[at + 2] as number}.${b[at + 3] as number}`;
}

/** True for a 16-byte IPv4-mapped IPv6 address (::ffff:0:0/96). */
export function isIpv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function formatIpv6(b: Uint8Array): string {
  if (isIpv4Mapped(b)) return `::ffff:${formatIpv4(b, 12)}`; // RFC 5952 §5
  const groups: number[] = [];
  for (let i = 0; i < IPV6_GROUPS; i++) groups.push(((b[2 * i] as number) << 8) | (b[2 * i + 1] as number));
  // RFC 5952 §4.2: shorten the longest run of >= 2 zero groups; first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < IPV6_GROUPS; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < IPV6_GROUPS && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':'); // §4.1, §4.3
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Canonical text of a 4-byte (IPv4) or 16-byte (IPv6) address; any other
 *  length is SM_ERR_WIRE_FIELD. */
export function formatIpAddress(bytes: Uint8Array, field = 'address'): string {
  if (bytes.length === IPV4_BYTES) return formatIpv4(bytes, 0);
  if (bytes.length === IPV6_BYTES) return formatIpv6(bytes);
  return wireFail(WireCode.Field, `${field}: ${bytes.length} bytes is neither IPv4 nor IPv6`);
}

/** IPv4-mapped IPv6 text prefix (::ffff:0:0/96, RFC 5952 §5). */
const IPV4_MAPPED_PREFIX = '::ffff:';

/**
 * "::ffff:a.b.c.d" as "a.b.c.d", anything else unchanged: a dual-stack
 * socket reports an IPv4 peer in the mapped form. Text only, no parsing, so
 * it is cheap enough for a per-packet path; canonicalIpText when the input
 * may be written in any form.
 */
export function unmapIpv4(text: string): string {
  return text.startsWith(IPV4_MAPPED_PREFIX) && text.includes('.') ? text.slice(IPV4_MAPPED_PREFIX.length) : text;
}

/**
 * Canonical text of an IP address (RFC 5952), with an IPv4-mapped IPv6
 * address reduced to plain dotted IPv4: the form to compare, key and show.
 * Null when `text` is not an IP address. Never throws.
 */
export function canonicalIpText(text: string): string | null {
  try {
    return unmapIpv4(formatIpAddress(parseIpAddress(text).bytes));
  } catch {
    return null;
  }
}

/** 'IP:PORT', brackets around IPv6 ('[2001:db8::1]:443'); an IPv4-mapped address as plain IPv4. Text that is no IP address is used as it is. */
export function formatHostPort(address: string, port: number): string {
  const a = canonicalIpText(address) ?? address;
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}
