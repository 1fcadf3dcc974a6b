/**
 * The 5-tuple of an IP packet for the policy engine (docs/architecture.md
 * "Network policy"): protocol, source and destination address as text, and
 * TCP/UDP ports. IPv4 honours the header length; IPv6 reads the fixed
 * header's next-header field only (a packet with extension headers is
 * matched by that protocol number, i.e. only by `proto: any`). A fragment
 * after the first has no ports: it is matched with ports 0. null: not an IP
 * packet (the caller drops it). Nothing here throws on packet contents.
 */
import { formatIpAddress as formatIp } from '../wire/ip-address.js';

export interface PacketTuple {
  protocol: 'tcp' | 'udp' | 'icmp' | number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** ICMPv6 type (for neighbour discovery), else -1. */
  icmp6Type: number;
}

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMP6 = 58;

function protoName(n: number): PacketTuple['protocol'] {
  return n === TCP ? 'tcp' : n === UDP ? 'udp' : n === ICMP || n === ICMP6 ? 'icmp' : n;
}

export function packetTuple(buf: Uint8Array, off: number): PacketTuple | null {
  const len = buf.length - off;
  if (len < 20) return null;
  const v = buf[off]! >> 4;
  let proto: number;
  let l4: number;
  let src: string;
  let dst: string;
  let firstFragment = true;
  if (v === 4) {
    const ihl = (buf[off]! & 0x0f) * 4;
    if (ihl < 20 || ihl > len) return null;
    proto = buf[off + 9]!;
    l4 = off + ihl;
    firstFragment = (((buf[off + 6]! & 0x1f) << 8) | buf[off + 7]!) === 0;
    src = formatIp(buf.subarray(off + 12, off + 16));
    dst = formatIp(buf.subarray(off + 16, off + 20));
  } else if (v === 6) {
    if (len < 40) return null;
    proto = buf[off + 6]!;
    l4 = off + 40;
    src = formatIp(buf.subarray(off + 8, off + 24));
    dst = formatIp(buf.subarray(off + 24, off + 40));
  } else {
    return null;
  }
  let srcPort = 0;
  let dstPort = 0;
  if ((proto === TCP || proto === UDP) && firstFragment && buf.length >= l4 + 4) {
    srcPort = (buf[l4]! << 8) | buf[l4 + 1]!;
    dstPort = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
  }
  const icmp6Type = v === 6 && proto === ICMP6 && buf.length > l4 ? buf[l4]! : -1;
  return { protocol: protoName(proto), src, dst, srcPort, dstPort, icmp6Type };
}
