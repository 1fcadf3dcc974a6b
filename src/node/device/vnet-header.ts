/**
 * The virtio-net header that precedes every packet on a device opened with
 * IFF_VNET_HDR (virtio spec 1.2 §5.1.6 "struct virtio_net_hdr", without
 * num_buffers; Linux include/uapi/linux/virtio_net.h).
 *
 * | 0 flags u8 | 1 gso_type u8 | 2..3 hdr_len | 4..5 gso_size | 6..7 csum_start | 8..9 csum_offset |
 *
 * The u16 fields are little-endian: the kernel uses the host's order for a
 * TUN/TAP without TUNSETVNETLE, and we only run on little-endian hosts
 * (x86-64, arm64). csum_start/csum_offset locate the checksum the receiver
 * must still fill in (flags & NEEDS_CSUM); gso_size is the payload bytes per
 * segment the kernel cuts a GSO packet into; hdr_len is the length of all
 * headers in front of the payload.
 *
 * These functions do not check that the header agrees with the packet
 * behind it; the kernel does that on write and refuses (EINVAL, counted)
 * what does not fit. Readers fill a caller-owned VnetHeader so the hot path
 * allocates nothing.
 */

/** Size of the header: struct virtio_net_hdr without num_buffers (the size the device is set to). */
export const VNET_HDR_BYTES = 10;
/** Offset of gso_type (the byte a reader checks for VNET_HDR_GSO_NONE without decoding the rest). */
export const VNET_HDR_GSO_TYPE_OFFSET = 1;

/** flags: the checksum at csum_start + csum_offset is partial (pseudo-header only). */
export const VNET_HDR_F_NEEDS_CSUM = 1;
/** flags: the checksum was already verified. */
export const VNET_HDR_F_DATA_VALID = 2;

/** gso_type values. */
export const VNET_HDR_GSO_NONE = 0;
export const VNET_HDR_GSO_TCPV4 = 1;
/** UFO: one big IPv4 UDP datagram fragmented by IP. */
export const VNET_HDR_GSO_UDP = 3;
export const VNET_HDR_GSO_TCPV6 = 4;
/** USO: UDP segmentation, each segment its own datagram (Linux 6.2+). */
export const VNET_HDR_GSO_UDP_L4 = 5;
/** Bit or-ed into gso_type: the TCP segments carry ECN (CWR) bits. */
export const VNET_HDR_GSO_ECN = 0x80;

export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function emptyVnetHeader(): VnetHeader {
  return { flags: 0, gsoType: VNET_HDR_GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/**
 * Read the header at `packet[offset..offset+10)` into `out` and return it.
 * Returns false (out untouched) when fewer than VNET_HDR_BYTES remain.
 */
export function readVnetHeader(packet: Uint8Array, out: VnetHeader, offset = 0): boolean {
  if (offset < 0 || packet.length - offset < VNET_HDR_BYTES) return false;
  out.flags = packet[offset] as number;
  out.gsoType = packet[offset + 1] as number;
  out.hdrLen = u16(packet, offset + 2);
  out.gsoSize = u16(packet, offset + 4);
  out.csumStart = u16(packet, offset + 6);
  out.csumOffset = u16(packet, offset + 8);
  return true;
}

/** Write `h` at `packet[offset..offset+10)`; returns VNET_HDR_BYTES. Throws RangeError if it does not fit or a field is out of range. */
export function writeVnetHeader(packet: Uint8Array, h: Readonly<VnetHeader>, offset = 0): number {
  if (offset < 0 || packet.length - offset < VNET_HDR_BYTES) {
    throw new RangeError(`vnet header: need ${VNET_HDR_BYTES} bytes at offset ${offset}, have ${packet.length - offset}`);
  }
  checkField('flags', h.flags, 0xff);
  checkField('gsoType', h.gsoType, 0xff);
  checkField('hdrLen', h.hdrLen, 0xffff);
  checkField('gsoSize', h.gsoSize, 0xffff);
  checkField('csumStart', h.csumStart, 0xffff);
  checkField('csumOffset', h.csumOffset, 0xffff);
  packet[offset] = h.flags;
  packet[offset + 1] = h.gsoType;
  putU16(packet, offset + 2, h.hdrLen);
  putU16(packet, offset + 4, h.gsoSize);
  putU16(packet, offset + 6, h.csumStart);
  putU16(packet, offset + 8, h.csumOffset);
  return VNET_HDR_BYTES;
}

/**
 * Write the "no offload" header (all zero: complete checksums, not a GSO
 * segment) that a packet built without offloads needs in front of it.
 * Returns VNET_HDR_BYTES.
 */
export function writeNoOffloadHeader(packet: Uint8Array, offset = 0): number {
  if (offset < 0 || packet.length - offset < VNET_HDR_BYTES) {
    throw new RangeError(`vnet header: need ${VNET_HDR_BYTES} bytes at offset ${offset}, have ${packet.length - offset}`);
  }
  packet.fill(0, offset, offset + VNET_HDR_BYTES);
  return VNET_HDR_BYTES;
}

/** True when the header asks for segmentation (gso_type other than NONE, ECN bit ignored). */
export function isGso(h: Readonly<VnetHeader>): boolean {
  return (h.gsoType & ~VNET_HDR_GSO_ECN) !== VNET_HDR_GSO_NONE;
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] as number) | ((b[at + 1] as number) << 8);
}

function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = v >>> 8;
}

function checkField(field: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`vnet header ${field}: expected an integer 0..${max}, got ${v}`);
}
