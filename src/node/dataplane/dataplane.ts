/**
 * The data plane (docs/architecture.md "Outbound: device to socket" and
 * "Inbound: socket to device"): packets from the TAP/TUN device go
 * to the right member's end-to-end session; device frames from members go to
 * the device. Policy only — sealing is the session's, I/O the device's and the
 * transport's.
 *
 * Units. With a virtio-net device (`vnetHdr`), each unit is a 10-byte
 * virtio-net header plus an Ethernet frame (TAP) or IP packet (TUN) of up to
 * a 64 KiB GSO segment; it crosses the session whole as one DEVICE_FRAME (one
 * AEAD call per segment) and the receiving kernel segments it. A device
 * without the header gets a zero header added on the way out and stripped on
 * the way in (and GSO units it cannot take are dropped and counted).
 *
 * Forwarding:
 *  - TAP (L2): destination MAC -> the peer it was learned behind; broadcast,
 *    multicast and unknown unicast are flooded to every online member. A
 *    frame from a member must keep the TAP source rule (tap-source.ts,
 *    docs/protocol.md §2.1): its own derived MAC, and ARP, IP and ND that
 *    claim only its certificate's addresses; otherwise it is dropped
 *    ('spoofed_mac', 'spoofed_arp', 'spoofed_source', 'spoofed_nd', ...).
 *    Source MACs are learned only from frames that passed (l2-switch.ts).
 *  - TUN (L3): destination IP -> the member whose certificate holds that
 *    address. A frame from a member must come from one of the addresses its
 *    certificate names, or it is dropped ('spoofed_source'): a member cannot
 *    speak for another.
 *  - Subnet routes (docs/architecture.md "Subnet routes"), TUN only, when
 *    this node accepts routes (`acceptRoutes`): a destination that is no
 *    member's address goes to the member whose certified route holds it,
 *    longest prefix first (members.byRoute); a member's own address always
 *    wins. Inbound, a source inside the sender's certified routes passes the
 *    source rule too, as the return traffic of what we sent there; without
 *    `acceptRoutes` it is 'spoofed_source' as before, since we never routed
 *    anything there. Routed packets meet the network policy like any other:
 *    its CIDR selectors see the LAN address.
 *  - A node serving routes (`inboundDestinations`, set with
 *    --advertise-routes) has IP forwarding on, so its kernel would forward
 *    whatever a member sends wherever this machine reaches (its default
 *    route, other LANs): a packet from a member whose destination is not
 *    inside those prefixes (our mesh subnets, our certified routes,
 *    multicast and link-local) is dropped ('unserved_destination'). A member
 *    may reach the LANs the CA signed, not turn this node into an exit.
 *  - Exit nodes (docs/architecture.md "Exit nodes"), TUN only. A node that
 *    chose one (setExitNode, `up --exit-node`) sends a packet that no
 *    member's address and no accepted route holds to that member, but only
 *    while it is listed and its CA-verified certificate carries the exit
 *    mark; otherwise the packet is dropped ('no_exit_node'), never sent
 *    anywhere else. Inbound, a source that no member's address holds
 *    passes the source rule when it comes from the chosen exit node with
 *    the mark: the internet's answers. An exit node cannot speak for
 *    another member's address, and a member that is not our exit node
 *    gains nothing. A node serving as an exit (`serveExit`, `up
 *    --advertise-exit-node`, its own certificate marked) takes members'
 *    packets for any destination: the 'unserved_destination' rule above is
 *    what it lifts.
 *
 * Network policy (docs/architecture.md "Network policy"), when the node has
 * one (setPolicy): a packet from a member that passed the source rule is
 * checked inbound by the PolicyEngine with the member's name and groups from
 * its CA-verified certificate; a denied one is dropped and counted under
 * the deciding rule (policyDrops, "policy.<rule>" in status). Packets from
 * our device are checked outbound (tracked, so their replies pass inbound;
 * dropped only with `outbound: true`). TAP: the IP packet inside IPv4/IPv6
 * Ethernet frames is checked; ARP and IPv6 neighbour discovery always pass;
 * any other ethertype is dropped under default-deny. No policy: one null
 * check per packet.
 *
 * Device writes from the network are gathered and flushed once per event-loop
 * turn (one write batch per socket read), in a bounded queue; every drop has
 * a reason counter. Nothing here throws on packet contents.
 */
