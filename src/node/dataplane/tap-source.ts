/**
 * The TAP source rule (docs/protocol.md §2.1): on the L2 segment a member
 * speaks only as itself. Its Ethernet source is the MAC derived from its peer
 * id (macForPeer), and whatever in the frame tells a neighbour "this address
 * lives at this MAC" names only its own addresses:
 *
 *   ARP (RFC 826)            sender MAC = its MAC; sender IP = one of its
 *                            certificate's IPv4 addresses, or 0.0.0.0 (an
 *                            RFC 5227 probe, which claims nothing)
 *   IPv4 (RFC 791)           source = one of its certificate's IPv4 addresses;
 *                            0.0.0.0 only towards 255.255.255.255 or a
 *                            multicast group (DHCP, IGMP before an address)
 *   IPv6 (RFC 8200)          source = one of its certificate's IPv6 addresses
 *                            or fe80::/64 with the modified EUI-64 of its MAC
 *                            (RFC 4291 appendix A); :: only towards a
 *                            multicast group (DAD, MLD)
 *   ND (RFC 4861)            every source/target link-layer address option =
 *                            its MAC; the target of a Neighbor Advertisement
 *                            or Redirect = one of its IPv6 addresses above
 *   802.1Q/802.1ad tags      dropped: the ARP or IP inside would pass unchecked
 *   any other EtherType      the MAC check alone (no address inside to claim)
 *
 * A frame that breaks the rule is dropped with the reason checkTapSource
 * returns; the switch (l2-switch.ts) learns a MAC only from a frame that
 * passed, so it never learns a MAC behind a member that does not own it.
 *
 * What callers must know: checkTapSource reads the caller's buffer in place,
 * allocates nothing and never throws; tapOwner allocates, once per member.
 */
import { ETHERNET_HEADER_BYTES } from '../device/device.js';

const MAC_BYTES = 6;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q C-tag, 802.1ad S-tag, and the pre-standard 0x9100 QinQ tag. */
const VLAN_ETHERTYPES: ReadonlySet<number> = new Set([0x8100, 0x88a8, 0x9100]);
/** ARP for Ethernet/IPv4: htype(2) ptype(2) hlen(1) plen(1) oper(2) sha(6) spa(4) tha(6) tpa(4). */
const ARP_BYTES = 28;
const ARP_SHA_OFFSET = 8;
const ARP_SPA_OFFSET = 14;
const IPV4_MIN_HEADER_BYTES = 20;
const IPV6_HEADER_BYTES = 40;
const NEXT_HEADER_ICMPV6 = 58;
/** Hop-by-hop, routing and destination options: the extension headers walked to find ICMPv6. */
const WALKED_EXTENSION_HEADERS: ReadonlySet<number> = new Set([0, 43, 60]);
/** Real traffic carries one or two extension headers; more than this is dropped rather than walked. */
export const MAX_IPV6_EXTENSION_HEADERS = 8;
/** ND message type -> offset of its options from the ICMPv6 header (RFC 4861 §4.1-§4.5). */
const ND_OPTIONS_OFFSET: ReadonlyMap<number, number> = new Map([[133, 8], [134, 16], [135, 24], [136, 24], [137, 40]]);
const ND_NEIGHBOR_ADVERTISEMENT = 136;
const ND_REDIRECT = 137;
const ND_OPTION_SOURCE_LLA = 1;
const ND_OPTION_TARGET_LLA = 2;

export type TapSourceVerdict =
  | 'ok' | 'runt' | 'not_ip' | 'spoofed_mac' | 'spoofed_arp' | 'spoofed_source' | 'spoofed_nd'
  | 'vlan_tagged' | 'ipv6_ext_headers';

/** What a member may claim on the segment: its MAC, its certificate's addresses, its link-local address. */
export interface TapOwner {
  readonly mac: Uint8Array;
  readonly ipv4: readonly Uint8Array[];
  /** The certificate's IPv6 addresses and linkLocalForMac(mac). */
  readonly ipv6: readonly Uint8Array[];
}

/**
 * A TAP interface's Ethernet address, derived from the peer id: locally
 * administered (0x02), unicast, and the same across restarts, so neighbours'
 * ARP caches stay valid when a member's daemon restarts.
 */
export function macForPeer(peerId: Uint8Array): Uint8Array {
  const mac = Uint8Array.from(peerId.subarray(0, MAC_BYTES));
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}

/** fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291 appendix A): what Linux gives an interface by default (addr_gen_mode 0). */
export function linkLocalForMac(mac: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a.set([mac[0]! ^ 0x02, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!], 8);
  return a;
}

export function tapOwner(member: { peerId: Uint8Array; addresses: ReadonlyArray<{ family: 4 | 6; bytes: Uint8Array }> }): TapOwner {
  const mac = macForPeer(member.peerId);
  const ipv4: Uint8Array[] = [];
  const ipv6: Uint8Array[] = [linkLocalForMac(mac)];
  for (const a of member.addresses) (a.family === 4 ? ipv4 : ipv6).push(a.bytes);
  return { mac, ipv4, ipv6 };
}

/** True when `buf[offset, offset + ref.length)` equals `ref`. */
function bytesAt(buf: Uint8Array, offset: number, ref: Uint8Array): boolean {
  for (let i = 0; i < ref.length; i++) if (buf[offset + i] !== ref[i]) return false;
  return true;
}

