/**
 * Canonical comparison of STUN transport addresses (docs/protocol.md §5).
 *
 * A dual-stack UDP socket reports IPv4 peers as IPv4-mapped IPv6 text
 * ("::ffff:1.2.3.4"), and callers may write IPv6 in any RFC 4291 form, so
 * addresses are compared after canonicalising: RFC 5952 text, with
 * IPv4-mapped addresses reduced to plain dotted IPv4. Never throws: text that
 * is not an IP address canonicalises to null and equals nothing.
 */

import { canonicalIpText, formatHostPort, formatIpAddress, parseIpAddress } from '../wire/ip-address.js';

import type { StunAddress } from './stun-message.js';

/** RFC 5952 text of an IP address, IPv4-mapped kept as "::ffff:a.b.c.d" (what a
 *  udp6 socket needs to reach an IPv4 host); null if `text` is not an IP address. */
export function formatIp(text: string): string | null {
  try {
    return formatIpAddress(parseIpAddress(text).bytes);
  } catch {
    return null;
  }
}

function validPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 0xffff;
}

/** The canonical form of `a`, or null when its address or port is invalid. */
export function canonicalStunAddress(a: StunAddress): StunAddress | null {
  if (typeof a !== 'object' || a === null || !validPort(a.port)) return null;
  const address = canonicalIpText(a.address);
  return address === null ? null : { address, port: a.port };
}

/** True when both are valid and name the same IP address and port. */
export function sameStunAddress(a: StunAddress, b: StunAddress): boolean {
  if (a.port !== b.port) return false;
  const x = canonicalIpText(a.address);
  return x !== null && x === canonicalIpText(b.address);
}

/** "1.2.3.4:5" or "[::1]:5", for logs and messages. */
export function formatStunAddress(a: StunAddress): string {
  return formatHostPort(a.address, a.port);
}