import { InnerType } from '../../wire/constants.js';
import { equalBytes } from '../../crypto/bytes.js';
import type { Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import { L2Switch } from './l2-switch.js';
import { ipDestination, ipSource } from './ip-packet.js';
import { checkTapSource, tapOwner, type TapOwner } from './tap-source.js';
import { VNET_HDR_BYTES, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TYPE_OFFSET } from '../device/vnet-header.js';
import { ETHERNET_HEADER_BYTES } from '../device/device.js';
import type { PolicyEngine } from '../../policy/policy-engine.js';
import type { FlowEnd } from '../../policy/compiled-policy.js';
import { DEFAULT_DENY_RULE } from '../../policy/policy-file.js';
import { packetTuple } from '../../policy/packet-flow.js';
import { prefixContains } from '../../identity/cert-routes.js';

/** Units waiting for the next device write: about one socket read's worth of 64 KiB segments and more; beyond it, drop rather than buffer. */
export const MAX_PENDING_DEVICE_WRITES = 512;

/** What the data plane needs of a device (src/node/device's Device fits). */
export interface DataplaneDevice {
  readonly kind: 'tap' | 'tun';
  readonly vnetHdr: boolean;
  start(onBatch: (packets: readonly Uint8Array[], count: number) => void): void;
  write(packets: readonly Uint8Array[], count: number): number;
}

/** What the data plane needs of the sessions (PeerManager fits). */
export interface DataplanePeers {
  sendInner(peerId: Uint8Array, innerType: number, body: Uint8Array): 'sent' | 'queued' | 'dropped';
  /** Optional: sendInner(peerId, DEVICE_FRAME, body) given the peer's hex too, with no array or string per packet (PeerManager.sendDeviceFrame). */
  sendDeviceFrame?(peerId: Uint8Array, hex: string, body: Uint8Array): 'sent' | 'queued' | 'dropped';
}

export interface DataplaneMember {
  peerId: Uint8Array;
  hex: string;
  addresses: ReadonlyArray<{ family: 4 | 6; bytes: Uint8Array }>;
  /** Certified subnet routes (bytes: the network address); absent or empty for most members. */
  routes?: ReadonlyArray<{ family: 4 | 6; bytes: Uint8Array; prefix: number }>;
  /** Name and groups from the CA-verified certificate (the policy's member:/group: selectors); `exit`: the CA's exit-node mark. */
  name?: string;
  cert?: { readonly groups: readonly string[]; readonly exit?: boolean };
}

/** What the data plane needs of the member directory (Directory fits). */
export interface DataplaneMembers {
  byAddress(addr: Uint8Array): DataplaneMember | undefined;
  /** The member whose certified route holds `addr`, longest prefix first (Directory.byRoute); consulted only with acceptRoutes. */
  byRoute?(addr: Uint8Array): DataplaneMember | undefined;
  get(peerId: Uint8Array | string): DataplaneMember | undefined;
  list(): readonly DataplaneMember[];
}

export type DataplaneDropReason =
  | 'runt' | 'not_ip' | 'no_route' | 'spoofed_source' | 'unknown_peer' | 'gso_unsupported'
  | 'device_queue_full' | 'device_write_failed' | 'session_dropped' | 'unserved_destination'
  // An exit node is chosen but not listed, or its certificate lacks the exit mark: default-route traffic stops here.
  | 'no_exit_node'
  // TAP source rule (tap-source.ts); a forged IP source is 'spoofed_source' as in TUN mode.
  | 'spoofed_mac' | 'spoofed_arp' | 'spoofed_nd' | 'vlan_tagged' | 'ipv6_ext_headers';

export interface DataplaneStats {
  deviceRx: number;
  deviceTx: number;
  toPeers: number;
  fromPeers: number;
  floods: number;
  drops: Record<DataplaneDropReason, number>;
}

export interface DataplaneDeps {
  device: DataplaneDevice;
  peers: DataplanePeers;
  members: DataplaneMembers;
  clock?: Clock;
  logger?: Logger;
  /** Send to and accept from members' certified subnet routes (`up --accept-routes`); TUN only. Default false. */
  acceptRoutes?: boolean;
  /**
   * TUN, when serving routes (`up --advertise-routes`): the only destinations
   * a member's packet may have (network addresses and prefix lengths);
   * others are dropped as 'unserved_destination'. Absent: no check.
   */
  inboundDestinations?: ReadonlyArray<{ bytes: Uint8Array; prefix: number }>;
  /** TUN, serving as an exit node (`up --advertise-exit-node`): members' packets may have any destination; overrides inboundDestinations. */
  serveExit?: boolean;
}

/** True when `addr` is one of `addresses` (a member's certified addresses). */
function holdsAddress(addresses: ReadonlyArray<{ bytes: Uint8Array }>, addr: Uint8Array): boolean {
  for (let i = 0; i < addresses.length; i++) if (equalBytes(addresses[i]!.bytes, addr)) return true;
  return false;
}

/** True when `addr` lies in one of `routes` (same family). */
function inRoutes(routes: ReadonlyArray<{ bytes: Uint8Array; prefix: number }> | undefined, addr: Uint8Array): boolean {
  if (routes === undefined) return false;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    if (prefixContains(r.bytes, r.prefix, addr)) return true;
  }
  return false;
}

