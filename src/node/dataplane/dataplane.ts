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
}

export interface DataplaneMember {
  peerId: Uint8Array;
  hex: string;
  addresses: ReadonlyArray<{ family: 4 | 6; bytes: Uint8Array }>;
}

/** What the data plane needs of the member directory (Directory fits). */
export interface DataplaneMembers {
  byAddress(addr: Uint8Array): DataplaneMember | undefined;
  get(peerId: Uint8Array | string): DataplaneMember | undefined;
  list(): readonly DataplaneMember[];
}

export type DataplaneDropReason =
  | 'runt' | 'not_ip' | 'no_route' | 'spoofed_source' | 'unknown_peer' | 'gso_unsupported'
  | 'device_queue_full' | 'device_write_failed' | 'session_dropped'
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
}

export class Dataplane {
  readonly stats: DataplaneStats = {
    deviceRx: 0, deviceTx: 0, toPeers: 0, fromPeers: 0, floods: 0,
    drops: {
      runt: 0, not_ip: 0, no_route: 0, spoofed_source: 0, unknown_peer: 0, gso_unsupported: 0,
      device_queue_full: 0, device_write_failed: 0, session_dropped: 0,
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
  readonly #pending: Uint8Array[] = [];
  #flushScheduled = false;
  #running = false;
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

  /** A member went offline: forget what was learned about it. */
  forgetPeer(peerHex: string): void {
    this.#l2?.forgetPeer(peerHex);
  }

  /** An authenticated DEVICE_FRAME body from `peerId` (virtio-net header + packet). */
  fromPeer(peerId: Uint8Array, body: Uint8Array): void {
    if (!this.#running) return;
    const drops = this.stats.drops;
    const pkt = VNET_HDR_BYTES;
    if (body.length < pkt + (this.#l2 ? ETHERNET_HEADER_BYTES : 20)) {
      drops.runt++;
      return;
    }
    if (this.#l2) {
      // Only listed (CA-verified, unrevoked, online) members put frames on the segment.
      const member = this.#members.get(peerId);
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
      const member = this.#members.get(peerId);
      if (!member) {
        drops.unknown_peer++;
        return;
      }
      const src = ipSource(body, pkt);
      if (!src) {
        drops.not_ip++;
        return;
      }
      if (!member.addresses.some((a) => equalBytes(a.bytes, src))) {
        drops.spoofed_source++;
        this.#log.debug(`${member.hex.slice(0, 8)} dropped a packet from an address its certificate does not hold`);
        return;
      }
    }
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
        if (dst) this.#send(dst, p);
        else this.#flood(p);
      } else {
        const dstAddr = ipDestination(p, off);
        if (!dstAddr) {
          drops.not_ip++;
          continue;
        }
        const member = this.#members.byAddress(dstAddr);
        if (!member) {
          drops.no_route++;
          continue;
        }
        this.#send(member.peerId, p);
      }
    }
  }

  #flood(p: Uint8Array): void {
    this.stats.floods++;
    for (const m of this.#members.list()) this.#send(m.peerId, p);
  }

  #send(peerId: Uint8Array, p: Uint8Array): void {
    let body = p;
    if (!this.#device.vnetHdr) {
      // A device without virtio-net headers: add a zero ("no offload") header.
      body = new Uint8Array(VNET_HDR_BYTES + p.length);
      body.set(p, VNET_HDR_BYTES);
    }
    // The session copies the body into its frame before returning: views of reused device buffers are safe.
    if (this.#peers.sendInner(peerId, InnerType.DeviceFrame, body) === 'dropped') this.stats.drops.session_dropped++;
    else this.stats.toPeers++;
  }
}
