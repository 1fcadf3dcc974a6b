/**
 * Preference among direct paths at (nearly) equal RTT (issue 5 §3-4: "the
 * best answering candidate wins, with a preference for LAN addresses"; the
 * selector ranks UDP before WSS). The selector (selector.ts) compares RTT
 * first; only when two trusted direct paths are within its absolute RTT
 * margin does the lower rank win, so a rank never overrides a clearly
 * faster path.
 *
 *   rank = 2 x carrierRank(carrier) + (remote on a local network ? 0 : 1)
 *
 * The carrier rank on its own (UDP 0, WSS 1, relay 2) is what load cannot
 * overturn: the selector never leaves a busy path for one of a worse
 * carrier on RTT alone (selector.ts rule 4), since queueing delay on the
 * busy path is what makes its RTT look worse (issue 12).
 *
 * UDP first: it survives NAT rebinding and avoids TCP inside TCP. A local
 * network address (private IPv4, unique-local or link-local IPv6, loopback)
 * next: it stays up when the internet uplink does not, and costs no NAT
 * state. Shared address space (100.64.0.0/10, carrier-grade NAT) is not a
 * local network.
 */
import { isIP } from 'node:net';
import { unmapIpv4 } from '../../wire/ip-address.js';
import type { PathCarrier } from './path.js';

/** The host part of 'IP:PORT' / '[IPv6]:PORT'; '' when there is none. */
export function remoteHostOf(remote: string): string {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(remote);
  if (v6 !== null) return v6[1] as string;
  const v4 = /^([^:]+):\d+$/.exec(remote);
  return v4 === null ? '' : (v4[1] as string);
}

/** True for loopback, RFC 1918, IPv4 link-local, IPv6 unique-local (fc00::/7), link-local (fe80::/10) and ::1. */
export function isLocalNetworkAddress(address: string): boolean {
  const a = unmapIpv4(address);
  if (isIP(a) === 4) {
    const [x, y] = a.split('.').map(Number) as [number, number];
    return x === 10 || x === 127 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 169 && y === 254);
  }
  if (isIP(a) === 6) {
    const lower = a.toLowerCase();
    if (lower === '::1') return true;
    const first = parseInt(lower.split(':')[0] || '0', 16);
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
  }
  return false;
}

/** Preference among carriers, lower is better: UDP 0, WSS 1 (TCP inside TCP, no rebinding), the relay 2 (an extra hop). */
export function carrierRank(carrier: PathCarrier): number {
  return carrier === 'udp' ? 0 : carrier === 'wss' ? 1 : 2;
}

/** The selector's rank of a direct path (lower is preferred at equal RTT); see the header. */
export function directPathRank(carrier: PathCarrier, remote: string): number {
  return 2 * carrierRank(carrier) + (isLocalNetworkAddress(remoteHostOf(remote)) ? 0 : 1);
}