function oneOf(buf: Uint8Array, offset: number, set: readonly Uint8Array[]): boolean {
  for (let i = 0; i < set.length; i++) if (bytesAt(buf, offset, set[i]!)) return true;
  return false;
}

function zeroAt(buf: Uint8Array, offset: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (buf[offset + i] !== 0) return false;
  return true;
}

/**
 * Whether the Ethernet frame at `offset` of `buf` keeps the TAP source rule
 * for `owner`: 'ok', or the drop reason.
 */
export function checkTapSource(buf: Uint8Array, offset: number, owner: TapOwner): TapSourceVerdict {
  if (buf.length - offset < ETHERNET_HEADER_BYTES) return 'runt';
  if (!bytesAt(buf, offset + MAC_BYTES, owner.mac)) return 'spoofed_mac';
  const etherType = (buf[offset + 12]! << 8) | buf[offset + 13]!;
  const p = offset + ETHERNET_HEADER_BYTES;
  switch (etherType) {
    case ETHERTYPE_ARP: return checkArp(buf, p, owner);
    case ETHERTYPE_IPV4: return checkIpv4(buf, p, owner);
    case ETHERTYPE_IPV6: return checkIpv6(buf, p, owner);
    default: return VLAN_ETHERTYPES.has(etherType) ? 'vlan_tagged' : 'ok';
  }
}

function checkArp(buf: Uint8Array, p: number, owner: TapOwner): TapSourceVerdict {
  if (buf.length - p < ARP_BYTES) return 'runt';
  // Only Ethernet/IPv4 ARP is checkable; Linux ignores any other on an Ethernet device, so nothing is lost.
  if (buf[p] !== 0 || buf[p + 1] !== 1 || buf[p + 2] !== 0x08 || buf[p + 3] !== 0x00 || buf[p + 4] !== MAC_BYTES || buf[p + 5] !== 4) return 'spoofed_arp';
  if (!bytesAt(buf, p + ARP_SHA_OFFSET, owner.mac)) return 'spoofed_arp';
  if (!oneOf(buf, p + ARP_SPA_OFFSET, owner.ipv4) && !zeroAt(buf, p + ARP_SPA_OFFSET, 4)) return 'spoofed_arp';
  return 'ok';
}

function checkIpv4(buf: Uint8Array, p: number, owner: TapOwner): TapSourceVerdict {
  if (buf.length - p < IPV4_MIN_HEADER_BYTES) return 'runt';
  if (buf[p]! >> 4 !== 4) return 'not_ip';
  const src = p + 12;
  if (oneOf(buf, src, owner.ipv4)) return 'ok';
  if (zeroAt(buf, src, 4)) {
    // Unspecified source: only towards the limited broadcast or a multicast group (224.0.0.0/4).
    const dst = p + 16;
    if ((buf[dst]! & 0xf0) === 0xe0) return 'ok';
    if (buf[dst] === 0xff && buf[dst + 1] === 0xff && buf[dst + 2] === 0xff && buf[dst + 3] === 0xff) return 'ok';
  }
  return 'spoofed_source';
}

function checkIpv6(buf: Uint8Array, p: number, owner: TapOwner): TapSourceVerdict {
  if (buf.length - p < IPV6_HEADER_BYTES) return 'runt';
  if (buf[p]! >> 4 !== 6) return 'not_ip';
  const src = p + 8;
  if (!oneOf(buf, src, owner.ipv6) && !(zeroAt(buf, src, 16) && buf[p + 24] === 0xff)) return 'spoofed_source';
  // Find ICMPv6 behind the walked extension headers; read no further than the payload length says.
  const end = Math.min(buf.length, p + IPV6_HEADER_BYTES + ((buf[p + 4]! << 8) | buf[p + 5]!));
  let next = buf[p + 6]!;
  let q = p + IPV6_HEADER_BYTES;
  for (let i = 0; WALKED_EXTENSION_HEADERS.has(next); i++) {
    if (i === MAX_IPV6_EXTENSION_HEADERS) return 'ipv6_ext_headers';
    if (end - q < 8) return 'runt';
    next = buf[q]!;
    q += (buf[q + 1]! + 1) * 8;
  }
  // A fragment (44) is not followed: receivers drop fragmented ND (RFC 6980 §5).
  if (next !== NEXT_HEADER_ICMPV6 || end - q < 4) return 'ok';
  return checkNd(buf, q, end, owner);
}

function checkNd(buf: Uint8Array, icmp: number, end: number, owner: TapOwner): TapSourceVerdict {
  const type = buf[icmp]!;
  const optionsAt = ND_OPTIONS_OFFSET.get(type);
  if (optionsAt === undefined) return 'ok';
  if (end - icmp < optionsAt) return 'runt';
  // The target an advertisement or redirect binds to a link-layer address must be the sender's own.
  if ((type === ND_NEIGHBOR_ADVERTISEMENT || type === ND_REDIRECT) && !oneOf(buf, icmp + 8, owner.ipv6)) return 'spoofed_nd';
  for (let o = icmp + optionsAt; o + 2 <= end;) {
    const units = buf[o + 1]!;
    // A zero length or an option past the end makes receivers drop the message (RFC 4861 §4.6).
    if (units === 0 || o + units * 8 > end) return 'spoofed_nd';
    const kind = buf[o]!;
    if ((kind === ND_OPTION_SOURCE_LLA || kind === ND_OPTION_TARGET_LLA) && !bytesAt(buf, o + 2, owner.mac)) return 'spoofed_nd';
    o += units * 8;
  }
  return 'ok';
}
