/**
 * Preference among direct paths at (nearly) equal RTT (issue 5 §3-4: "the
 * best answering candidate wins, with a preference for LAN addresses"; the
 * selector ranks UDP before WSS). The selector (selector.ts) compares RTT
 * first; only when two trusted direct paths are within its absolute RTT
 * margin does the lower rank win, so a rank never overrides a clearly
 * faster path.
 *
 *   rank = 3 x carrierRank(carrier) + reach(remote)
 *   reach: 0 on a link of this machine, 1 another local network address, 2 the rest
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
 *
 * On a link of this machine first of all: the remote is inside the subnet of
 * one of our interfaces that has a link-layer address (Ethernet, Wi-Fi, a
 * bridge, a veth) or is loopback. Tunnel devices (WireGuard, tun, ipip, ppp)
 * have none, so a peer's address on another VPN this machine also runs is a
 * local network address but not on-link: a path through that VPN answers
 * within the selector's RTT margin of the path on the wire beside it (both
 * well under a millisecond on one LAN), and without this tier whichever was
 * established first kept the traffic, sealed twice and at a fraction of the
 * rate (BENCHMARKS.md "UDP segmentation offload out, batched reads with GRO
 * in"; docs/architecture.md "The selector").
 */
import { BlockList, isIP } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { unmapIpv4 } from '../../wire/ip-address.js';
import type { PathCarrier } from './path.js';

/** Whether an address (IPv4, IPv6, v4-mapped; no port) is on a link of this machine. */
export type OnLinkTest = (address: string) => boolean;

const NO_LINK_ADDRESS = '00:00:00:00:00:00';

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

/** The address without an IPv6 zone ('fe80::1%eth0' -> 'fe80::1') and IPv4-mapped IPv6 as IPv4. */
function bareAddress(address: string): string {
  const zone = address.indexOf('%');
  return unmapIpv4(zone < 0 ? address : address.slice(0, zone));
}

/**
 * The on-link test for an interface table (os.networkInterfaces() shape): the subnets of interfaces
 * with a link-layer address, and loopback. Interfaces without one (tunnels) are left out.
 */
export function onLinkTest(interfaces: Record<string, NetworkInterfaceInfo[] | undefined>): OnLinkTest {
  const subnets = new BlockList();
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      if (!i.internal && i.mac === NO_LINK_ADDRESS) continue;
      const [net, bits] = (i.cidr ?? '').split('/');
      const family = isIP(bareAddress(net ?? ''));
      if (family === 0 || bits === undefined || !/^\d{1,3}$/.test(bits)) continue;
      subnets.addSubnet(bareAddress(net!), Number(bits), family === 4 ? 'ipv4' : 'ipv6');
    }
  }
  return (address: string): boolean => {
    const a = bareAddress(address);
    const family = isIP(a);
    return family !== 0 && subnets.check(a, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/** The on-link test for this machine's interfaces as they are now (one getifaddrs per call: cache its answers). */
export function isOnLinkNow(address: string): boolean {
  return onLinkTest(networkInterfaces())(address);
}

/** Preference among carriers, lower is better: UDP 0, WSS 1 (TCP inside TCP, no rebinding), the relay 2 (an extra hop). */
export function carrierRank(carrier: PathCarrier): number {
  return carrier === 'udp' ? 0 : carrier === 'wss' ? 1 : 2;
}

/** The selector's rank of a direct path (lower is preferred at equal RTT); see the header. */
export function directPathRank(carrier: PathCarrier, remote: string, onLink: OnLinkTest): number {
  const host = remoteHostOf(remote);
  const reach = onLink(host) ? 0 : isLocalNetworkAddress(host) ? 1 : 2;
  return 3 * carrierRank(carrier) + reach;
}