export class Dataplane {
  readonly stats: DataplaneStats = {
    deviceRx: 0, deviceTx: 0, toPeers: 0, fromPeers: 0, floods: 0,
    drops: {
      runt: 0, not_ip: 0, no_route: 0, spoofed_source: 0, unknown_peer: 0, gso_unsupported: 0,
      device_queue_full: 0, device_write_failed: 0, session_dropped: 0, unserved_destination: 0, no_exit_node: 0,
      spoofed_mac: 0, spoofed_arp: 0, spoofed_nd: 0, vlan_tagged: 0, ipv6_ext_headers: 0,
    },
  };
  readonly #device: DataplaneDevice;
  readonly #peers: DataplanePeers;
  readonly #members: DataplaneMembers;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #l2: L2Switch | null;
  /** TAP: what each member may claim, computed once per directory entry (a new certificate is a new entry). */
  readonly #owners = new WeakMap<DataplaneMember, TapOwner>();
  /** Offset of the L2/L3 packet inside a unit as the device hands it over. */
  readonly #devOffset: number;
  readonly #acceptRoutes: boolean;
  /** Destinations members' packets may have while we do not serve as an exit (null: any). */
  readonly #servedDestinations: ReadonlyArray<{ bytes: Uint8Array; prefix: number }> | null;
  /** The check in force: #servedDestinations, or null (any) while serving as an exit. */
  #inboundDestinations: ReadonlyArray<{ bytes: Uint8Array; prefix: number }> | null;
  /** The chosen exit node's peer id (hex), or null: none, destinations without a member are no_route. */
  #exitHex: string | null = null;
  readonly #pending: Uint8Array[] = [];
  #flushScheduled = false;
  #running = false;
  /** The node's policy engine, or null: no policy, everything passes. */
  #policy: PolicyEngine | null = null;
  /** Packets the policy dropped outside the engine's own count (TAP non-IP ethertypes, unparsable IP), by rule. */
  readonly #extraDrops = new Map<string, number>();
  /** This node's name and groups (the `from` of outbound flows, the `to` of inbound ones). */
  #self: { name?: string; groups?: readonly string[] } = {};
  readonly #onBatch = (packets: readonly Uint8Array[], count: number): void => this.#fromDevice(packets, count);
  readonly #flush = (): void => this.#flushDevice();

  constructor(deps: DataplaneDeps) {
    this.#device = deps.device;
    this.#peers = deps.peers;
    this.#members = deps.members;
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
    this.#l2 = deps.device.kind === 'tap' ? new L2Switch() : null;
    this.#devOffset = deps.device.vnetHdr ? VNET_HDR_BYTES : 0;
    this.#acceptRoutes = deps.acceptRoutes === true && this.#l2 === null;
    this.#servedDestinations = deps.inboundDestinations !== undefined && this.#l2 === null ? deps.inboundDestinations.map((d) => ({ bytes: Uint8Array.from(d.bytes), prefix: d.prefix })) : null;
    this.#inboundDestinations = deps.serveExit === true ? null : this.#servedDestinations;
  }

  /** Stop taking members' packets for any destination (false: a renewal dropped our exit mark), or start again (true). */
  setServeExit(on: boolean): void {
    this.#inboundDestinations = on ? null : this.#servedDestinations;
  }

  /** Whether this data plane sends to and accepts from members' certified routes. */
  get acceptRoutes(): boolean {
    return this.#acceptRoutes;
  }

  /**
   * Send what no member and no accepted route holds to this member (peer id
   * hex), or stop doing so (null). TUN only; ignored on TAP. The member must
   * be listed with the exit mark at the time each packet passes.
   */
  setExitNode(peerHex: string | null): void {
    this.#exitHex = this.#l2 === null ? peerHex : null;
  }

  get exitNode(): string | null {
    return this.#exitHex;
  }

  /** The chosen exit node if it may carry traffic now (listed, certificate marked), else undefined. */
  #exitMember(): DataplaneMember | undefined {
    if (this.#exitHex === null) return undefined;
    const m = this.#members.get(this.#exitHex);
    return m !== undefined && m.cert?.exit === true ? m : undefined;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#device.start(this.#onBatch);
  }

