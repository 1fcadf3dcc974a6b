/**
 * UdpNativeSend: a datagram handed to the kernel by one sendto(2) on the
 * caller's thread (native/tuntap.cc `sendDatagram`), for the UDP transport's
 * hot path (docs/architecture.md "Outbound: device to socket", docs/conventions.md §8).
 *
 * `dgram.Socket.send` builds a JavaScript request per datagram, wraps the
 * bytes in a list, checks the socket's state and queue and only then calls
 * into libuv: 12-27 µs of each send on the direct path (BENCHMARKS.md "UDP
 * datagrams to the kernel without dgram's send"). Here the socket's own fd
 * gets the datagram at once; the destination's sockaddr is built once per
 * remote and port and remembered (bounded: when full the table starts over,
 * which only costs building them again).
 *
 * What callers must know:
 *  - send() returns true only when the kernel took the whole datagram. On
 *    false (the socket's buffer is full, EAGAIN; any other error; a
 *    destination that is no IP literal of the socket's family, such as an
 *    IPv6 address with a zone) the caller sends through dgram instead, which
 *    queues while the socket is full and reports as it always did.
 *  - Order: the caller must use send() only while dgram has nothing queued
 *    (`getSendQueueCount() === 0`), or a datagram sent here would overtake
 *    the ones waiting in dgram's queue.
 *  - The fd is dgram's: this never closes it, and the caller must stop
 *    calling send() before it closes the dgram socket (after close the number
 *    may name another file).
 *  - The bytes are copied into the kernel before send() returns: the caller
 *    may reuse its buffer at once.
 *  - sendSegments() hands many datagrams of one size, laid end to end, to the
 *    kernel with UDP segmentation offload (UDP_SEGMENT): one syscall per
 *    UDP_GSO_MAX_SEGMENTS datagrams or UDP_GSO_MAX_BYTES bytes instead of one
 *    per datagram. It returns how many bytes the kernel took, a whole number
 *    of segments from the start; the caller sends the rest one by one. The
 *    first refusal other than EAGAIN turns it off for that destination only:
 *    what the kernel refuses depends on the route (EINVAL when a segment and
 *    its headers exceed the route's MTU, EIO when the route's device cannot
 *    checksum it or IPsec transforms it), so one peer behind such a route
 *    does not cost every other peer the offload. A kernel without the offload
 *    at all refuses once per destination, one failed syscall each.
 */
import type { Socket } from 'node:dgram';
import { nativeTunIfPresent, type NativeTunAddon } from '../device/native-loader.js';
import { dgramFd } from './udp-socket-buffers.js';

/** Destinations (address and port) whose sockaddr is remembered. */
export const UDP_NATIVE_ADDRESS_CACHE_MAX = 4096;
/** Datagrams in one UDP_SEGMENT send: the limit of Linux 4.18 to 5.x (later kernels take 128). */
export const UDP_GSO_MAX_SEGMENTS = 64;
/** Bytes in one UDP_SEGMENT send: one IPv6 datagram's payload (65,535 less the UDP and IPv6 headers), also safe for IPv4. */
export const UDP_GSO_MAX_BYTES = 65_535 - 8 - 40;
const EAGAIN = 11;

/** A destination's sockaddr (null: not a literal of our family; dgram sends those) and its offload state. */
interface Destination {
  readonly to: Uint8Array | null;
  /** 0 while UDP_SEGMENT is used towards it; else the errno of the refusal that turned it off. */
  segmentsOff: number;
}

/** The part of the addon this needs (native/tuntap.cc). */
export type NativeDatagramAddon = Pick<NativeTunAddon, 'socketAddress' | 'sendDatagram'> & Partial<Pick<NativeTunAddon, 'sendSegments'>>;

export class UdpNativeSend {
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #addon: NativeDatagramAddon;
  /** Address text as handed to the socket -> port -> destination. */
  readonly #to = new Map<string, Map<number, Destination>>();
  #entries = 0;
  /** The addon has sendSegments. */
  readonly #segments: boolean;

  /**
   * For a bound dgram socket: null when this platform has no addon or the fd cannot be found, and the transport
   * sends through dgram alone. `family` is the socket's: 6 for the dual-stack udp6 socket, whose IPv4 destinations
   * come in their IPv4-mapped text.
   */
  static forSocket(socket: Socket, family: 4 | 6, addon?: NativeDatagramAddon): UdpNativeSend | null {
    const fd = dgramFd(socket);
    if (fd === null) return null;
    const a = addon ?? nativeTunIfPresent();
    if (a === null) return null;
    return typeof a.sendDatagram === 'function' && typeof a.socketAddress === 'function' ? new UdpNativeSend(fd, family, a) : null;
  }

  constructor(fd: number, family: 4 | 6, addon: NativeDatagramAddon) {
    this.#fd = fd;
    this.#family = family;
    this.#addon = addon;
    this.#segments = typeof addon.sendSegments === 'function';
  }

  /**
   * 0 while sendSegments() uses UDP segmentation offload towards this destination; else why not: the errno of the
   * refusal that turned it off there, -1 when the addon has no sendSegments or the address is no literal of our family.
   */
  segmentsOff(address: string, port: number): number {
    if (!this.#segments) return -1;
    const d = this.#destination(address, port);
    return d.to === null ? -1 : d.segmentsOff;
  }

  /** Hand `bytes` to the kernel for `address` (the socket's text for it) and `port`; false: send it through dgram. */
  send(bytes: Uint8Array, address: string, port: number): boolean {
    const to = this.#destination(address, port).to;
    if (to === null) return false;
    return this.#addon.sendDatagram(this.#fd, bytes, to) === bytes.length;
  }

  /**
   * Hand the datagrams in `bytes` (`segment` bytes each, the last possibly shorter) to the kernel, as many
   * UDP_SEGMENT sends as the limits need. Returns the bytes taken: all of them, or a whole number of segments
   * from the start when the kernel refused (the caller sends the rest one by one).
   */
  sendSegments(bytes: Uint8Array, segment: number, address: string, port: number): number {
    const send = this.#addon.sendSegments;
    if (send === undefined || segment < 1 || segment > UDP_GSO_MAX_BYTES) return 0;
    const d = this.#destination(address, port);
    const to = d.to;
    if (to === null || d.segmentsOff !== 0) return 0;
    const batch = Math.min(UDP_GSO_MAX_SEGMENTS, Math.floor(UDP_GSO_MAX_BYTES / segment)) * segment;
    let off = 0;
    while (off < bytes.length) {
      const part = bytes.subarray(off, Math.min(bytes.length, off + batch));
      const n = send(this.#fd, part, to, segment);
      if (n !== part.length) {
        if (n < 0 && n !== -EAGAIN) d.segmentsOff = -n;
        return off;
      }
      off += part.length;
    }
    return off;
  }

  #destination(address: string, port: number): Destination {
    let ports = this.#to.get(address);
    const known = ports?.get(port);
    if (known !== undefined) return known;
    if (this.#entries >= UDP_NATIVE_ADDRESS_CACHE_MAX) {
      this.#to.clear();
      this.#entries = 0;
      ports = undefined;
    }
    let to: Uint8Array | null;
    try {
      to = this.#addon.socketAddress(this.#family, address, port);
    } catch {
      to = null; // a port out of range: dgram reports it as before
    }
    if (ports === undefined) {
      ports = new Map();
      this.#to.set(address, ports);
    }
    const d: Destination = { to, segmentsOff: 0 };
    ports.set(port, d);
    this.#entries++;
    return d;
  }
}
