/**
 * The Device interface: a TAP (L2, Ethernet frames) or TUN (L3, IP packets)
 * interface the data plane reads packets from and writes packets to
 * (docs/architecture.md "Outbound: device to socket";
 * docs/conventions.md §8, §14).
 *
 * Implementations: NativeDevice (Linux, over native/tuntap.cc) and
 * MemoryDevice (tests). Both pass testkit/device-compliance.ts. Open a
 * real one with openDevice() in open-device.ts.
 *
 * What callers must know:
 *  - Buffers belong to the device. The views handed to start()'s handler are
 *    valid only during that call: the next batch reuses the same memory. Copy
 *    (or encrypt out of place) before returning if a packet must outlive it.
 *  - The handler runs on the main thread, one batch at a time; the device
 *    does not read the next batch before the handler returned (backpressure).
 *    A handler that throws loses that batch (counted in stats.rxErrors), never
 *    the device.
 *  - write() copies the packets into the kernel before it returns: the caller
 *    may reuse its buffers at once.
 *  - When `vnetHdr` is true every packet, in both directions, starts with a
 *    VNET_HDR_BYTES virtio-net header (vnet-header.ts) and may be a GSO
 *    segment of up to MAX_SEGMENT_BYTES that the kernel splits (on write) or
 *    that it has not split yet (on read).
 */

export type DeviceKind = 'tap' | 'tun';

/** Largest packet the kernel hands over or accepts with offloads on: an IP datagram's 16-bit length. */
export const MAX_SEGMENT_BYTES = 65_535;
/** The Ethernet header in front of every TAP frame: destination and source MAC, EtherType. */
export const ETHERNET_HEADER_BYTES = 14;
/** Link-layer bytes a TAP frame may add to the MTU: Ethernet header (14) plus one 802.1Q tag (4). */
export const TAP_LINK_HEADER_BYTES = 18;

export interface DeviceStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  rxErrors: number;
}

export interface Device {
  readonly kind: DeviceKind;
  /** Interface name as the kernel knows it (after `%d` expansion). */
  readonly name: string;
  readonly mtu: number;
  /** When true, every packet read or written starts with a VNET_HDR_BYTES virtio-net header and may be a GSO segment up to 64 KiB. */
  readonly vnetHdr: boolean;
  /** Start reading. The handler gets a batch; the views are valid only during the call (buffers are reused). Call once. */
  start(onBatch: (packets: readonly Uint8Array[], count: number) => void): void;
  /** Write a batch; returns how many were written. Never throws for a bad packet (counted in stats.txErrors). */
  write(packets: readonly Uint8Array[], count: number): number;
  readonly stats: Readonly<DeviceStats>;
  /** Stop reading, release the device (a native one disappears from the system). Idempotent. */
  close(): Promise<void>;
}

export interface OpenDeviceOptions {
  kind: DeviceKind;
  /**
   * TAP only: the interface's Ethernet address (6 bytes, unicast). Give a
   * stable one (e.g. derived from the peer id) so a restarted member keeps its
   * address and its neighbours' ARP caches stay right. Default: the kernel's
   * random address.
   */
  mac?: Uint8Array;
  /**
   * Interface name, 1..15 bytes of [A-Za-z0-9_.-] with at most one `%d`,
   * which the kernel replaces by the first free number. Default: 'sm%d' for
   * TUN, 'smtap%d' for TAP, so a second daemon on one machine gets sm1
   * instead of failing.
   */
  name?: string;
  /** Link MTU in bytes; default DEFAULT_DEVICE_MTU (open-device.ts). */
  mtu?: number;
  /** Addresses to assign, CIDR ('10.10.10.3/24', 'fd00::3/64'). Default none. */
  addresses?: string[];
  /** Ask for virtio-net headers and checksum/TSO/USO offloads. Default true. */
  offloads?: boolean;
}

export function zeroStats(): DeviceStats {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0, rxErrors: 0 };
}