  stop(): void {
    this.#running = false;
    this.#pending.length = 0;
  }

  /** Enforce `engine` from now on (null: no policy); `self` names this node for member:/group: selectors. */
  setPolicy(engine: PolicyEngine | null, self: { name?: string; groups?: readonly string[] } = {}): void {
    this.#policy = engine;
    this.#self = self;
  }

  get policy(): PolicyEngine | null {
    return this.#policy;
  }

  /** Packets dropped by the policy, by rule name. */
  policyDrops(): Record<string, number> {
    const out: Record<string, number> = { ...(this.#policy?.dropsByRule() ?? {}) };
    for (const [rule, n] of this.#extraDrops) out[rule] = (out[rule] ?? 0) + n;
    return out;
  }

  #policyDrop(rule: string): false {
    this.#extraDrops.set(rule, (this.#extraDrops.get(rule) ?? 0) + 1);
    return false;
  }

  /**
   * Whether the policy lets this packet through. `p` holds a TAP frame or a
   * TUN packet at `off`; `peer` is the remote member (undefined: an outbound
   * TAP frame whose destination is not one member, checked by its IP only).
   */
  #policyAllows(engine: PolicyEngine, p: Uint8Array, off: number, direction: 'inbound' | 'outbound', peer: DataplaneMember | undefined): boolean {
    let ip = off;
    if (this.#l2) {
      const ethertype = (p[off + 12]! << 8) | p[off + 13]!;
      if (ethertype === 0x0806) return true;
      if (ethertype !== 0x0800 && ethertype !== 0x86dd) return this.#policyDrop(DEFAULT_DENY_RULE);
      ip = off + ETHERNET_HEADER_BYTES;
    }
    const t = packetTuple(p, ip);
    if (t === null) return this.#policyDrop(DEFAULT_DENY_RULE);
    // Neighbour discovery (router/neighbour solicitation and advertisement, redirect) keeps IPv6 on the segment working.
    if (t.icmp6Type >= 133 && t.icmp6Type <= 137) return true;
    const remote: FlowEnd = { ip: direction === 'inbound' ? t.src : t.dst, ...(peer?.name !== undefined ? { name: peer.name } : {}), ...(peer?.cert !== undefined ? { groups: peer.cert.groups } : {}) };
    const local: FlowEnd = { ip: direction === 'inbound' ? t.dst : t.src, ...(this.#self.name !== undefined ? { name: this.#self.name } : {}), ...(this.#self.groups !== undefined ? { groups: this.#self.groups } : {}) };
    const d = engine.check({ direction, protocol: t.protocol, from: direction === 'inbound' ? remote : local, to: direction === 'inbound' ? local : remote, srcPort: t.srcPort, dstPort: t.dstPort });
    return d.allowed;
  }

  /** A member went offline: forget what was learned about it. */
  forgetPeer(peerHex: string): void {
    this.#l2?.forgetPeer(peerHex);
  }

  /** An authenticated DEVICE_FRAME body from `peerId` (virtio-net header + packet); `hex`, when the caller has it, spares a string per packet. */
  fromPeer(peerId: Uint8Array, body: Uint8Array, hex?: string): void {
    if (!this.#running) return;
    const drops = this.stats.drops;
    const pkt = VNET_HDR_BYTES;
    if (body.length < pkt + (this.#l2 ? ETHERNET_HEADER_BYTES : 20)) {
      drops.runt++;
      return;
    }
    // Only listed (CA-verified, unrevoked, online) members put frames on the segment or reach the device.
    const member = this.#members.get(hex ?? peerId);
    if (this.#l2) {
      if (!member) {
        drops.unknown_peer++;
        return;
      }
      let owner = this.#owners.get(member);
      if (owner === undefined) {
        owner = tapOwner(member);
        this.#owners.set(member, owner);
      }
      const verdict = checkTapSource(body, pkt, owner);
      if (verdict !== 'ok') {
        drops[verdict]++;
        this.#log.debug(`${member.hex.slice(0, 8)} dropped a frame that breaks the TAP source rule (${verdict})`);
        return;
      }
      this.#l2.learn(body, pkt + 6, peerId, member.hex, this.#clock.now());
    } else {
      if (!member) {
        drops.unknown_peer++;
        return;
      }
      const src = ipSource(body, pkt);
      if (!src) {
        drops.not_ip++;
        return;
      }
      if (!holdsAddress(member.addresses, src) && !(this.#acceptRoutes && inRoutes(member.routes, src)) && !this.#fromExit(member, src)) {
        drops.spoofed_source++;
        this.#log.debug(`${member.hex.slice(0, 8)} dropped a packet from an address its certificate does not hold${this.#acceptRoutes ? ' nor route' : ''}`);
        return;
      }
      if (this.#inboundDestinations !== null) {
        const dst = ipDestination(body, pkt);
        if (dst === null || !inRoutes(this.#inboundDestinations, dst)) {
          drops.unserved_destination++;
          return;
        }
      }
    }
    const engine = this.#policy;
    if (engine !== null && !this.#policyAllows(engine, body, pkt, 'inbound', member)) return;
    let unit = body;
    if (!this.#device.vnetHdr) {
      if (body[VNET_HDR_GSO_TYPE_OFFSET] !== VNET_HDR_GSO_NONE) {
        drops.gso_unsupported++;
        return;
      }
      unit = body.subarray(VNET_HDR_BYTES);
    }
    if (this.#pending.length >= MAX_PENDING_DEVICE_WRITES) {
      drops.device_queue_full++;
      return;
    }
    this.stats.fromPeers++;
    this.#pending.push(unit);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  #flushDevice(): void {
    this.#flushScheduled = false;
    const n = this.#pending.length;
    if (n === 0 || !this.#running) return;
    const written = this.#device.write(this.#pending, n);
    this.stats.deviceTx += written;
    if (written < n) this.stats.drops.device_write_failed += n - written;
    this.#pending.length = 0;
  }

  #fromDevice(packets: readonly Uint8Array[], count: number): void {
    if (!this.#running) return;
    const off = this.#devOffset;
    const drops = this.stats.drops;
    for (let i = 0; i < count; i++) {
      const p = packets[i]!;
      this.stats.deviceRx++;
      if (this.#l2) {
        if (p.length < off + ETHERNET_HEADER_BYTES) {
          drops.runt++;
          continue;
        }
        const dst = this.#l2.lookup(p, off, this.#clock.now());
        const engine = this.#policy;
        if (engine !== null && !this.#policyAllows(engine, p, off, 'outbound', dst ? this.#members.get(dst.peerHex) : undefined)) continue;
        if (dst) this.#send(dst.peerId, dst.peerHex, p);
        else this.#flood(p);
      } else {
        const dstAddr = ipDestination(p, off);
        if (!dstAddr) {
          drops.not_ip++;
          continue;
        }
        let member = this.#members.byAddress(dstAddr) ?? (this.#acceptRoutes ? this.#members.byRoute?.(dstAddr) : undefined);
        if (!member && this.#exitHex !== null) {
          // Fail closed: with an exit node chosen, nothing falls back to another member or leaves unencrypted.
          member = this.#exitMember();
          if (!member) {
            drops.no_exit_node++;
            continue;
          }
        }
        if (!member) {
          drops.no_route++;
          continue;
        }
        const engine = this.#policy;
        if (engine !== null && !this.#policyAllows(engine, p, off, 'outbound', member)) continue;
        this.#send(member.peerId, member.hex, p);
      }
    }
  }

  /** A source no member holds, from our chosen exit node with the exit mark: the internet answering through it. */
  #fromExit(member: DataplaneMember, src: Uint8Array): boolean {
    if (this.#exitHex === null || member.hex !== this.#exitHex || member.cert?.exit !== true) return false;
    // Not another member's address, nor inside a route another member serves to us.
    return this.#members.byAddress(src) === undefined && (!this.#acceptRoutes || this.#members.byRoute?.(src) === undefined);
  }

  #flood(p: Uint8Array): void {
    this.stats.floods++;
    for (const m of this.#members.list()) this.#send(m.peerId, m.hex, p);
  }

  #send(peerId: Uint8Array, hex: string, p: Uint8Array): void {
    let body = p;
    if (!this.#device.vnetHdr) {
      // A device without virtio-net headers: add a zero ("no offload") header.
      body = new Uint8Array(VNET_HDR_BYTES + p.length);
      body.set(p, VNET_HDR_BYTES);
    }
    // The session copies the body into its frame before returning: views of reused device buffers are safe.
    const peers = this.#peers;
    const sent = peers.sendDeviceFrame !== undefined ? peers.sendDeviceFrame(peerId, hex, body) : peers.sendInner(peerId, InnerType.DeviceFrame, body);
    if (sent === 'dropped') this.stats.drops.session_dropped++;
    else this.stats.toPeers++;
  }
}
