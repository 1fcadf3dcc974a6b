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
 *    first refusal other than EAGAIN (a kernel or device without the offload,
 *    EIO when the route cannot checksum it) turns it off for this socket.
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

/** The part of the addon this needs (native/tuntap.cc). */
export type NativeDatagramAddon = Pick<NativeTunAddon, 'socketAddress' | 'sendDatagram'> & Partial<Pick<NativeTunAddon, 'sendSegments'>>;

export class UdpNativeSend {
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #addon: NativeDatagramAddon;
  /** Address text as handed to the socket -> port -> sockaddr (null: not a literal of our family; dgram sends those). */
  readonly #to = new Map<string, Map<number, Uint8Array | null>>();
  #entries = 0;
  /** 0 while segmentation offload is in use; else the errno that turned it off (-1: the addon has no sendSegments). */
  #segmentsOff: number;

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
    this.#segmentsOff = typeof addon.sendSegments === 'function' ? 0 : -1;
  }

  /** 0 while sendSegments() uses UDP segmentation offload; else why not (errno of the refusal that turned it off, -1 no addon call). */
  get segmentsOff(): number {
    return this.#segmentsOff;
  }

  /** Hand `bytes` to the kernel for `address` (the socket's text for it) and `port`; false: send it through dgram. */
  send(bytes: Uint8Array, address: string, port: number): boolean {
    const to = this.#sockaddr(address, port);
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
    if (this.#segmentsOff !== 0 || send === undefined || segment < 1 || segment > UDP_GSO_MAX_BYTES) return 0;
    const to = this.#sockaddr(address, port);
    if (to === null) return 0;
    const batch = Math.min(UDP_GSO_MAX_SEGMENTS, Math.floor(UDP_GSO_MAX_BYTES / segment)) * segment;
    let off = 0;
    while (off < bytes.length) {
      const part = bytes.subarray(off, Math.min(bytes.length, off + batch));
      const n = send(this.#fd, part, to, segment);
      if (n !== part.length) {
        if (n < 0 && n !== -EAGAIN) this.#segmentsOff = -n;
        return off;
      }
      off += part.length;
    }
    return off;
  }

  #sockaddr(address: string, port: number): Uint8Array | null {
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
    ports.set(port, to);
    this.#entries++;
    return to;
  }
}
